'use strict';
// Orders service of the demo mini-program. Its outgoing inner call (to users)
// uses http.get from node:http, so both Node clients (fetch in the gateway,
// node:http here) go through the emulator. Standard library only.

const http = require('node:http');

const PORT = parseInt(process.env.PORT || '8000', 10);
const SERVICE_ID = process.env.SERVICE_ID; // injected by the platform / the emulator
const USERS_ID = process.env.USERS_SERVICE_ID || 'users';
const UPSTREAM_TIMEOUT_MS = 30000;

const ORDERS = [
  { id: 1, userId: 1, item: 'Douyin mug', amount: 39.9 },
  { id: 2, userId: 1, item: 'Phone stand', amount: 19.5 },
  { id: 3, userId: 2, item: 'Ring light', amount: 89.0 },
];

function log(line) {
  process.stdout.write(line + '\n');
}

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

// Inner call with http.get. Resolves to { status, body }, never rejects.
function innerGet(toServiceId, path, openid) {
  const url = `http://${process.env.SERVICE_ID}-${toServiceId}.inner-call.dyc.ivolces.com${path}`;
  const headers = { accept: 'application/json' };
  if (openid) headers['x-tt-openid'] = openid;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => {
      if (!done) {
        done = true;
        resolve(r);
      }
    };
    const fail = (err) =>
      finish({
        status: 502,
        body: { error: 'upstream call failed', status: null, url, message: String((err && err.message) || err), code: (err && err.code) || null },
      });
    let req;
    try {
      req = http.get(url, { headers, timeout: UPSTREAM_TIMEOUT_MS }, (resp) => {
        const chunks = [];
        resp.on('data', (c) => chunks.push(c));
        resp.on('error', fail);
        resp.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body;
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
          finish({ status: resp.statusCode, body });
        });
      });
    } catch (err) {
      return fail(err);
    }
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no response within ${UPSTREAM_TIMEOUT_MS}ms`), { code: 'ETIMEDOUT' })));
    req.on('error', fail);
  });
}

async function getOrder(id, openid) {
  const order = ORDERS.find((o) => String(o.id) === id);
  if (!order) return { status: 404, body: { error: 'order_not_found', message: `no order with id ${id}` } };
  const r = await innerGet(USERS_ID, `/users/${order.userId}`, openid);
  if (r.status !== 200) {
    // 502 when a network failure already made the error body; wrap anything else.
    if (r.status === 502 && r.body && r.body.error === 'upstream call failed') return r;
    return { status: 502, body: { error: 'upstream call failed', status: r.status, detail: r.body } };
  }
  return { status: 200, body: { order, user: r.body, openid: openid || null } };
}

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  let result;
  let m;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      result = { status: 405, body: { error: 'method_not_allowed', message: `${req.method} is not supported` } };
    } else if (path === '/v1/ping') {
      return sendJson(res, 200, { ok: true });
    } else if (path === '/orders') {
      const user = url.searchParams.get('user');
      const orders = user === null ? ORDERS : ORDERS.filter((o) => String(o.userId) === user);
      result = { status: 200, body: { user: user === null ? null : user, orders } };
    } else if ((m = /^\/orders\/([^/]+)$/.exec(path))) {
      result = await getOrder(m[1], req.headers['x-tt-openid']);
    } else {
      result = { status: 404, body: { error: 'not_found', message: `no route for ${path}` } };
    }
  } catch (err) {
    result = { status: 500, body: { error: 'internal_error', message: String((err && err.message) || err) } };
  }
  sendJson(res, result.status, result.body);
  log(`${req.method} ${req.url} ${result.status} ${Date.now() - started}ms`);
});

function shutdown(signal) {
  log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.listen(PORT, '0.0.0.0', () => {
  log(`orders (SERVICE_ID=${SERVICE_ID}) listening on 0.0.0.0:${PORT}; users=${USERS_ID}`);
  if (!SERVICE_ID) log('warning: SERVICE_ID is not set; inner-call URLs will be wrong');
});
