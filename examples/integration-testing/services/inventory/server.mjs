// Inventory: GET /stock/:sku from $STOCK ("sku=n,sku=n").
import http from 'node:http';

const stock = Object.fromEntries((process.env.STOCK ?? '').split(',').filter(Boolean).map((pair) => pair.split('=')));

http
  .createServer((req, res) => {
    const send = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/v1/ping') return send(200, { ok: true });
    const match = /^\/stock\/(\w+)$/.exec(req.url ?? '');
    if (!match || !(match[1] in stock)) return send(404, { error: 'unknown sku' });
    return send(200, { sku: match[1], available: Number(stock[match[1]]) });
  })
  .listen(Number(process.env.PORT));
