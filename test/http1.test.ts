// The proxy's HTTP/1.1 fast path (emulator/proxy/fast-path/). It parses heads
// itself and passes bodies through as bytes, so every framing rule it relies on is
// pinned here with raw sockets: chunked both ways, pipelining, bodiless responses,
// interim responses, close-delimited bodies, hop-by-hop headers, smuggling attempts,
// and the requests it hands to Node's server instead.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { recordingLogger, sleep } from './helpers.js';
import { borrowReads } from './internals.js';
import { listenOn, LOCAL, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';

const HOST = 'a-b.inner-call.dyc.ivolces.com';

/** A Node target with a path per behaviour; it counts its connections. */
async function target(t: TestContext): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/chunked') {
      res.write('hello ');
      setTimeout(() => res.end('world'), 10);
      return;
    }
    if (url === '/head') return res.writeHead(200, { 'content-length': 5 }).end(req.method === 'HEAD' ? undefined : 'head!');
    if (url === '/204') return res.writeHead(204).end();
    if (url === '/304') return res.writeHead(304, { etag: '"x"' }).end();
    if (url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      return void setTimeout(() => res.end('after hints'), 10);
    }
    if (url === '/early') return res.writeHead(413, { 'content-length': 8 }).end('too big\n');
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const numbered = req.rawHeaders.filter((name, i) => i % 2 === 0 && /^x-n\d+$/i.test(name)).length;
      const text = JSON.stringify({ method: req.method, url, headers: req.headers, numbered, body });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
  });
  server.maxHeadersCount = 0; // the test counts every header that arrives
  server.on('connection', () => connections++);
  const port = await listenOn(t, server);
  return { port, connections: () => connections };
}

