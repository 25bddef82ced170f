// The call pipeline's seams (emulator/calls/, docs/proxy.md): request shaping, faults,
// the retry hook, the upstream picker and the call observer, each on both proxy paths
// (fast: origin-form; slow: absolute-form) with real sockets and real targets.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { ECHO_DIR, recordingLogger, sleep, writeConfig } from './helpers.js';
import { loadConfig, silentLogger, startProxy, type AttemptOutcome, type CallDetails, type CallPolicies, type PolicyOutcome } from './internals.js';
import { goodTarget, listenOn, LOCAL, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';

const AB = 'a-b.inner-call.dyc.ivolces.com';
const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

/** A target that answers with what it saw. */
async function mirror(t: TestContext, seen: { method: string; url: string; headers: string[] }[] = []): Promise<number> {
  return listenOn(
    t,
    http.createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.rawHeaders });
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.rawHeaders, bytes })));
    }),
  );
}

/** Policies that give every a → b call `outcome` (under any config). */
const always = (outcome: PolicyOutcome): CallPolicies => ({ active: () => true, plan: (_config, _from, to) => (to.name === 'b' ? outcome : undefined) });

/** The two paths: origin-form (fast) and absolute-form (slow). */
const ways = (path: string, extra = '', method = 'GET'): [string, string][] => [
  ['fast path', `${method} ${path} HTTP/1.1\r\nHost: ${AB}\r\n${extra}Connection: close\r\n\r\n`],
  ['slow path', `${method} http://${AB}${path} HTTP/1.1\r\nHost: ${AB}\r\n${extra}Connection: close\r\n\r\n`],
];

