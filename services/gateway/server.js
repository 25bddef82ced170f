'use strict';
// Gateway of the demo mini-program: the entry the mini-program calls
// (tt.cloud.callContainer). It calls the orders and users services through
// their inner-call URLs, built exactly as production code does.
// Standard library only (node:http + the built-in fetch).

const http = require('node:http');
const os = require('node:os');

const PORT = parseInt(process.env.PORT || '8000', 10);
const SERVICE_ID = process.env.SERVICE_ID; // injected by the platform / the emulator
const ORDERS_ID = process.env.ORDERS_SERVICE_ID || 'orders';
const USERS_ID = process.env.USERS_SERVICE_ID || 'users';
const DEMO_INTERVAL_MS = parseInt(process.env.DEMO_INTERVAL_MS || '0', 10);
const UPSTREAM_TIMEOUT_MS = 30000;

const instance = { service: 'gateway', serviceId: SERVICE_ID || null, hostname: os.hostname(), pid: process.pid };

function log(line) {
  process.stdout.write(line + '\n');
}

function sendJson(res, status, body, extraHeaders) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
    ...(extraHeaders || {}),
  });
  res.end(data);
}

// Inner call with the built-in fetch, as production code would write it.
// Resolves to { status, body } and never rejects: network failures become 502.
async function innerCall(toServiceId, path, openid) {
  const url = `http://${process.env.SERVICE_ID}-${toServiceId}.inner-call.dyc.ivolces.com${path}`;
  const headers = { accept: 'application/json' };
  if (openid) headers['x-tt-openid'] = openid;
  let resp;
  let text;
  try {
    resp = await fetch(url, { headers, signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
    text = await resp.text();
  } catch (err) {
    const cause = (err && err.cause) || err;
    return {
      status: 502,
      body: {
        error: 'upstream call failed',
        status: null,
        url,
        message: String((cause && cause.message) || err),
        code: (cause && cause.code) || (err && err.name) || null,
      },
    };
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: 'upstream call failed', status: resp.status, url, detail: text };
    return { status: resp.ok ? 502 : resp.status, body };
  }
  return { status: resp.status, body };
}

async function getOrder(id, openid) {
  const r = await innerCall(ORDERS_ID, `/orders/${id}`, openid);
  if (r.status >= 200 && r.status < 300 && r.body && typeof r.body === 'object' && !Array.isArray(r.body)) {
    return { status: r.status, body: { ...r.body, handledBy: instance } };
  }
  return r; // error status and JSON body passed through unchanged
}

async function getUserOrders(id, openid) {
  const r = await innerCall(USERS_ID, `/users/${id}/orders`, openid);
  if (r.status >= 200 && r.status < 300 && r.body && typeof r.body === 'object' && !Array.isArray(r.body)) {
    return { status: r.status, body: { ...r.body, handledBy: instance } };
  }
  return r;
}

const server = http.createServer(async (req, res) => {
  const started = Date.now();
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  const openid = req.headers['x-tt-openid'];
  let result;
  let m;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      result = { status: 405, body: { error: 'method_not_allowed', message: `${req.method} is not supported` } };
    } else if (path === '/v1/ping') {
      return sendJson(res, 200, { ok: true });
    } else if (path === '/') {
      result = {
        status: 200,
        body: {
          service: 'gateway',
          endpoints: ['GET /v1/ping', 'GET /api/orders/:id', 'GET /api/users/:id/orders'],
          instance,
        },
      };
    } else if ((m = /^\/api\/orders\/([^/]+)$/.exec(path))) {
      result = await getOrder(m[1], openid);
    } else if ((m = /^\/api\/users\/([^/]+)\/orders$/.exec(path))) {
      result = await getUserOrders(m[1], openid);
    } else {
      result = { status: 404, body: { error: 'not_found', message: `no route for ${path}` } };
    }
  } catch (err) {
    result = { status: 500, body: { error: 'internal_error', message: String((err && err.message) || err) } };
  }
  sendJson(res, result.status, result.body, { 'x-handled-by': `${instance.serviceId}/${instance.pid}` });
  log(`${req.method} ${req.url} ${result.status} ${Date.now() - started}ms`);
});

// ---- demo loop: shows allowed calls and a denial without anyone sending requests
let demoTimer = null;

function describe(result) {
  const b = result.body || {};
  if (result.status === 200 && b.order) {
    const user = b.user ? ` for user ${b.user.id} ${b.user.name}` : '';
    return `order ${b.order.id} (${b.order.item})${user}`;
  }
  if (result.status === 200 && Array.isArray(b.orders)) return `${b.orders.length} orders`;
  // Follow nested details down to the innermost error (e.g. the emulator's denial).
  let inner = b;
  while (inner && inner.detail && typeof inner.detail === 'object') inner = inner.detail;
  const code = inner.error || b.error || 'error';
  const msg = inner.message || b.message || '';
  if (code === 'inner_call_denied') return `denied: ${inner.from || '?'} → ${inner.to || '?'} (inner_call_denied)`;
  return msg ? `${code}: ${msg}` : code;
}

async function demoRun() {
  const calls = [
    ['/api/orders/1', () => getOrder('1', 'demo-openid')],
    ['/api/users/1/orders', () => getUserOrders('1', 'demo-openid')],
  ];
  for (const [path, fn] of calls) {
    let result;
    try {
      result = await fn();
    } catch (err) {
      result = { status: 500, body: { error: 'internal_error', message: String(err) } };
    }
    log(`demo: GET ${path} → ${result.status} ${describe(result)}`);
  }
}

function scheduleDemo(delay) {
  demoTimer = setTimeout(async () => {
    await demoRun();
    if (demoTimer !== null) scheduleDemo(DEMO_INTERVAL_MS);
  }, delay);
}

// ---- lifecycle
function shutdown(signal) {
  log(`${signal} received, shutting down`);
  if (demoTimer) clearTimeout(demoTimer);
  demoTimer = null;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.listen(PORT, '0.0.0.0', () => {
  log(`gateway (SERVICE_ID=${SERVICE_ID}) listening on 0.0.0.0:${PORT}; orders=${ORDERS_ID} users=${USERS_ID}`);
  if (!SERVICE_ID) log('warning: SERVICE_ID is not set; inner-call URLs will be wrong');
  if (DEMO_INTERVAL_MS > 0) scheduleDemo(1500);
});