/** Splits a byte stream of HTTP/1.1 responses (Content-Length or bodiless only) into status and body. */
function responses(text: string, bodiless: (index: number) => boolean = () => false): { status: number; head: string; body: string }[] {
  const out: { status: number; head: string; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    assert.notEqual(end, -1, `a complete head in ${JSON.stringify(rest.slice(0, 200))}`);
    const head = rest.slice(0, end);
    const status = statusOf(head);
    const length = status < 200 || bodiless(out.length) ? 0 : Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ status, head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const json = (body: string): { method: string; url: string; headers: Record<string, string>; numbered: number; body: string } => JSON.parse(body);

describe('HTTP/1.1 on the fast path', () => {
  test('chunked bodies pass through both ways, still chunked', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const up = await rawExchange(
      proxy.port,
      `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`,
    );
    const echoed = json(responses(up.text)[0]!.body);
    assert.equal(echoed.body, 'hello world');
    assert.equal(echoed.headers['transfer-encoding'], 'chunked');

    const down = await rawExchange(proxy.port, `GET /chunked HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
    assert.match(down.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(down.text, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.match(down.text, /\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n$/);
  });

  test('pipelined requests on one connection are answered in order', async (t) => {
    const { port, connections } = await target(t);
    const logger = recordingLogger();
    const proxy = await proxyFor(t, { b: port }, { logger });
    const reply = await rawExchange(
      proxy.port,
      `GET /1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` +
        `POST /2 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\n\r\nbody` +
        `GET /3 HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
    );
    const parsed = responses(reply.text).map((response) => json(response.body));
    assert.deepEqual(
      parsed.map((echoed) => [echoed.method, echoed.url, echoed.body]),
      [
        ['GET', '/1', ''],
        ['POST', '/2', 'body'],
        ['GET', '/3', ''],
      ],
    );
    assert.equal(connections(), 1, 'one upstream connection carried all three');
    assert.deepEqual(
      logger.calls.map((call) => [call.from, call.to, call.method, call.path, call.status]),
      [
        ['a', 'b', 'GET', '/1', 200],
        ['a', 'b', 'POST', '/2', 200],
        ['a', 'b', 'GET', '/3', 200],
      ],
    );
  });

  test('pipelined requests and then a half-close: every request is answered, then the proxy closes', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const requests =
      `GET /1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` +
      `POST /2 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\n\r\nbody` +
      `GET /3 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
    // The client's FIN with the requests, and a moment after them (while the first is in flight).
    for (const finAfterMs of [0, 2]) {
      const socket = net.connect({ port: proxy.port, host: LOCAL, allowHalfOpen: true });
      t.after(() => socket.destroy());
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      if (finAfterMs === 0) socket.end(requests);
      else {
        socket.write(requests);
        setTimeout(() => socket.end(), finAfterMs);
      }
      await Promise.race([closed, sleep(5000)]);
      assert.ok(socket.readableEnded, `FIN after ${finAfterMs} ms: the proxy closed the connection once all was answered`);
      assert.deepEqual(
        responses(text).map((response) => json(response.body).url),
        ['/1', '/2', '/3'],
        `FIN after ${finAfterMs} ms`,
      );
    }
  });

  test('HEAD, 204 and 304 carry no body, and the connection goes on', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const reply = await rawExchange(
      proxy.port,
      `HEAD /head HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /204 HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /304 HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /last HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
    );
    const parsed = responses(reply.text, (index) => index === 0);
    assert.deepEqual(
      parsed.map((response) => response.status),
      [200, 204, 304, 200],
    );
    assert.match(parsed[0]!.head, /content-length: 5/i, 'HEAD keeps the length of the body it does not carry');
    assert.equal(json(parsed[3]!.body).url, '/last');
  });

  test('a body that ends with the connection reaches the client, which is told the connection closes', async (t) => {
    const raw = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until close'));
      socket.on('error', () => {});
    });
    const proxy = await proxyFor(t, { b: await listenOn(t, raw) });
    const reply = await rawExchange(proxy.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    assert.equal(reply.timedOut, false);
    assert.match(reply.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply.text, /\r\nConnection: close\r\n/);
    assert.ok(reply.text.endsWith('\r\n\r\nall of it, until close'), reply.text);
  });

  test('interim 103 responses are passed on before the final one', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const reply = await rawExchange(proxy.port, `GET /hints HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
    const parsed = responses(reply.text);
    assert.deepEqual(
      parsed.map((response) => response.status),
      [103, 200],
    );
    assert.match(parsed[0]!.head, /link: <\/style\.css>; rel=preload/i);
    assert.equal(parsed[1]!.body, 'after hints');
  });

  test('hop-by-hop headers stay on their hop, both ways', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const reply = await rawExchange(
      proxy.port,
      `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eDp5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-End-To-End: kept\r\nConnection: keep-alive, close\r\n\r\n`,
    );
    const [response] = responses(reply.text);
    const seen = json(response!.body).headers;
    for (const name of ['keep-alive', 'proxy-authorization', 'te', 'proxy-connection']) assert.equal(seen[name], undefined, `${name} was not forwarded`);
    assert.equal(seen['x-end-to-end'], 'kept');
    // Node's target answers with Connection: keep-alive and Keep-Alive: timeout=…; neither is the client's business.
    assert.doesNotMatch(response!.head, /keep-alive/i);
    assert.match(response!.head, /\r\nConnection: close/i, 'the client asked to close, and is told so');
  });

  test('1,200 request headers reach the target, on the fast path and on the slow one', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const many = Array.from({ length: 1200 }, (_, i) => `X-N${String(i).padStart(4, '0')}: v\r\n`).join('');
    for (const version of ['HTTP/1.1', 'HTTP/1.0' /* handed to Node's server */]) {
      const reply = await rawExchange(proxy.port, `GET /echo ${version}\r\nHost: ${HOST}\r\n${many}Connection: close\r\n\r\n`);
      const [response] = responses(reply.text);
      assert.equal(response!.status, 200, `${version}: ${reply.text.slice(0, 200)}`);
      assert.equal(json(response!.body).numbered, 1200, `${version}: every header arrived`);
    }
  });

  test('requests the fast path leaves to Node are served, and the connection goes on', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    for (const [what, first] of [
      ['Expect: 100-continue', `POST /1 HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok`],
      ['Connection naming a header', `GET /1 HTTP/1.1\r\nHost: ${HOST}\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\n\r\n`],
      ['a lower-case method', `get /1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
    ] as const) {
      const reply = await rawExchange(proxy.port, `${first}GET /2 HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
      const finals = responses(reply.text).filter((response) => response.status >= 200);
      assert.deepEqual(
        finals.map((response) => response.status),
        what === 'a lower-case method' ? [400] : [200, 200],
        `${what}: ${reply.text.slice(0, 300)}`,
      );
      if (what === 'Connection naming a header') assert.equal(json(finals[0]!.body).headers['x-private'], undefined);
    }
  });

  test('ambiguous or broken request framing is refused with 400, never guessed', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    for (const [what, request] of [
      ['Content-Length and chunked', `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['two different lengths', `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`],
      ['a chunk size that is not hex', `POST / HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
      ['a chunk without its CRLF', `POST / HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`],
      ['a bare LF in a header', `GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-A: 1\nX-B: 2\r\n\r\n`],
    ] as const) {
      const reply = await rawExchange(proxy.port, request);
      assert.equal(statusOf(reply.text), 400, `${what}: ${reply.text.slice(0, 200)}`);
      assert.equal(reply.timedOut, false, `${what}: the connection was closed`);
    }
    assert.equal(statusOf((await rawExchange(proxy.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`)).text), 200);
  });

  test('a head that arrives in pieces is served', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const socket = net.connect(proxy.port, LOCAL);
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    for (const piece of ['GE', `T /pieces HTTP/1.1\r\nHo`, `st: ${HOST}\r\nConnection: close\r\n`, '\r\n']) {
      socket.write(piece);
      await sleep(30);
    }
    await closed;
    assert.equal(json(responses(text)[0]!.body).url, '/pieces');
  });

  test('a target that answers before the body is complete: the client gets the answer, then the connection closes', async (t) => {
    const { port } = await target(t);
    const proxy = await proxyFor(t, { b: port });
    const reply = await rawExchange(proxy.port, `POST /early HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`);
    assert.equal(reply.timedOut, false);
    assert.equal(statusOf(reply.text), 413);
    assert.ok(reply.text.endsWith('too big\n'));
  });

  test('a kept-alive connection the target closes as the call arrives: retried once on a new one, when the call has no body', async (t) => {
    // Raw, so the race is exact: every connection answers its first request and closes
    // on the second, as a server does whose idle timeout strikes just then.
    let connections = 0;
    const raw = net.createServer((socket) => {
      connections++;
      socket.on('error', () => {});
      let head = '';
      let answered = false;
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        head = '';
        if (answered) return void socket.destroy();
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    const proxy = await proxyFor(t, { b: await listenOn(t, raw) });
    const call = (method: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: LOCAL, port: proxy.port, method, path: '/', headers: { host: HOST }, agent: false }, (res) =>
          resolve(res.resume().statusCode!),
        );
        req.on('error', reject);
        req.end(method === 'POST' ? 'body' : undefined);
      });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await call('GET'));
    assert.deepEqual(statuses, Array(10).fill(200));
    assert.equal(connections, 10, 'each call after the first found its pooled connection closed and opened a new one');
    // With a body, the target may have read part of it: no retry, the caller learns of it.
    assert.equal(await call('POST'), 502);
  });
  test('client reads go into a buffer of the connection on this Node, not through Readable', async (t) => {
    // The fast path relies on it for speed (emulator/proxy/fast-path/borrowed-reads.ts);
    // a Node that moves the internals it uses makes this fail rather than slow down unseen.
    const server = net.createServer();
    const got = new Promise<{ borrowed: boolean; text: string }>((resolve) =>
      server.once('connection', (socket) => {
        const buffer = Buffer.alloc(8);
        let text = '';
        const borrowed = borrowReads(socket, buffer, (bytes) => {
          text += buffer.toString('latin1', 0, bytes);
          return true;
        });
        socket.on('end', () => resolve({ borrowed, text }));
        socket.resume();
      }),
    );
    const port = await listenOn(t, server);
    const client = net.connect(port, LOCAL, () => client.end('more than eight bytes'));
    assert.deepEqual(await got, { borrowed: true, text: 'more than eight bytes' });
  });

  test('uploads larger than the read buffer arrive intact, several at once, with requests pipelined behind them and one handed to Node', async (t) => {
    // The client's reads are views of one buffer per connection: every byte that outlives
    // a read (a body queued or still being written upstream, a pipelined head) must be copied.
    const server = http.createServer((req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      // A slow reader: the proxy's writes upstream queue up while the client's reads go on.
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        req.pause();
        setTimeout(() => req.resume(), 4);
      });
      req.on('end', () => {
        const text = `${req.url} ${bytes} ${hash.digest('hex')}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': text.length }).end(text);
      });
    });
    const proxy = await proxyFor(t, { b: await listenOn(t, server) });
    const upload = async (index: number): Promise<void> => {
      const data = randomBytes(8 * 1024 * 1024 + index * 777);
      const digest = createHash('sha256').update(data).digest('hex');
      const chunked = index % 2 === 1;
      const socket = net.connect(proxy.port, LOCAL);
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.write(`PUT /up${index} HTTP/1.1\r\nHost: ${HOST}\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${data.length}`}\r\n\r\n`);
      // Uneven pieces, some larger than the proxy's read buffer; the last one carries the next requests too.
      for (let sent = 0; sent < data.length; ) {
        const piece = data.subarray(sent, Math.min(data.length, sent + 1000 + ((sent * 7919) % 40_000)));
        sent += piece.length;
        const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
        if (!socket.write(framed)) await new Promise((resolve) => socket.once('drain', resolve));
      }
      // Not half-closed: the last request's Connection: close ends the exchange.
      socket.write(
        `${chunked ? '0\r\n\r\n' : ''}POST /after${index} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nafter` +
          `POST /node${index} HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nnode` +
          `GET /last${index} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
      );
      await closed;
      const finals = responses(text).filter((response) => response.status >= 200);
      assert.deepEqual(
        finals.map((response) => response.body),
        [
          `/up${index} ${data.length} ${digest}`,
          `/after${index} 5 ${createHash('sha256').update('after').digest('hex')}`,
          `/node${index} 4 ${createHash('sha256').update('node').digest('hex')}`,
          `/last${index} 0 ${createHash('sha256').digest('hex')}`,
        ],
      );
    };
    await Promise.all([0, 1, 2, 3].map(upload));
  });

  test('large responses reach slow readers intact and in full, several at once (backpressure both ways, lent read buffers)', async (t) => {
    const data = randomBytes(16 * 1024 * 1024);
    const digest = createHash('sha256').update(data).digest('hex');
    const server = http.createServer((req, res) => {
      // Uneven pieces, with and without Content-Length (then chunked).
      if (req.url === '/sized') res.writeHead(200, { 'content-length': data.length });
      // Small pieces with pauses between them: the proxy reads small chunks, each
      // lent from the same buffer, while its writes to the slow reader queue up.
      let sent = 0;
      const pump = (): void => {
        for (let n = 0; sent < data.length; n++) {
          const piece = data.subarray(sent, Math.min(data.length, sent + 100 + ((sent * 7919) % 6000)));
          sent += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
          if (n === 8) return void setImmediate(pump);
        }
        res.end();
      };
      pump();
    });
    const proxy = await proxyFor(t, { b: await listenOn(t, server) });
    const download = (path: string, pauseEvery: number): Promise<string> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: LOCAL, port: proxy.port, path, headers: { host: HOST }, agent: false }, (res) => {
            // Read nothing at first: the socket buffers between proxy and reader fill up.
            res.pause();
            setTimeout(() => res.resume(), 400);
            const hash = createHash('sha256');
            let read = 0;
            res.on('data', (chunk: Buffer) => {
              hash.update(chunk);
              const before = read;
              read += chunk.length;
              if (Math.floor(read / pauseEvery) !== Math.floor(before / pauseEvery)) {
                res.pause(); // a slow reader: the socket buffers fill, and the proxy's writes to it queue up
                setTimeout(() => res.resume(), 20);
              }
            });
            res.on('end', () => resolve(hash.digest('hex')));
            res.on('error', reject);
          })
          .on('error', reject);
      });
    const digests = await Promise.all([download('/sized', 1 << 20), download('/chunked', 1 << 19), download('/sized', 3 << 19), download('/chunked', 1 << 20)]);
    assert.deepEqual(digests, Array(4).fill(digest));
  });

  test('small responses, rewritten where they were read, reach a reader that stops reading intact and in order', async (t) => {
    // Each answer is small (it goes out with its head, as one view of the proxy's read buffer)
    // and differs from the one before; its Connection and Keep-Alive lines are left out in place. The reader stops reading, so the proxy's writes to it stop finishing
    // at once: each such answer must keep its bytes while the next ones are read.
    const server = http.createServer((req, res) => {
      const n = Number(req.url!.slice(1));
      const body = `${n}:`.padEnd(3000, String.fromCharCode(97 + (n % 26)));
      res
        .writeHead(200, { 'content-type': 'text/plain', 'x-n': n, 'content-length': body.length, connection: 'keep-alive', 'keep-alive': 'timeout=5' })
        .end(body);
    });
    const proxy = await proxyFor(t, { b: await listenOn(t, server) });
    const COUNT = 6000;
    const socket = net.connect(proxy.port, LOCAL);
    t.after(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(Array.from({ length: COUNT }, (_, n) => `GET /${n} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`).join(''));
    socket.pause(); // nothing read for a while: the buffers between proxy and reader fill up
    await sleep(600);
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.resume();
    for (let waited = 0; responses(text.slice(0, text.lastIndexOf('HTTP/1.1 200'))).length < COUNT - 1 && waited < 20_000; waited += 50) await sleep(50);
    await sleep(100);
    const parsed = responses(text);
    assert.equal(parsed.length, COUNT);
    for (const [n, response] of parsed.entries()) {
      assert.equal(response.body, `${n}:`.padEnd(3000, String.fromCharCode(97 + (n % 26))), `answer ${n}`);
      assert.match(response.head, new RegExp(`\\r\\nx-n: ${n}\\r\\n`, 'i'), `answer ${n}`);
      assert.doesNotMatch(response.head, /keep-alive/i, `answer ${n}`);
    }
  });
});
