"""Users service of the demo mini-program (Python 3.9+, standard library only).

GET /users/:id/orders calls the orders service through its inner-call URL with
urllib.request, which honours the http_proxy env var the emulator sets. The
config does not allow users -> orders, so that call is denied (403) and this
service answers 502 with the emulator's error as `detail`.
"""

import json
import os
import re
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.stdout.reconfigure(line_buffering=True)
sys.stderr.reconfigure(line_buffering=True)

PORT = int(os.environ.get('PORT', 8000))
SERVICE_ID = os.environ.get('SERVICE_ID')  # injected by the platform / the emulator
ORDERS_ID = os.environ.get('ORDERS_SERVICE_ID', 'orders')
UPSTREAM_TIMEOUT_S = 30

# openid: who each user is in the mini-program (the X-TT-OPENID the gateway gets for them).
USERS = {
    '1': {'id': 1, 'name': 'Alice', 'openid': 'o_alice'},
    '2': {'id': 2, 'name': 'Bob', 'openid': 'o_bob'},
    '3': {'id': 3, 'name': 'Chen', 'openid': 'o_chen'},
}


def inner_call_get(to_service_id, path, headers):
    """Inner call as production code writes it. Returns (status, body); never raises."""
    url = 'http://%s-%s.inner-call.dyc.ivolces.com%s' % (os.environ.get('SERVICE_ID'), to_service_id, path)
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=UPSTREAM_TIMEOUT_S) as resp:
            text = resp.read().decode('utf-8', 'replace')
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return 502, {'error': 'upstream call failed', 'status': resp.status, 'detail': text}
    except urllib.error.HTTPError as err:
        text = err.read().decode('utf-8', 'replace')
        try:
            detail = json.loads(text)
        except ValueError:
            detail = text
        return 502, {'error': 'upstream call failed', 'status': err.code, 'detail': detail}
    except urllib.error.URLError as err:
        return 502, {'error': 'upstream call failed', 'status': None, 'url': url, 'message': str(err.reason)}
    except (socket.timeout, OSError, ValueError) as err:
        return 502, {'error': 'upstream call failed', 'status': None, 'url': url, 'message': str(err)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive; every response sets Content-Length
    server_version = 'users-demo'

    def send_json(self, status, body):
        data = json.dumps(body, separators=(',', ':')).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def route(self):
        parts = urlsplit(self.path)
        path = parts.path
        if path == '/v1/ping':
            return 200, {'ok': True}
        if path == '/users':
            openid = parse_qs(parts.query).get('openid', [None])[0]
            return 200, {'users': [u for u in USERS.values() if openid is None or u['openid'] == openid]}
        m = re.match(r'^/users/([^/]+)$', path)
        if m:
            user = USERS.get(m.group(1))
            if user is None:
                return 404, {'error': 'user_not_found', 'message': 'no user with id %s' % m.group(1)}
            return 200, user
        m = re.match(r'^/users/([^/]+)/orders$', path)
        if m:
            uid = m.group(1)
            if uid not in USERS:
                return 404, {'error': 'user_not_found', 'message': 'no user with id %s' % uid}
            headers = {'Accept': 'application/json'}
            openid = self.headers.get('X-TT-OPENID')
            if openid:
                headers['X-TT-OPENID'] = openid
            status, body = inner_call_get(ORDERS_ID, '/orders?user=%s' % uid, headers)
            if status != 200:
                return status, body
            return 200, {'user': USERS[uid], 'orders': body.get('orders', []) if isinstance(body, dict) else body}
        return 404, {'error': 'not_found', 'message': 'no route for %s' % path}

    def do_GET(self):
        try:
            status, body = self.route()
        except Exception as err:  # never let a handler bug kill the connection silently
            status, body = 500, {'error': 'internal_error', 'message': str(err)}
        self.send_json(status, body)

    do_HEAD = do_GET

    def method_not_allowed(self):
        # Drain any request body so the keep-alive connection stays in sync.
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = -1
        if length > 0:
            self.rfile.read(length)
        elif length < 0 or self.headers.get('Transfer-Encoding'):
            self.close_connection = True
        self.send_json(405, {'error': 'method_not_allowed', 'message': '%s is not supported' % self.command})

    do_POST = do_PUT = do_PATCH = do_DELETE = method_not_allowed

    def log_request(self, code='-', size='-'):
        if urlsplit(self.path).path == '/v1/ping':
            return  # health checks would drown the log
        print('%s %s %s' % (self.command, self.path, code))

    def log_message(self, format, *args):
        print(format % args)


def main():
    server = ThreadingHTTPServer(('0.0.0.0', PORT), Handler)
    server.daemon_threads = True

    def on_signal(signum, _frame):
        print('%s received, shutting down' % signal.Signals(signum).name)
        # shutdown() blocks until serve_forever returns, so call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    print('users (SERVICE_ID=%s) listening on 0.0.0.0:%d; orders=%s' % (SERVICE_ID, PORT, ORDERS_ID))
    if not SERVICE_ID:
        print('warning: SERVICE_ID is not set; inner-call URLs will be wrong')
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == '__main__':
    main()
