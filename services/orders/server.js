'use strict';
// Orders service of the demo mini-program, an express app. Its outgoing inner call
// (to users) uses http.get from node:http, so both Node clients (fetch in the
// gateway, node:http here) go through the emulator.

const express = require('express');
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

const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  const started = Date.now();
  res.on('finish', () => {
    if (req.path !== '/v1/ping') log(`${req.method} ${req.originalUrl} ${res.statusCode} ${Date.now() - started}ms`);
  });
  next();
});
app.use((req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  res.status(405).json({ error: 'method_not_allowed', message: `${req.method} is not supported` });
});

app.get('/v1/ping', (req, res) => res.json({ ok: true }));

// A user's orders (no outgoing call).
app.get('/orders', (req, res) => {
  const user = typeof req.query.user === 'string' ? req.query.user : null;
  res.json({ user, orders: user === null ? ORDERS : ORDERS.filter((o) => String(o.userId) === user) });
});

// One order with its owner, asked of the users service.
app.get('/orders/:id', async (req, res) => {
  const openid = req.get('x-tt-openid');
  const order = ORDERS.find((o) => String(o.id) === req.params.id);
  if (!order) return res.status(404).json({ error: 'order_not_found', message: `no order with id ${req.params.id}` });
  const r = await innerGet(USERS_ID, `/users/${order.userId}`, openid);
  if (r.status !== 200) {
    // 502 when a network failure already made the error body; wrap anything else.
    if (r.status === 502 && r.body && r.body.error === 'upstream call failed') return res.status(502).json(r.body);
    return res.status(502).json({ error: 'upstream call failed', status: r.status, detail: r.body });
  }
  res.json({ order, user: r.body, openid: openid || null });
});

app.use((req, res) => res.status(404).json({ error: 'not_found', message: `no route for ${req.path}` }));

// eslint-disable-next-line no-unused-vars -- express tells error handlers by their four parameters
app.use((err, req, res, next) => {
  log(`error: ${err && err.stack ? err.stack : err}`);
  res.status(500).json({ error: 'internal_error', message: String((err && err.message) || err) });
});

const server = app.listen(PORT, '0.0.0.0', () => {
  log(`orders (SERVICE_ID=${SERVICE_ID}) listening on 0.0.0.0:${PORT}; users=${USERS_ID}`);
  if (!SERVICE_ID) log('warning: SERVICE_ID is not set; inner-call URLs will be wrong');
});

function shutdown(signal) {
  log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
