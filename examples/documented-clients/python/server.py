"""The Python service: http.server on PORT (8000 on the platform), calling other services
through the documented helpers in internal_call.py.

  GET  /call/get?to=ID   internal_call_get: query parameters and custom headers
  POST /call/post?to=ID  internal_call_post: a JSON body

Each answers 200 {"result": ...} or 502 {"error": "<the helper's exception>"}.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from internal_call import internal_call_get, internal_call_post


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        to = parse_qs(url.query).get('to', [''])[0]
        if url.path == '/v1/ping':
            return self.send(200, b'pong', 'text/plain')
        if url.path == '/call/get':
            return self.call(lambda: internal_call_get(to, '/api/get_result', {'num': '1', 'lang': 'python'},
                                                       {'X-Request-Id': 'python-get', 'X-Custom-Header': 'from python'}))
        self.send(404, b'{}')

    def do_POST(self):
        url = urlparse(self.path)
        to = parse_qs(url.query).get('to', [''])[0]
        if url.path == '/call/post':
            body = json.dumps({'lang': 'python', 'items': [1, 2, 3]})
            return self.call(lambda: internal_call_post(to, '/api/post_result', body,
                                                        {'Content-Type': 'application/json', 'X-Request-Id': 'python-post'}))
        self.send(404, b'{}')

    def call(self, helper):
        try:
            self.send(200, json.dumps({'result': helper()}).encode())
        except Exception as error:  # the helper's own error, as the user's code would see it
            self.send(502, json.dumps({'error': str(error)}).encode())

    def send(self, status, body, content_type='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == '__main__':
    port = int(os.getenv('PORT', '8000'))
    print('python service %s listening on %d' % (os.getenv('SERVICE_ID'), port), flush=True)
    ThreadingHTTPServer(('', port), Handler).serve_forever()
