// Benchmark target: answers every request with a fixed body, keep-alive.
const http = require('node:http');

const size = Number(process.env.BODY_BYTES || 13);
const body = Buffer.alloc(size, 'x');
const server = http.createServer((req, res) => {
  if (req.url === '/v1/ping') return res.end('ok');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT || 8000), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