describe('call pipeline seams', () => {
  test('request shaping: remove (also by prefix), set, add, path and method, on both paths', async (t) => {
    const policies = always({
      shaping: {
        remove: ['x-tt-*', 'X-Drop', 'X.Dot'],
        set: [
          ['X-Tt-Openid', 'user-1'],
          ['X-Set', 'new'],
        ],
        add: [['X-Added', '1']],
        path: '/shaped?q=1',
        method: 'POST',
      },
    });
    const proxy = await proxyFor(t, { a: 0, b: await mirror(t), c: 0 }, { policies });
    for (const [what, raw] of ways(
      '/orig',
      'X-TT-Openid: forged\r\nx-tt-logid: 7\r\nX-Drop: 1\r\nX-Dropped: 2\r\nx.dot: 1\r\nXaDot: 3\r\nX-Set: old\r\nX-Set: older\r\nX-Keep: k\r\n',
    )) {
      const reply = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(reply.text), 200, `${what}: ${reply.text.slice(0, 200)}`);
      const seen = JSON.parse(bodyOf(reply.text)) as { method: string; url: string; headers: string[] };
      assert.equal(seen.method, 'POST', what);
      assert.equal(seen.url, '/shaped?q=1', what);
      const names = seen.headers.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
      const value = (name: string): string[] => seen.headers.filter((_, i) => i % 2 === 1 && seen.headers[i - 1]!.toLowerCase() === name);
      assert.deepEqual(value('x-tt-openid'), ['user-1'], `${what}: the forged X-TT-Openid is gone, the set one is there`);
      assert.ok(!names.includes('x-tt-logid') && !names.includes('x-drop'), `${what}: removed: ${names}`);
      assert.deepEqual(value('x-set'), ['new'], what);
      assert.deepEqual(value('x-added'), ['1'], what);
      assert.deepEqual(value('x-keep'), ['k'], what);
      // Names match whole and literally: X-Drop is not X-Dropped, and the dot in X.Dot is a dot.
      assert.ok(!names.includes('x.dot'), `${what}: ${names}`);
      assert.deepEqual([value('x-dropped'), value('xadot')], [['2'], ['3']], what);
    }
  });

  test('faults: abort, delay, reset, empty, malformed chunk, random bytes; each recorded once', async (t) => {
    let outcome: PolicyOutcome = {};
    const logger = recordingLogger();
    const proxy = await proxyFor(t, { a: 0, b: await goodTarget(t), c: 0 }, { policies: { active: () => true, plan: () => outcome }, logger });
    for (const [what, raw] of ways('/x')) {
      outcome = { fault: { kind: 'abort', status: 503 } };
      const abort = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(abort.text), 503, `${what}: ${abort.text}`);
      assert.match(abort.text, /X-Emulator-Fault: abort/);
      outcome = { fault: { kind: 'delay', ms: 300 } };
      const delayed = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(delayed.text), 200, what);
      assert.ok(delayed.ms >= 280, `${what}: delayed ${delayed.ms} ms`);
      outcome = { fault: { kind: 'empty' } };
      assert.equal((await rawExchange(proxy.port, raw)).text, '', `${what}: empty`);
      outcome = { fault: { kind: 'malformed-chunk' } };
      assert.match((await rawExchange(proxy.port, raw)).text, /^HTTP\/1\.1 200[\s\S]*\r\nzz\r\n/, `${what}: malformed chunk`);
      outcome = { fault: { kind: 'random-then-close', bytes: Buffer.alloc(100, 0xfe) } };
      assert.equal((await rawExchange(proxy.port, raw)).text, '\xfe'.repeat(100), `${what}: the fault's bytes`);
      outcome = { fault: { kind: 'reset' } };
      const reset = await new Promise<string>((resolve) => {
        const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write(raw));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        socket.on('close', () => resolve('closed'));
      });
      assert.equal(reset, 'ECONNRESET', `${what}: reset`);
    }
    await sleep(50);
    assert.deepEqual(
      logger.calls.map((call) => call.status),
      [503, 200, 0, 200, 0, 0, 503, 200, 0, 200, 0, 0],
      'one record per call, with the status the caller saw (0: no HTTP answer)',
    );
  });

  test('the retry hook: asked on a 5xx and on a failed attempt, before anything reached the caller', async (t) => {
    let hits = 0;
    const flaky = await listenOn(
      t,
      http.createServer((_req, res) => {
        hits++;
        if (hits % 3 !== 0) return void res.writeHead(503).end('busy');
        res.end(`ok after ${hits}`);
      }),
    );
    const asked: string[] = [];
    const retryOn = (outcome: AttemptOutcome): boolean => {
      asked.push(outcome.kind === 'status' ? String(outcome.status) : outcome.code);
      return outcome.kind === 'status' && outcome.status >= 500;
    };
    const policies = always({ retry: { attempts: 2, retryOn } });
    const proxy = await proxyFor(t, { a: 0, b: flaky, c: 0 }, { policies });
    for (const [what, raw] of ways('/x')) {
      const reply = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(reply.text), 200, `${what}: ${reply.text}`);
      assert.equal(bodyOf(reply.text), `ok after ${hits}`);
    }
    assert.deepEqual(asked, ['503', '503', '503', '503']);
  });

  test('a picker chooses the instance; unavailable is a 503 with its reason', async (t) => {
    const one = await goodTarget(t, 'one');
    const two = await goodTarget(t, 'two');
    let turn = 0;
    let down = false;
    const picker = {
      pick: () =>
        down
          ? { state: 'unavailable' as const, reason: 'the picker says so' }
          : { state: 'ready' as const, host: '127.0.0.1', port: turn++ % 2 === 0 ? one : two },
    };
    const proxy = await proxyFor(t, { a: 0, b: 0, c: 0 }, { picker });
    const bodies: string[] = [];
    for (let i = 0; i < 2; i++) for (const [, raw] of ways('/p')) bodies.push(bodyOf((await rawExchange(proxy.port, raw)).text));
    assert.deepEqual(bodies, ['one /p', 'two /p', 'one /p', 'two /p']);
    down = true;
    for (const [what, raw] of ways('/p')) {
      const reply = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(reply.text), 503, what);
      assert.match(reply.text, /the picker says so/);
      assert.match(reply.text, /Retry-After: 1/i);
    }
  });

  test('the observer gets headers, the first 64 KB of each body and timings; without one nothing is built', async (t) => {
    const big = Buffer.alloc(100 * 1024, 'r');
    const target = await listenOn(
      t,
      http.createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(201, { 'x-answer': 'yes', 'content-length': big.length }).end(big));
      }),
    );
    const logger = recordingLogger();
    const proxy = await proxyFor(t, { a: 0, b: target, c: 0 }, { logger });
    const upload = 'u'.repeat(70 * 1024);
    const raws = ways('/obs', `Content-Length: ${upload.length}\r\nX-Asked: please\r\n`, 'POST').map(([what, raw]) => [what, raw + upload] as const);
    assert.equal(statusOf((await rawExchange(proxy.port, raws[0]![1])).text), 201, 'no observer: the call works');
    const seen: CallDetails[] = [];
    proxy.calls.observer = { onCall: (details) => seen.push(details) };
    for (const [what, raw] of raws) {
      const reply = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(reply.text), 201, what);
    }
    proxy.calls.observer = undefined;
    await rawExchange(proxy.port, raws[1]![1]);
    assert.equal(seen.length, 2, 'one details object per observed call, none after the observer left');
    for (const [i, details] of seen.entries()) {
      const what = raws[i]![0];
      assert.equal(details.record, logger.calls[i + 1], `${what}: the same record the logger got`);
      assert.equal(details.responseStatus, 201);
      assert.ok(
        details.requestHeaders.some(([name, value]) => name === 'X-Asked' && value === 'please'),
        `${what}: ${JSON.stringify(details.requestHeaders)}`,
      );
      assert.ok(
        details.responseHeaders.some(([name, value]) => name.toLowerCase() === 'x-answer' && value === 'yes'),
        what,
      );
      assert.deepEqual([details.requestBody.bytes.length, details.requestBody.total, details.requestBody.truncated], [64 * 1024, upload.length, true], what);
      assert.deepEqual([details.responseBody.bytes.length, details.responseBody.total, details.responseBody.truncated], [64 * 1024, big.length, true], what);
      assert.equal(details.responseBody.bytes.toString(), 'r'.repeat(64 * 1024));
      const { upstreamMs, sentMs, headMs, totalMs } = details.timings;
      assert.ok(upstreamMs !== undefined && sentMs !== undefined && headMs !== undefined, `${what}: ${JSON.stringify(details.timings)}`);
      assert.ok(upstreamMs <= sentMs && sentMs <= headMs && headMs <= totalMs, `${what}: ${JSON.stringify(details.timings)}`);
    }
  });

  test('a small response that comes in one read with its head: the observer gets the body apart from the headers', async (t) => {
    // Node's target adds Connection and Keep-Alive, which the proxy leaves out: the forwarded head is rewritten.
    const target = await listenOn(
      t,
      http.createServer((_req, res) => res.writeHead(200, { 'x-small': 'yes', 'content-length': 10 }).end('small body')),
    );
    const proxy = await proxyFor(t, { a: 0, b: target, c: 0 }, { logger: recordingLogger() });
    const seen: CallDetails[] = [];
    proxy.calls.observer = { onCall: (details) => seen.push(details) };
    for (const [what, raw] of ways('/small')) {
      const reply = await rawExchange(proxy.port, raw);
      assert.equal(statusOf(reply.text), 200, what);
      assert.ok(reply.text.endsWith('\r\n\r\nsmall body'), `${what}: ${JSON.stringify(reply.text)}`);
      assert.doesNotMatch(reply.text, /keep-alive: timeout/i, what);
    }
    assert.equal(seen.length, 2);
    for (const details of seen) {
      assert.equal(details.responseBody.bytes.toString(), 'small body');
      assert.deepEqual(
        // Date varies; Connection is the proxy's own `close` on the fast path (the client asked to close).
        details.responseHeaders.map(([name]) => name.toLowerCase()).filter((name) => name !== 'date' && name !== 'connection'),
        ['x-small', 'content-length'],
      );
    }
  });
  test('an upgrade through the entry tells the load balancer how it ended (its pick is not held for ever)', async (t) => {
    const target = http.createServer();
    target.on('upgrade', (_req, socket: net.Socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    const port = await listenOn(t, target);
    const config = loadConfig(writeConfig(t, { services: { b: { dir: ECHO_DIR, command: 'x' } }, entry: { service: 'b' } }));
    const outcomes: unknown[] = [];
    const proxy = await startProxy({
      host: LOCAL,
      port: 0,
      logger: silentLogger,
      directory: { config: () => config, upstream: () => ({ state: 'unavailable', reason: 'unused' }) },
      picker: { pick: () => ({ state: 'ready', host: LOCAL, port, done: (outcome) => outcomes.push(outcome) }) },
    });
    t.after(() => proxy.stop());
    const entry = await proxy.openEntry(LOCAL, 0);
    const reply = await rawExchange(entry.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(statusOf(reply.text), 101, reply.text);
    assert.deepEqual(outcomes, [{ kind: 'response', status: 101 }]);
  });
});
