// The service the others call: echoes what arrived (method, path, query, headers, body)
// so the caller, and the tests, can see that the documented helpers send what they say.
// Plain node:http, no dependencies. NAME tells the target and the forbidden service apart.
const http = require('node:http');

const port = Number(process.env.PORT || 8000);
const name = process.env.NAME || process.env.SERVICE_ID;

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url, 'http://target');
      const text =
        url.pathname === '/v1/ping'
          ? JSON.stringify({ ok: true, name })
          : JSON.stringify({
              name,
              method: req.method,
              path: url.pathname,
              query: Object.fromEntries(url.searchParams),
              headers: req.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  })
  .listen(port, () => console.log(`${name} listening on ${port}`));
