// The mini-program's entry: GET /api/orders/:id → orders. Plain node:http and fetch;
// the inner-call URL is built exactly as on Douyin Cloud, with no port.
import http from 'node:http';

const call = (target, path) => fetch(`http://${process.env.SERVICE_ID}-${target}.inner-call.dyc.ivolces.com${path}`);

http
  .createServer(async (req, res) => {
    const send = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/v1/ping') return send(200, { ok: true });
    const match = /^\/api\/orders\/(\w+)$/.exec(req.url ?? '');
    if (!match) return send(404, { error: 'not_found' });
    try {
      const reply = await call('orders', `/orders/${match[1]}`);
      return send(reply.status, { via: 'gateway', ...(await reply.json()) });
    } catch (error) {
      return send(502, { error: String(error) });
    }
  })
  .listen(Number(process.env.PORT));
