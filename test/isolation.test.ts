// Isolation and Host handling (issue 11): loopback in every spelling, empty hosts, Host
// rewriting for absolute-form, repeated and missing Host, the header timeout across the
// fast→slow hand-off, and when proxy.callTimeout starts. Each vector is sent on every way
// in: the main port, a service's egress port and the docker router's listener.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { recordingLogger, sleep } from './helpers.js';
import { errorOf, get, goodTarget, listenOn, LOCAL, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';

const AB = 'a-b.inner-call.dyc.ivolces.com';
const ROUTER_LINE = 'PROXY TCP4 172.30.0.5 172.30.0.2 40000 80\r\n';

/** A target that answers with what it saw: path, every Host line, and the body's length. */
async function mirrorTarget(t: TestContext, seen: string[] = []): Promise<number> {
  return listenOn(
    t,
    http.createServer((req, res) => {
      seen.push(req.url ?? '');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        const hosts: string[] = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts.push(req.rawHeaders[i + 1]!);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ url: req.url, host: req.headers.host, hosts, bytes }));
      });
    }),
  );
}

const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

/** The proxy's three ways in, each naming caller a: the egress port, the docker router's listener; and the main port (the host). */
async function entries(t: TestContext, options: Parameters<typeof proxyFor>[2] & { ports: Record<string, number> }) {
  const proxy = await proxyFor(t, options.ports, { callerByAddress: (address) => (address === '172.30.0.5' ? 'a' : undefined), ...options });
  const egress = await proxy.openEgress('a');
  const router = await proxy.openRouterListener(LOCAL);
  t.after(() => router.close());
  const ways: { what: string; port: number; preamble: string }[] = [
    { what: 'main port', port: proxy.port, preamble: '' },
    { what: 'egress port', port: egress, preamble: '' },
    { what: 'docker router listener', port: router.port, preamble: ROUTER_LINE },
  ];
  return { proxy, egress, router, ways };
}

