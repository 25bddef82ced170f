// The Node.js service: node:http on PORT (8000 on the platform), calling other services
// through the documented helpers in internalCall.js (axios).
//
//   GET  /call/get?to=ID   internalCallGet: query parameters and custom headers
//   POST /call/post?to=ID  internalCallPost: a JSON body
//
// Each answers 200 {"result": ...} or 502 {"error": "<the helper's error message>"}.
const http = require('node:http');
const { internalCallGet, internalCallPost } = require('./internalCall');

const port = Number(process.env.PORT || 8000);

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, 'http://node');
    const to = url.searchParams.get('to') ?? '';
    if (url.pathname === '/v1/ping') return res.end('pong');
    let call;
    if (url.pathname === '/call/get') {
      call = () => internalCallGet('/api/get_result', to, { num: '1', lang: 'node' }, { 'X-Request-Id': 'node-get', 'X-Custom-Header': 'from node' });
    } else if (url.pathname === '/call/post') {
      call = () => internalCallPost('/api/post_result', to, { lang: 'node', items: [1, 2, 3] }, { 'X-Request-Id': 'node-post' });
    } else {
      return send(res, 404, {});
    }
    try {
      const data = await call();
      // axios parses JSON answers; the other helpers return the body as text.
      send(res, 200, { result: typeof data === 'string' ? data : JSON.stringify(data) });
    } catch (error) {
      send(res, 502, { error: error.message });
    }
  })
  .listen(port, () => console.log(`node service ${process.env.SERVICE_ID} listening on ${port}`));
