// Orders: GET /orders/:id, with the stock of its item from inventory.
import http from 'node:http';

const ORDERS = { 1: { id: 1, sku: 'mug', user: 'alice' }, 2: { id: 2, sku: 'tee', user: 'bob' } };

http
  .createServer(async (req, res) => {
    const send = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/v1/ping') return send(200, { ok: true });
    const match = /^\/orders\/(\w+)$/.exec(req.url ?? '');
    const order = match && ORDERS[match[1]];
    if (!order) return send(404, { error: 'no such order' });
    const stock = await fetch(`http://${process.env.SERVICE_ID}-inventory.inner-call.dyc.ivolces.com/stock/${order.sku}`);
    if (!stock.ok) return send(502, { error: `inventory answered ${stock.status}` });
    const { available } = await stock.json();
    return send(200, { ...order, inStock: available > 0 });
  })
  .listen(Number(process.env.PORT));