describe('loopback in every spelling', () => {
  const spellings = ['[::ffff:7f00:1]', '[0:0:0:0:0:ffff:7f00:1]', '[0:0:0:0:0:0:0:1]', '[::0:1]', '[::ffff:127.0.0.1]', '127.1', '0.0.0.0', '[::]'];

  test('a forbidden instance, the proxy port and the admin surface are refused by address, not by spelling', async (t) => {
    const seen: string[] = [];
    const forbidden = await mirrorTarget(t, seen);
    const target = await goodTarget(t);
    const { proxy, egress, ways } = await entries(t, { ports: { a: target, b: target, c: target }, instancePorts: () => [forbidden] });
    for (const { what, port, preamble } of ways.slice(1)) {
      for (const spelling of spellings) {
        for (const [label, authority, path] of [
          ['instance', `${spelling}:${forbidden}`, '/x'],
          ['admin', `${spelling}:${proxy.port}`, '/_emulator/info'],
          ['egress', `${spelling}:${egress}`, '/x'],
        ] as const) {
          const absolute = await rawExchange(port, `${preamble}GET http://${authority}${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
          assert.equal(statusOf(absolute.text), 403, `${what}, GET ${label} ${authority}: ${absolute.text.slice(0, 300)}`);
          assert.equal(errorOf(absolute.text), 'inner_call_denied');
          const connect = await rawExchange(port, `${preamble}CONNECT ${authority} HTTP/1.1\r\nHost: x\r\n\r\n`);
          assert.equal(statusOf(connect.text), 403, `${what}, CONNECT ${label} ${authority}: ${connect.text.slice(0, 300)}`);
        }
      }
    }
    assert.deepEqual(seen, [], 'the forbidden instance saw no request');
  });

  test("a container cannot reach any port on the host's loopback through the router's listener", async (t) => {
    const seen: string[] = [];
    const hostOnly = await mirrorTarget(t, seen); // say, a database admin UI bound to 127.0.0.1 on the laptop
    const target = await goodTarget(t);
    const { ways } = await entries(t, { ports: { a: target, b: target, c: target } });
    const router = ways[2]!;
    for (const authority of [`127.0.0.1:${hostOnly}`, `localhost:${hostOnly}`, `[::ffff:7f00:1]:${hostOnly}`]) {
      const reply = await rawExchange(router.port, `${router.preamble}GET http://${authority}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(reply.text), 403, `${authority}: ${reply.text.slice(0, 300)}`);
      const connect = await rawExchange(router.port, `${router.preamble}CONNECT ${authority} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(statusOf(connect.text), 403, `CONNECT ${authority}: ${connect.text.slice(0, 300)}`);
    }
    assert.deepEqual(seen, []);
    // The host itself (main port) may still pass through to its own loopback: it can reach it anyway.
    const fromHost = await rawExchange(ways[0]!.port, `GET http://127.0.0.1:${hostOnly}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(fromHost.text), 200, fromHost.text.slice(0, 300));
  });
});

describe('hosts', () => {
  test('an empty host in an absolute-form target or a CONNECT is a logged 400 with the JSON error', async (t) => {
    const seen: string[] = [];
    const forbidden = await mirrorTarget(t, seen);
    const logger = recordingLogger();
    const { ways } = await entries(t, { ports: { a: forbidden, b: forbidden, c: forbidden }, instancePorts: () => [forbidden], logger });
    for (const { what, port, preamble } of ways) {
      for (const raw of [
        `GET http://:${forbidden}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        `GET http:///x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        `CONNECT :${forbidden} HTTP/1.1\r\nHost: x\r\n\r\n`,
      ]) {
        const before = logger.calls.length;
        const reply = await rawExchange(port, preamble + raw);
        assert.equal(statusOf(reply.text), 400, `${what} ${raw.split('\r\n')[0]}: ${reply.text.slice(0, 300)}`);
        assert.equal(errorOf(reply.text), 'bad_request', what);
        assert.match(JSON.parse(bodyOf(reply.text)).message, /empty host/i);
        assert.equal(logger.calls.length, before + 1, `${what}: one call line for ${raw.split('\r\n')[0]}`);
        assert.equal(logger.calls.at(-1)!.status, 400);
      }
    }
    assert.deepEqual(seen, []);
  });

  test("absolute-form: the target sees the request target's authority as Host, not the client's", async (t) => {
    const inner = await mirrorTarget(t);
    const outside = await mirrorTarget(t);
    const { ways } = await entries(t, { ports: { a: inner, b: inner, c: inner } });
    for (const { what, port, preamble } of ways.slice(0, 2)) {
      const reply = await rawExchange(port, `${preamble}GET http://${AB}/x HTTP/1.1\r\nHost: c-b.inner-call.dyc.ivolces.com\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(reply.text), 200, `${what}: ${reply.text.slice(0, 300)}`);
      assert.deepEqual(JSON.parse(bodyOf(reply.text)).hosts, [AB], what);
    }
    // Pass-through from the host to a server outside the emulator.
    const passed = await rawExchange(
      ways[0]!.port,
      `GET http://127.0.0.1:${outside}/y HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(statusOf(passed.text), 200, passed.text.slice(0, 300));
    assert.deepEqual(JSON.parse(bodyOf(passed.text)).hosts, [`127.0.0.1:${outside}`]);
  });

  test('two Host lines are a 400 on both paths and every way in', async (t) => {
    const seen: string[] = [];
    const target = await mirrorTarget(t, seen);
    const logger = recordingLogger();
    const { ways } = await entries(t, { ports: { a: target, b: target, c: target }, logger });
    const twice = `Host: ${AB}\r\nHost: c-b.inner-call.dyc.ivolces.com\r\n`;
    for (const { what, port, preamble } of ways) {
      for (const [path, raw] of [
        ['fast path', `GET /x HTTP/1.1\r\n${twice}Connection: close\r\n\r\n`],
        ['slow path, absolute-form', `GET http://${AB}/x HTTP/1.1\r\n${twice}Connection: close\r\n\r\n`],
        ['slow path, HTTP/1.0', `GET /x HTTP/1.0\r\n${twice}\r\n`],
        ['inside a CONNECT tunnel', `CONNECT ${AB}:80 HTTP/1.1\r\nHost: ${AB}:80\r\n\r\nGET /x HTTP/1.1\r\n${twice}Connection: close\r\n\r\n`],
        ['a CONNECT with two Host lines', `CONNECT example.com:443 HTTP/1.1\r\n${twice}\r\n`],
      ] as const) {
        const reply = await rawExchange(port, preamble + raw);
        const text = reply.text.replace(/^HTTP\/1\.1 200 Connection Established\r\n\r\n/, '');
        assert.equal(statusOf(text), 400, `${what}, ${path}: ${reply.text.slice(0, 300)}`);
        assert.equal(errorOf(text), 'bad_request', `${what}, ${path}`);
        assert.match(JSON.parse(bodyOf(text)).message, /Host/);
      }
    }
    assert.deepEqual(seen, []);
    assert.ok(logger.calls.length >= 15 && logger.calls.every((call) => call.status === 400), 'every refusal has its call line');
  });

  test('nothing pipelined after a missing Host runs; the proxy answers the missing Host itself, logged', async (t) => {
    const seen: string[] = [];
    const target = await mirrorTarget(t, seen);
    const logger = recordingLogger();
    const { ways } = await entries(t, { ports: { a: target, b: target, c: target }, logger });
    for (const { what, port, preamble } of ways) {
      const before = logger.calls.length;
      const reply = await rawExchange(port, `${preamble}GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: ${AB}\r\n\r\n`);
      assert.equal((reply.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1, `${what}: one response: ${reply.text}`);
      assert.equal(statusOf(reply.text), 400, what);
      assert.equal(errorOf(reply.text), 'bad_request', what);
      assert.match(reply.text, /Connection: close/i);
      assert.equal(logger.calls.length, before + 1, `${what}: the 400 is logged, /b is not run`);
      // The same after the connection went to the slow path (an absolute-form request first).
      const handed = await rawExchange(
        port,
        `${preamble}GET http://${AB}/c HTTP/1.1\r\nHost: ${AB}\r\n\r\nGET /a HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\nHost: ${AB}\r\n\r\n`,
      );
      const statuses = (handed.text.match(/HTTP\/1\.1 (\d{3})/g) ?? []).map((line) => Number(line.slice(9)));
      assert.deepEqual(statuses, [200, 400], `${what}, after a hand-off: ${handed.text}`);
    }
    await sleep(100);
    assert.deepEqual(seen, ['/c', '/c', '/c'], 'neither /b nor /d reached the target');
  });
});

describe('timeouts', () => {
  test('the header timeout counts from the first byte, across the hand-off to the slow path', async (t) => {
    const target = await goodTarget(t);
    const { ways } = await entries(t, { ports: { a: target, b: target, c: target }, headersTimeoutMs: 800 });
    await Promise.all(
      ways.map(async ({ what, port, preamble }) => {
        const result = await new Promise<{ ms: number; text: string }>((resolve) => {
          let started = 0;
          let text = '';
          const socket = net.connect(port, LOCAL, () => {
            socket.write(preamble);
            started = Date.now();
            socket.write(`GET http://${AB}/x HT`); // the fast path waits for the request line...
          });
          // ...which, once complete, is absolute-form: the slow path's. Then one header line every 100 ms.
          let timer: NodeJS.Timeout | undefined;
          const later = setTimeout(() => {
            socket.write('TP/1.1\r\nHost: x\r\n');
            timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
          }, 500);
          socket.on('data', (chunk) => (text += chunk));
          socket.on('error', () => {});
          socket.on('close', () => {
            clearTimeout(later);
            clearInterval(timer);
            resolve({ ms: Date.now() - started, text });
          });
        });
        assert.match(result.text, /^HTTP\/1\.1 408/, what);
        assert.ok(result.ms >= 700 && result.ms < 1150, `${what}: 408 after ${result.ms} ms of an 800 ms header timeout`);
      }),
    );
  });

  test('proxy.callTimeout starts once the request body has been sent (a slow upload is not a timeout)', async (t) => {
    const target = await mirrorTarget(t);
    const never = await listenOn(
      t,
      net.createServer((socket) => socket.on('data', () => {}).on('error', () => {})),
    );
    const { ways } = await entries(t, { ports: { a: target, b: target, c: never }, callTimeout: 0.5 });
    const slowUpload = (port: number, head: string): Promise<{ text: string; ms: number; sentAt: number }> =>
      new Promise((resolve) => {
        const started = Date.now();
        let sentAt = 0;
        let text = '';
        const socket = net.connect(port, LOCAL, () => socket.write(head));
        let pieces = 0;
        const timer = setInterval(() => {
          socket.write(Buffer.alloc(1000, 1));
          if (++pieces === 12) {
            clearInterval(timer);
            sentAt = Date.now() - started;
          }
        }, 100);
        socket.on('data', (chunk) => (text += chunk));
        socket.on('error', () => {});
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ text, ms: Date.now() - started, sentAt });
        });
      });
    for (const { what, port, preamble } of ways) {
      for (const [path, target] of [
        ['fast path', `/up`],
        ['slow path', `http://${AB}/up`],
      ] as const) {
        const ok = await slowUpload(port, `${preamble}POST ${target} HTTP/1.1\r\nHost: ${AB}\r\nContent-Length: 12000\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(ok.text), 200, `${what}, ${path}: a 1.2 s upload with a 0.5 s callTimeout: ${ok.text.slice(0, 300)}`);
        assert.equal(JSON.parse(bodyOf(ok.text)).bytes, 12000);
        const late = await slowUpload(
          port,
          `${preamble}POST ${target.replace(AB, 'a-c.inner-call.dyc.ivolces.com')} HTTP/1.1\r\nHost: a-c.inner-call.dyc.ivolces.com\r\nContent-Length: 12000\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(statusOf(late.text), 504, `${what}, ${path}: ${late.text.slice(0, 300)}`);
        assert.ok(late.ms - late.sentAt >= 400 && late.ms - late.sentAt < 1200, `${what}, ${path}: 504 ${late.ms - late.sentAt} ms after the body was sent`);
      }
    }
  });
});

describe('every refused request is logged, with what probably happened', () => {
  test('a Host that is not an inner-call name on an egress port: the message names the likely cause, and a call line', async (t) => {
    const target = await goodTarget(t);
    const logger = recordingLogger();
    const { egress, ways } = await entries(t, { ports: { a: target, b: target, c: target }, logger });
    // A gateway relaying its incoming request with got: Host is the gateway's own public name.
    const reply = await rawExchange(egress, get('gateway.example.com', '/orders?id=1'));
    assert.equal(statusOf(reply.text), 400, reply.text);
    assert.equal(errorOf(reply.text), 'bad_inner_call_host');
    const { message } = JSON.parse(bodyOf(reply.text)) as { message: string };
    assert.match(message, /service "a" \(id a\)/);
    assert.match(message, /copied the Host of the request it received/);
    assert.match(message, /http:\/\/a-\{toId\}\.inner-call\.dyc\.ivolces\.com/);
    assert.deepEqual(
      logger.calls.map((call) => [call.from, call.host, call.path, call.status, call.error]),
      [['a', 'gateway.example.com', '/orders?id=1', 400, 'bad_inner_call_host']],
    );
    // The same through the docker router (a container).
    const router = ways[2]!;
    assert.equal(statusOf((await rawExchange(router.port, router.preamble + get('gateway.example.com'))).text), 400);
    assert.equal(logger.calls.length, 2);
  });

  test('raw UTF-8 in an absolute-form target, headers too large, a head too slow: JSON answers and call lines', async (t) => {
    const target = await goodTarget(t);
    const logger = recordingLogger();
    const { egress } = await entries(t, { ports: { a: target, b: target, c: target }, logger, headersTimeoutMs: 500 });
    const utf8 = await rawExchange(
      egress,
      Buffer.concat([Buffer.from(`GET http://${AB}/`), Buffer.from('订单', 'utf8'), Buffer.from(` HTTP/1.1\r\nHost: ${AB}\r\n\r\n`)]),
    );
    assert.equal(statusOf(utf8.text), 400, utf8.text);
    assert.equal(errorOf(utf8.text), 'bad_request');
    assert.match(JSON.parse(bodyOf(utf8.text)).message, /percent-encode/);
    const big = await rawExchange(egress, get(AB, '/x', `X-Big: ${'x'.repeat(20_000)}\r\n`));
    assert.equal(statusOf(big.text), 431);
    assert.equal(errorOf(big.text), 'headers_too_large');
    const slow = await rawExchange(egress, `GET /x HTTP/1.1\r\nHost: ${AB}\r\n`, 3000);
    assert.equal(statusOf(slow.text), 408);
    assert.equal(errorOf(slow.text), 'request_timeout');
    assert.deepEqual(
      logger.calls.map((call) => [call.from, call.status, call.error]),
      [
        ['a', 400, 'bad_request'],
        ['a', 431, 'headers_too_large'],
        ['a', 408, 'request_timeout'],
      ],
    );
  });
});
