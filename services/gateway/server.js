'use strict';
// Gateway of the demo mini-program: what the mini-program calls with
// tt.createCloud({ envID, serviceID: 'gw01' }).callContainer({ path: '/api/...' }).
// Douyin Cloud's gateway tells it who is calling (免登录): X-TT-OPENID and friends.
// It calls the orders and users services through their inner-call URLs, built
// exactly as production code does, with the built-in fetch.

const express = require('express');
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

// Inner call with the built-in fetch, as production code would write it.
// Resolves to { status, body } and never rejects: network failures become 502.
async function innerCall(toServiceId, path, openid) {
  const url = `http://${process.env.SERVICE_ID}-${toServiceId}.inner-call.dyc.ivolces.com${path}`;
  const headers = { accept: 'application/json' };
  if (openid) headers['x-tt-openid'] = openid; // inner calls carry no identity unless the caller passes it on
  let resp;
  let text;
  try {
    resp = await fetch(url, { headers, signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
    text = await resp.text();
  } catch (err) {
    const cause = (err && err.cause) || err;
    return {
      status: 502,
      body: { error: 'upstream call failed', status: null, url, message: String((cause && cause.message) || err), code: (cause && cause.code) || (err && err.name) || null },
    };
  }
  try {
    return { status: resp.status, body: JSON.parse(text) };
  } catch {
    return { status: resp.ok ? 502 : resp.status, body: { error: 'upstream call failed', status: resp.status, url, detail: text } };
  }
}

const isObject = (body) => body !== null && typeof body === 'object' && !Array.isArray(body);

async function getOrder(id, openid) {
  const r = await innerCall(ORDERS_ID, `/orders/${encodeURIComponent(id)}`, openid);
  if (r.status >= 200 && r.status < 300 && isObject(r.body)) return { status: r.status, body: { ...r.body, handledBy: instance } };
  return r; // error status and JSON body passed through unchanged
}

async function getUserOrders(id, openid) {
  const r = await innerCall(USERS_ID, `/users/${encodeURIComponent(id)}/orders`, openid);
  if (r.status >= 200 && r.status < 300 && isObject(r.body)) return { status: r.status, body: { ...r.body, handledBy: instance } };
  return r;
}

// ---- who is calling: the headers Douyin Cloud's gateway sets on requests from the mini-program
function identity(req) {
  const openid = req.get('x-tt-openid') || null;
  const anonymousOpenid = req.get('x-tt-anonymous-openid') || null;
  if (openid === null && anonymousOpenid === null) return null;
  return {
    openid,
    unionid: req.get('x-tt-unionid') || null,
    anonymousOpenid,
    appId: req.get('x-tt-appid') || null,
    env: req.get('x-tt-env') || null,
    source: req.get('x-tt-source') || null,
    clientIp: req.get('x-forwarded-for') || null,
  };
}

/** 401 without the gateway's identity headers (someone called the service straight); `anonymous: false` also refuses anonymous logins. */
function requireUser({ anonymous }) {
  return (req, res, next) => {
    const who = identity(req);
    if (who === null) {
      return res.status(401).json({
        error: 'unauthorized',
        message: 'No X-TT-OPENID or X-TT-ANONYMOUS-OPENID: call this through the mini-program (callContainer); in the emulator, through its entry port.',
      });
    }
    if (who.openid === null && !anonymous) {
      return res.status(401).json({ error: 'login_required', message: 'Anonymous users have no orders: log in (tt.login) first.' });
    }
    req.user = who;
    next();
  };
}

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  const started = Date.now();
  res.set('x-handled-by', `${instance.serviceId}/${instance.pid}`);
  res.on('finish', () => {
    if (req.path !== '/v1/ping') log(`${req.method} ${req.originalUrl} ${res.statusCode} ${Date.now() - started}ms${req.user ? ` (${req.user.openid || req.user.anonymousOpenid})` : ''}`);
  });
  next();
});
app.use((req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  res.status(405).json({ error: 'method_not_allowed', message: `${req.method} is not supported` });
});

app.get('/v1/ping', (req, res) => res.json({ ok: true }));

app.get('/', (req, res) => {
  res.json({ service: 'gateway', endpoints: ['GET /v1/ping', 'GET /api/me', 'GET /api/my/orders', 'GET /api/orders/:id', 'GET /api/users/:id/orders'], instance });
});

// Who am I: what the gateway was told about the caller (anonymous logins too).
app.get('/api/me', requireUser({ anonymous: true }), (req, res) => res.json(req.user));

// The logged-in user's orders: users finds the user by openid, orders lists theirs.
app.get('/api/my/orders', requireUser({ anonymous: false }), async (req, res) => {
  const { openid } = req.user;
  const found = await innerCall(USERS_ID, `/users?openid=${encodeURIComponent(openid)}`, openid);
  if (found.status !== 200) return res.status(found.status).json(found.body);
  const user = found.body.users[0];
  if (user === undefined) return res.json({ openid, user: null, orders: [] }); // new to the mini-program: nothing ordered yet
  const list = await innerCall(ORDERS_ID, `/orders?user=${encodeURIComponent(user.id)}`, openid);
  if (list.status !== 200) return res.status(list.status).json(list.body);
  res.json({ openid, user, orders: list.body.orders });
});

app.get('/api/orders/:id', async (req, res) => {
  const r = await getOrder(req.params.id, req.get('x-tt-openid'));
  res.status(r.status).json(r.body);
});

app.get('/api/users/:id/orders', async (req, res) => {
  const r = await getUserOrders(req.params.id, req.get('x-tt-openid'));
  res.status(r.status).json(r.body);
});

app.use((req, res) => res.status(404).json({ error: 'not_found', message: `no route for ${req.path}` }));

// eslint-disable-next-line no-unused-vars -- express tells error handlers by their four parameters
app.use((err, req, res, next) => {
  log(`error: ${err && err.stack ? err.stack : err}`);
  res.status(500).json({ error: 'internal_error', message: String((err && err.message) || err) });
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
const server = app.listen(PORT, '0.0.0.0', () => {
  log(`gateway (SERVICE_ID=${SERVICE_ID}) listening on 0.0.0.0:${PORT}; orders=${ORDERS_ID} users=${USERS_ID}`);
  if (!SERVICE_ID) log('warning: SERVICE_ID is not set; inner-call URLs will be wrong');
  if (DEMO_INTERVAL_MS > 0) scheduleDemo(1500);
});

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
