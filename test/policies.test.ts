// Issue 15: call policies and load balancing with real services (test/fixtures/flaky
// counts what reaches it, fails on demand and names the instance that answered).
// Timeouts, retries counted at the target, shaping seen by the target, faults with a
// seed, the circuit breaker, ejection and return of an instance, run-time rules.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { startEmulator, type Emulator } from '../dist/index.js';
import { formatCall, LoadBalancer } from './internals.js';
import { echoService, emulatorFor, innerCall, recordingLogger, REPO, request, sleep, writeConfig } from './helpers.js';

const FLAKY_DIR = path.join(REPO, 'test/fixtures/flaky');
const flaky = (extra: Record<string, unknown> = {}) => ({ dir: FLAKY_DIR, command: 'node server.js', ...extra });

/** gateway (echo) may call orders (flaky); `extra` adds top-level keys (policies, policiesSeed). */
function world(extra: Record<string, unknown> = {}, orders: Record<string, unknown> = {}): Record<string, unknown> {
  return { services: { gateway: echoService({ allow: ['orders'] }), orders: flaky(orders) }, ...extra };
}

/** How many requests with ?key=K reached the instance at `url`. */
async function countAt(url: string, key: string): Promise<number> {
  return (await seenAt(url, key)).length;
}

/** The sha256 of the body of each request with ?key=K that reached the instance at `url`, in order. */
async function seenAt(url: string, key: string): Promise<string[]> {
  const reply = await request(url, { path: `/_count?key=${key}` });
  return reply.json<{ sha256: string[] }>().sha256;
}

const sha256 = (body: Buffer): string => createHash('sha256').update(body).digest('hex');

/** The egress port of `from` (its HTTP_PROXY), where its own HTTP client sends inner calls. */
async function egressOf(emu: Emulator, from: string): Promise<string> {
  return (await request(emu.url(from), { path: '/env' })).json<Record<string, string>>().HTTP_PROXY!;
}

/** An inner call sent as a service's client sends it through HTTP_PROXY: absolute-form to its egress port, which Node's http server (the slow path) serves. */
function viaEgress(emu: Emulator, egress: string, from: string, to: string, urlPath: string, options: Parameters<typeof request>[1] = {}) {
  return request(egress, { ...options, path: emu.innerCallUrl(from, to, urlPath) });
}

/** The ports of a 2-replica `orders`, in the order round-robin visits them (two calls on a fresh emulator). */
async function replicaPorts(emu: Emulator): Promise<[number, number]> {
  const first = (await innerCall(emu, 'gateway', 'orders', '/')).json<{ port: number }>().port;
  const second = (await innerCall(emu, 'gateway', 'orders', '/')).json<{ port: number }>().port;
  assert.notEqual(first, second);
  return [first, second];
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

/** A raw HTTP/1.1 exchange: everything the proxy sent back until it closed, and how it closed. */
function rawCall(emu: Emulator, from: string, to: string, urlPath: string): Promise<{ bytes: Buffer; error: string | undefined }> {
  const { hostname: host, port } = new URL(emu.proxyUrl);
  const name = new URL(emu.innerCallUrl(from, to, urlPath)).host;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) }, () => socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${name}\r\n\r\n`));
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), error }));
  });
}

describe('call policies', () => {
  test('a rule timeout answers 504 upstream_timeout within 20 % of the setting, per try', async (t) => {
    const emu = await emulatorFor(t, world({ policies: [{ from: 'gateway', to: 'orders', path: '/slow', timeout: 0.6 }] }));
    const { value: reply, ms } = await timed(() => innerCall(emu, 'gateway', 'orders', '/slow?ms=3000'));
    assert.equal(reply.status, 504);
    assert.equal(reply.headers['x-emulator-error'], 'upstream_timeout');
    assert.match(reply.json<{ message: string }>().message, /no response within 0\.6 s of sending the request \(the timeout of call rule policies\[0\]\)/);
    assert.ok(ms >= 600 && ms <= 720, `answered after ${Math.round(ms)} ms, setting 600`);
    // Other paths keep proxy.callTimeout.
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/slowfirst?key=t&ms=900')).status, 200);
  });

  test('retries: counted at the target, each try in the call trace; POST only when the rule lists it', async (t) => {
    const emu = await emulatorFor(
      t,
      world({
        policies: [
          { to: 'orders', path: '/fail', methods: ['GET', 'POST'], retry: { attempts: 3, backoffMs: 20, on: ['503'] } },
          { to: 'orders', retry: { attempts: 2, backoffMs: 10, on: ['5xx', 'timeout'] }, timeout: 0.4 },
        ],
      }),
    );
    const orders = emu.url('orders');

    const reply = await innerCall(emu, 'gateway', 'orders', '/fail?key=a&times=2&status=503');
    assert.equal(reply.status, 200);
    assert.equal(reply.json<{ try: number }>().try, 3);
    assert.equal(await countAt(orders, 'a'), 3, 'the target saw the first try and two retries');
    const call = emu.calls().find((record) => record.path.includes('key=a'))!;
    assert.equal(call.policy, 'policies[0]');
    assert.deepEqual(
      call.tries!.map((attempt) => attempt.status),
      [503, 503, 200],
    );
    assert.ok(call.actions!.includes('3 tries'));

    // Out of tries: the last answer goes back as it is.
    const exhausted = await innerCall(emu, 'gateway', 'orders', '/fail?key=b&times=9&status=503');
    assert.equal(exhausted.status, 503);
    assert.equal(await countAt(orders, 'b'), 4, '1 + attempts');

    // POST is retried here because the rule lists it, and the kept body goes again.
    const body = 'x'.repeat(200_000);
    const posted = await innerCall(emu, 'gateway', 'orders', '/fail?key=c&times=1&status=503', { method: 'POST', body });
    assert.equal(posted.status, 200);
    assert.equal(posted.json<{ bytes: number }>().bytes, body.length);
    assert.deepEqual(await seenAt(orders, 'c'), Array(2).fill(sha256(Buffer.from(body))));

    // The second rule does not list methods: a POST is not idempotent, so it is never retried.
    const notRetried = await innerCall(emu, 'gateway', 'orders', '/status/503?key=d', { method: 'POST', body: 'once' });
    assert.equal(notRetried.status, 503);
    assert.equal(await countAt(orders, 'd'), 1);
    // A PUT is: its body is sent again, byte for byte, after a timeout.
    const put = await innerCall(emu, 'gateway', 'orders', '/slowfirst?key=e&ms=3000', { method: 'PUT', body: 'same bytes' });
    assert.equal(put.status, 200);
    const echoed = put.json<{ try: number; bytes: number; sha256: string }>();
    assert.equal(echoed.try, 2);
    assert.equal(echoed.bytes, 10);
    const putCall = emu.calls().find((record) => record.path.includes('key=e'))!;
    assert.deepEqual(
      putCall.tries!.map((attempt) => attempt.error ?? attempt.status),
      ['timeout', 200],
    );
  });

  test("retries on the slow path too: a service calling through HTTP_PROXY (absolute-form, Node's http server)", async (t) => {
    const emu = await emulatorFor(
      t,
      world({ policies: [{ from: 'gateway', to: 'orders', retry: { attempts: 2, backoffMs: 10, on: ['503', 'timeout'] }, timeout: 0.5 }] }),
    );
    const via = (path: string) => `/call?to=orders&client=fetch&path=${encodeURIComponent(path)}`;
    const reply = (await request(emu.url('gateway'), { path: via('/fail?key=s&times=2&status=503') })).json<{ status: number; body: string }>();
    assert.equal(reply.status, 200, JSON.stringify(reply));
    assert.equal(JSON.parse(reply.body).try, 3);
    assert.equal(await countAt(emu.url('orders'), 's'), 3);
    const call = emu.calls().find((record) => record.path.includes('key=s'))!;
    assert.deepEqual(
      call.tries!.map((attempt) => attempt.status),
      [503, 503, 200],
    );
    // A timeout, then an answer: the second try on the slow path.
    const slow = (await request(emu.url('gateway'), { path: via('/slowfirst?key=u&ms=3000') })).json<{ status: number; body: string }>();
    assert.equal(slow.status, 200);
    assert.equal(JSON.parse(slow.body).try, 2);
    // It was the slow path: Node's client adds Connection: keep-alive, the fast path relays the client's head.
    const echoed = (await request(emu.url('gateway'), { path: via('/echo') })).json<{ status: number; body: string }>();
    assert.equal(JSON.parse(echoed.body).headers.connection, 'keep-alive');
  });

  test('a body over 1 MB streams and is never retried; the record says why', async (t) => {
    const emu = await emulatorFor(t, world({ policies: [{ to: 'orders', methods: ['PUT'], retry: { attempts: 2, backoffMs: 0, on: ['503'] } }] }));
    const reply = await innerCall(emu, 'gateway', 'orders', '/fail?key=big&times=1&status=503', { method: 'PUT', body: Buffer.alloc(1024 * 1024 + 1, 1) });
    assert.equal(reply.status, 503);
    assert.equal(await countAt(emu.url('orders'), 'big'), 1);
    const call = emu.calls().find((record) => record.path.includes('key=big'))!;
    assert.deepEqual(call.actions, ['not retried: body over 1 MB or still arriving']);
  });

  test('slow path (through HTTP_PROXY): a POST body is kept and sent again, byte for byte; one over 1 MB streams, is not retried, and the [calls] line says why', async (t) => {
    const emu = await emulatorFor(
      t,
      world({ policies: [{ from: 'gateway', to: 'orders', methods: ['POST'], retry: { attempts: 3, backoffMs: 10, on: ['5xx'] } }] }),
    );
    const orders = emu.url('orders');
    const egress = await egressOf(emu, 'gateway');
    const body = randomBytes(10 * 1024);
    const reply = await viaEgress(emu, egress, 'gateway', 'orders', '/fail?key=kept&times=2&status=503', { method: 'POST', body });
    assert.equal(reply.status, 200, reply.body);
    assert.deepEqual(reply.json<{ try: number; bytes: number; sha256: string }>(), {
      port: reply.json<{ port: number }>().port,
      try: 3,
      bytes: body.length,
      sha256: sha256(body),
    });
    assert.deepEqual(await seenAt(orders, 'kept'), Array(3).fill(sha256(body)), 'the target saw the same body three times');
    const call = emu.calls().find((record) => record.path.includes('key=kept'))!;
    assert.deepEqual(
      call.tries!.map((attempt) => attempt.status),
      [503, 503, 200],
    );

    const big = randomBytes(2 * 1024 * 1024);
    const bigReply = await viaEgress(emu, egress, 'gateway', 'orders', '/fail?key=big&times=1&status=503', { method: 'POST', body: big });
    assert.equal(bigReply.status, 503);
    assert.deepEqual(await seenAt(orders, 'big'), [sha256(big)], 'streamed whole, once');
    const bigCall = emu.calls().find((record) => record.path.includes('key=big'))!;
    assert.equal(bigCall.tries, undefined);
    assert.match(
      stripVTControlCharacters(formatCall(bigCall)),
      /^gateway → orders POST \/fail\?key=big&times=1&status=503 503 [\d.]+ms \[policies\[0\]: not retried: body over 1 MB or still arriving\]$/,
    );
  });

  test('a caller that leaves during a retry backoff is recorded as 499, not as an answer it never got (both paths)', async (t) => {
    const emu = await emulatorFor(t, world({ policies: [{ to: 'orders', retry: { attempts: 3, backoffMs: 1500, on: ['503'] } }] }));
    const egress = await egressOf(emu, 'gateway');
    const { hostname, port } = new URL(emu.proxyUrl);
    const leave = (target: { host: string; port: string; path: string; headers?: Record<string, string> }): Promise<void> =>
      new Promise((resolve) => {
        const req = http.request({ ...target, agent: false });
        req.on('error', () => resolve());
        req.end();
        // A reset, not a FIN: the fast path serves a half-closed client to the end, as HTTP/1.1 allows.
        setTimeout(() => {
          req.socket?.resetAndDestroy();
          resolve();
        }, 300);
      });
    const name = new URL(emu.innerCallUrl('gateway', 'orders', '/')).host;
    await leave({ host: hostname, port, path: '/status/503?key=fast', headers: { host: name } });
    const egressUrl = new URL(egress);
    await leave({ host: egressUrl.hostname, port: egressUrl.port, path: emu.innerCallUrl('gateway', 'orders', '/status/503?key=slow') });
    const deadline = Date.now() + 5000;
    const records = () => emu.calls().filter((call) => call.path.includes('key='));
    while (records().length < 2 && Date.now() < deadline) await sleep(50);
    assert.deepEqual(
      records()
        .map((call) => [call.path.split('key=')[1], call.status])
        .sort(),
      [
        ['fast', 499],
        ['slow', 499],
      ],
    );
  });

  test('slow path: each retry asks the load balancer again; with one of 2 replicas answering 503, the other answers', async (t) => {
    const emu = await emulatorFor(
      t,
      world({ policies: [{ from: 'gateway', to: 'orders', methods: ['POST'], retry: { attempts: 1, backoffMs: 0, on: ['503'] } }] }, { replicas: 2 }),
    );
    const egress = await egressOf(emu, 'gateway');
    // Round-robin goes to `sick` next, and to it first in every call below.
    const [sick, healthy] = await replicaPorts(emu);
    await request(`http://127.0.0.1:${sick}`, { method: 'POST', path: '/sick?ms=60000' });
    const body = randomBytes(1000);
    for (let i = 0; i < 4; i++) {
      const reply = await viaEgress(emu, egress, 'gateway', 'orders', `/fail?key=lb${i}&times=0`, { method: 'POST', body });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.json<{ port: number; sha256: string }>().port, healthy);
      assert.equal(reply.json<{ port: number; sha256: string }>().sha256, sha256(body));
      const call = emu.calls().find((record) => record.path.includes(`key=lb${i}&`))!;
      assert.deepEqual(
        call.tries!.map((attempt) => [attempt.upstream, attempt.status]),
        [
          [`127.0.0.1:${sick}`, 503],
          [`127.0.0.1:${healthy}`, 200],
        ],
      );
    }
  });

  test('a retry on another instance moves the call there: a reload drains the instance serving it, not the one it left (fast and slow path)', async (t) => {
    const rules = { policies: [{ from: 'gateway', to: 'orders', retry: { attempts: 1, backoffMs: 0, on: ['503'] } }] };
    const file = writeConfig(t, world(rules, { replicas: 2 }));
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, logger, watch: true });
    t.after(() => emu.stop());
    const egress = await egressOf(emu, 'gateway');
    const [sick, busy] = await replicaPorts(emu);
    await request(`http://127.0.0.1:${sick}`, { method: 'POST', path: '/sick?ms=60000' });
    // Each call goes to `sick` first (503), then to `busy`, which takes 6 s to answer.
    const fast = innerCall(emu, 'gateway', 'orders', '/slow?ms=6000');
    await sleep(300);
    const slow = viaEgress(emu, egress, 'gateway', 'orders', '/slow?ms=6000');
    await sleep(300);
    const from = logger.events.length;
    writeFileSync(file, JSON.stringify(world(rules, { replicas: 2, env: { EDITED: '1' } }), null, 2));
    const deadline = Date.now() + 5000;
    while (!logger.events.slice(from).some((line) => line.startsWith('[orders] reloaded in')) && Date.now() < deadline) await sleep(20);
    assert.ok(Date.now() < deadline, logger.events.slice(from).join('\n'));
    await sleep(500);
    // Nothing in flight on `sick` any more: stopped. Two calls on `busy`: it serves them to the end.
    await assert.rejects(request(`http://127.0.0.1:${sick}`, { path: '/v1/ping' }), /ECONNREFUSED/);
    assert.equal((await request(`http://127.0.0.1:${busy}`, { path: '/v1/ping' })).status, 200);
    for (const reply of await Promise.all([fast, slow])) {
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.json<{ port: number }>().port, busy);
    }
    const calls = emu.calls().filter((record) => record.path.startsWith('/slow'));
    assert.deepEqual(
      calls.map((record) => record.tries!.map((attempt) => attempt.upstream)),
      [
        [`127.0.0.1:${sick}`, `127.0.0.1:${busy}`],
        [`127.0.0.1:${sick}`, `127.0.0.1:${busy}`],
      ],
    );
  });

  test('a retry with no instance left to go to ends the call at once: one try at the target, no tries that never happened (both paths)', async (t) => {
    // One replica, taken out of rotation by its first 503: the retry finds nobody to try again on.
    const emu = await emulatorFor(
      t,
      world({ policies: [{ to: 'orders', path: '/fail', retry: { attempts: 3, on: ['503'] } }] }, { loadBalancer: { maxFailures: 1, unhealthyStatus: [503] } }),
    );
    const egress = await egressOf(emu, 'gateway');
    const paths = [
      ['fast', () => innerCall(emu, 'gateway', 'orders', '/fail?key=f&times=9&status=503')],
      ['slow', () => viaEgress(emu, egress, 'gateway', 'orders', '/fail?key=s&times=9&status=503')],
    ] as const;
    for (const [name, send] of paths) {
      const reply = await send();
      assert.equal(reply.status, 502, name);
      assert.match(reply.json<{ message: string }>().message, /no instance left to try again on/, name);
      const key = name === 'fast' ? 'key=f' : 'key=s';
      const record = emu.calls().find((call) => call.path.includes(key))!;
      assert.equal(record.error, 'upstream_error', name);
      assert.deepEqual(
        (record.tries ?? []).map((attempt) => attempt.error ?? attempt.status),
        [],
        `${name}: one try (503), nothing made up after it`,
      );
      // Back in rotation (health check) before the other path's turn.
      const deadline = Date.now() + 5000;
      while ((await innerCall(emu, 'gateway', 'orders', '/')).status !== 200 && Date.now() < deadline) await sleep(100);
    }
    assert.equal(await countAt(emu.url('orders'), 'f'), 1);
    assert.equal(await countAt(emu.url('orders'), 's'), 1);
  });

  test('retries on a reset by default (`on` omitted), counted at the target, on both paths', async (t) => {
    const emu = await emulatorFor(t, world({ policies: [{ to: 'orders', path: '/drop', retry: { attempts: 2, backoffMs: 0 } }] }));
    const egress = await egressOf(emu, 'gateway');
    const fast = await innerCall(emu, 'gateway', 'orders', '/drop?key=r1&times=2');
    const slow = await viaEgress(emu, egress, 'gateway', 'orders', '/drop?key=r2&times=2');
    for (const [key, reply] of [
      ['r1', fast],
      ['r2', slow],
    ] as const) {
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.json<{ try: number }>().try, 3);
      assert.equal(await countAt(emu.url('orders'), key), 3);
      const call = emu.calls().find((record) => record.path.includes(`key=${key}`))!;
      assert.deepEqual(
        call.tries!.map((attempt) => attempt.error ?? attempt.status),
        ['reset', 'reset', 200],
      );
    }
  });

  test('request shaping: remove, then set, then add, on headers and query; path and method; fast path and slow path', async (t) => {
    const emu = await emulatorFor(
      t,
      world({
        policies: [
          {
            from: 'gateway',
            to: 'orders',
            path: '/api/*',
            request: {
              remove: { headers: ['Cookie'], query: ['debug'] },
              set: { headers: { 'x-env': 'local' }, query: { v: '2' }, path: '/v2/orders', method: 'POST' },
              add: { headers: { 'x-tag': 'a' }, query: { tag: 'b' } },
            },
          },
        ],
      }),
    );
    const check = (seen: { method: string; url: string; headers: Record<string, string>; rawHeaders: string[] }): void => {
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, '/v2/orders?keep=1&v=2&tag=b');
      assert.equal(seen.headers.cookie, undefined);
      assert.equal(seen.headers['x-env'], 'local', 'set replaces the client value');
      assert.equal(seen.rawHeaders.filter((name) => name.toLowerCase() === 'x-env').length, 1);
      assert.equal(seen.headers['x-tag'], 'client, a', 'add keeps the client value and adds one');
      assert.equal(seen.headers['x-other'], 'kept');
    };
    const headers = { cookie: 'sid=1', 'x-env': 'prod', 'x-tag': 'client', 'x-other': 'kept' };
    const fast = await innerCall(emu, 'gateway', 'orders', '/api/list?debug=1&keep=1&v=1', { headers });
    assert.equal(fast.status, 200);
    check(fast.json());
    // Still the fast path: it relays the client's head (no Connection header here), where Node's client would add `Connection: keep-alive`.
    assert.equal(fast.json<{ headers: Record<string, string> }>().headers.connection, undefined);
    // HTTP/1.0 goes to Node's server (the slow path): the same rule, the same result.
    const { hostname: host, port } = new URL(emu.proxyUrl);
    const name = new URL(emu.innerCallUrl('gateway', 'orders')).host;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host, port: Number(port) }, () =>
        socket.write(
          `GET /api/list?debug=1&keep=1&v=1 HTTP/1.0\r\nHost: ${name}\r\n${Object.entries(headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join('')}\r\n`,
        ),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.[01] 200/);
    const slow = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    check(slow);
    assert.equal(slow.headers.connection, 'keep-alive', "this one went through Node's client");
    // Paths outside the rule pass unchanged.
    const other = await innerCall(emu, 'gateway', 'orders', '/other?debug=1', { headers });
    assert.equal(other.json<{ url: string }>().url, '/other?debug=1');
    assert.equal(other.json<{ headers: Record<string, string> }>().headers.cookie, 'sid=1');
  });

  test('faults: abort percentages within a binomial bound for the seed, and the same seed replays the same calls', async (t) => {
    const rules = { policiesSeed: 42, policies: [{ to: 'orders', fault: { abort: 503, percent: 30 } }] };
    const run = async (): Promise<string> => {
      const emu = await emulatorFor(t, world(rules));
      assert.equal(emu.seed, 42);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let outcomes = '';
      for (let i = 0; i < 400; i++) {
        const reply = await innerCall(emu, 'gateway', 'orders', `/x?key=f`, { agent });
        outcomes += reply.status === 503 ? 'F' : '.';
        if (reply.status === 503) {
          assert.equal(reply.headers['x-emulator-error'], 'fault_injected');
          assert.match(reply.json<{ error: string; message: string }>().message, /call rule policies\[0\]: abort with 503 \(30 % of matching calls\)/);
        }
      }
      agent.destroy();
      const faults = [...outcomes].filter((c) => c === 'F').length;
      // n=400, p=0.3: mean 120, sd 9.2; 4 sd either side.
      assert.ok(faults >= 83 && faults <= 157, `${faults} faults in 400 calls at 30 %`);
      assert.equal(await countAt(emu.url('orders'), 'f'), 400 - faults, 'an aborted call never reaches the target');
      await emu.stop();
      return outcomes;
    };
    const first = await run();
    const second = await run();
    assert.equal(second, first, 'seed 42 decides the same calls again');
  });

  test('faults: delay, and the four connection faults done as WireMock does them', async (t) => {
    const emu = await emulatorFor(
      t,
      world({
        policies: [
          { to: 'orders', path: '/delay', fault: { delayMs: 300 } },
          { to: 'orders', path: '/reset', fault: { type: 'reset' } },
          { to: 'orders', path: '/empty', fault: { type: 'empty' } },
          { to: 'orders', path: '/malformed', fault: { type: 'malformed-chunk' } },
          { to: 'orders', path: '/random', fault: { type: 'random-then-close' } },
        ],
      }),
    );
    const { value: delayed, ms } = await timed(() => innerCall(emu, 'gateway', 'orders', '/delay'));
    assert.equal(delayed.status, 200);
    assert.ok(ms >= 300 && ms < 420, `delayed ${Math.round(ms)} ms, setting 300`);

    const reset = await rawCall(emu, 'gateway', 'orders', '/reset');
    assert.equal(reset.error, 'ECONNRESET');
    assert.equal(reset.bytes.length, 0);
    const empty = await rawCall(emu, 'gateway', 'orders', '/empty');
    assert.equal(empty.error, undefined);
    assert.equal(empty.bytes.length, 0, 'closed without a byte');
    const malformed = await rawCall(emu, 'gateway', 'orders', '/malformed');
    assert.match(malformed.bytes.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked\r\n[\s\S]*\r\n\r\n[\s\S]*[^0-9a-fA-F\r\n;]/);
    const random = await rawCall(emu, 'gateway', 'orders', '/random');
    assert.equal(random.bytes.length, 64);
    assert.ok(!random.bytes.toString('latin1').startsWith('HTTP/'));
    // What an HTTP client makes of them.
    await assert.rejects(innerCall(emu, 'gateway', 'orders', '/malformed'), /Parse Error|Invalid character in chunk size|HPE_/);
    await assert.rejects(innerCall(emu, 'gateway', 'orders', '/empty'), /socket hang up/);
    const records = emu.calls().filter((record) => record.error === 'fault_injected');
    assert.deepEqual(records.map((record) => record.actions!.join()).sort(), [
      'empty',
      'empty',
      'malformed-chunk',
      'malformed-chunk',
      'random-then-close',
      'reset',
    ]);
  });

  test('random-then-close sends bytes from the seeded source: the same seed, the same bytes; EMULATOR_SEED wins and is printed', async (t) => {
    const garbage = async (config: Record<string, unknown>, seed: number, from: string): Promise<string[]> => {
      const logger = recordingLogger();
      const emu = await emulatorFor(t, world({ ...config, policies: [{ to: 'orders', path: '/random', fault: { type: 'random-then-close' } }] }), { logger });
      assert.equal(emu.seed, seed);
      assert.ok(logger.events.includes(`Fault seed ${seed} (from ${from}; EMULATOR_SEED=${seed} replays it); 1 call rule in force.`), logger.events.join('\n'));
      const bytes: string[] = [];
      for (let i = 0; i < 3; i++) {
        const reply = await rawCall(emu, 'gateway', 'orders', '/random');
        assert.equal(reply.bytes.length, 64);
        bytes.push(reply.bytes.toString('hex'));
      }
      await emu.stop();
      return bytes;
    };
    const first = await garbage({ policiesSeed: 42 }, 42, 'policiesSeed');
    assert.equal(new Set(first).size, 3, 'each call draws new bytes');
    assert.deepEqual(await garbage({ policiesSeed: 42 }, 42, 'policiesSeed'), first, 'seed 42 replays them byte for byte');
    assert.notDeepEqual(await garbage({ policiesSeed: 43 }, 43, 'policiesSeed'), first);
    process.env.EMULATOR_SEED = '42';
    try {
      assert.deepEqual(await garbage({ policiesSeed: 7 }, 42, 'EMULATOR_SEED'), first, 'EMULATOR_SEED=42 replays the run whatever policiesSeed says');
    } finally {
      delete process.env.EMULATOR_SEED;
    }
  });

  test('calls through the entry match rules with from "mini-program"; service calls do not', async (t) => {
    const emu = await emulatorFor(
      t,
      world({ entry: { service: 'orders' }, policies: [{ from: 'mini-program', to: 'orders', path: '/x', fault: { abort: 418 } }] }),
    );
    const viaEntry = await request(emu.entryUrl, { path: '/x' });
    assert.equal(viaEntry.status, 418);
    assert.equal(viaEntry.headers['x-emulator-error'], 'fault_injected');
    assert.equal((await request(emu.entryUrl, { path: '/y' })).status, 200, 'the rule’s path only');
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 200, 'a service’s call is not the mini-program’s');
    const record = emu.calls().find((call) => call.status === 418)!;
    assert.equal(record.from, 'mini-program');
    assert.equal(record.policy, 'policies[0]');
  });

  test("a rule's shaping on an entry call comes after the entry's: identity kept, per user, on one keep-alive connection; path rewritten each call", async (t) => {
    const emu = await emulatorFor(
      t,
      world({
        entry: { service: 'orders', users: { alice: { openid: 'o_alice' }, bob: { openid: 'o_bob' } } },
        policies: [
          {
            from: 'mini-program',
            to: 'orders',
            request: { remove: { headers: ['x-drop', 'x-tt-openid'] }, set: { headers: { 'x-env': 'local' }, query: { v: '2' } } },
          },
        ],
      }),
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const [user, id] of [
      ['alice', 1],
      ['bob', 2],
      ['alice', 3],
    ] as const) {
      const reply = await request(emu.entryUrl, {
        path: `/seen?n=${id}`,
        agent,
        headers: { 'X-Emulator-User': user, 'X-TT-OPENID': 'forged', 'x-drop': '1' },
      });
      const seen = reply.json<{ url: string; headers: Record<string, string> }>();
      assert.equal(seen.url, `/seen?n=${id}&v=2`, 'the rule rewrites the query of each call');
      assert.equal(seen.headers['x-tt-openid'], `o_${user}`, 'a rule cannot remove the identity the entry sets');
      assert.equal(seen.headers['x-env'], 'local');
      assert.equal(seen.headers['x-drop'], undefined);
    }
    agent.destroy();
  });

  test('circuit breaker: open after consecutive failures (target not called), one trial after openSeconds, closed again; logged', async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, world({ policies: [{ from: 'gateway', to: 'orders', circuitBreaker: { consecutiveFailures: 2, openSeconds: 0.5 } }] }), {
      logger,
    });
    const orders = emu.url('orders');
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/500?key=g')).status, 500);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/502?key=g')).status, 502);
    const open = await innerCall(emu, 'gateway', 'orders', '/status/200?key=g');
    assert.equal(open.status, 503);
    assert.equal(open.headers['x-emulator-error'], 'circuit_open');
    assert.equal(open.headers['retry-after'], '1');
    assert.equal(await countAt(orders, 'g'), 2, 'the open circuit did not call the target');
    await sleep(550);
    // Half-open: one trial; it fails, so the circuit opens again at once.
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/500?key=g')).status, 500);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/200?key=g')).status, 503);
    await sleep(550);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/200?key=g')).status, 200, 'the trial succeeds: closed');
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/status/200?key=g')).status, 200);
    assert.equal(await countAt(orders, 'g'), 5);
    const states = logger.events.filter((line) => line.startsWith('circuit gateway → orders')).map((line) => /\) (\S+):/.exec(line)![1]);
    assert.deepEqual(states, ['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  test('run-time rules: admin API on the main port only, checked before the file; emu.setPolicies validates', async (t) => {
    const emu = await emulatorFor(t, world({ policies: [{ to: 'orders', path: '/x', fault: { abort: 500 } }] }));
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 500);

    const put = await request(emu.proxyUrl, {
      method: 'PUT',
      path: '/_emulator/policies',
      body: JSON.stringify([{ from: 'gateway', to: 'orders', path: '/x', fault: { abort: 418 } }]),
    });
    assert.equal(put.status, 200, put.body);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 418, 'the run-time rule comes first');
    const listed = (await request(emu.proxyUrl, { path: '/_emulator/policies' })).json<{ runtime: unknown[]; file: unknown[]; seed: number }>();
    assert.equal(listed.runtime.length, 1);
    assert.equal(listed.file.length, 1);
    assert.equal(listed.seed, emu.seed);

    const bad = await request(emu.proxyUrl, {
      method: 'PUT',
      path: '/_emulator/policies',
      body: JSON.stringify([{ to: 'ordrs', fault: { abort: 503, percent: 150 } }]),
    });
    assert.equal(bad.status, 400);
    const problem = bad.json<{ error: string; message: string }>();
    assert.equal(problem.error, 'policies_invalid');
    assert.match(problem.message, /\[0\]\.fault\.percent: must be at most 100/);
    assert.match(problem.message, /Fix: Use a number from 0 to 100/);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 418, 'a bad PUT keeps the rules in force');

    // Not through a service's egress port: there it is an inner-call proxy like any other.
    const env = (await request(emu.url('gateway'), { path: '/env' })).json<Record<string, string>>();
    const viaEgress = await request(env.HTTP_PROXY!, { method: 'DELETE', path: '/_emulator/policies' });
    assert.equal(viaEgress.status, 400);
    assert.equal(viaEgress.headers['x-emulator-error'], 'bad_inner_call_host');
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 418);

    const deleted = await request(emu.proxyUrl, { method: 'DELETE', path: '/_emulator/policies' });
    assert.equal(deleted.status, 200);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 500, 'back to the file’s rule');

    emu.setPolicies([{ to: 'orders', path: '/x', fault: { abort: 429 } }]);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 429);
    assert.throws(() => emu.setPolicies([{ to: 'orders', timeout: -1 }]), /\[0\]\.timeout: must be at least|Fix: Use a positive number of seconds/);
    emu.clearPolicies();
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 500);
  });
});

describe('load balancing', () => {
  test('round-robin over 3 replicas: 300 calls split 100/100/100', async (t) => {
    const emu = await emulatorFor(t, world({}, { replicas: 3 }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const ports = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const port = (await innerCall(emu, 'gateway', 'orders', '/', { agent })).json<{ port: number }>().port;
      ports.set(port, (ports.get(port) ?? 0) + 1);
    }
    agent.destroy();
    assert.deepEqual([...ports.values()], [100, 100, 100]);
  });

  test('least-connections over 2 real replicas: while one serves a slow call, the others go to the other one (both paths)', async (t) => {
    const emu = await emulatorFor(t, world({}, { replicas: 2, loadBalancer: { algorithm: 'least-connections' } }));
    const egress = await egressOf(emu, 'gateway');
    const slow = innerCall(emu, 'gateway', 'orders', '/slow?ms=1500');
    await sleep(200);
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push((await innerCall(emu, 'gateway', 'orders', '/')).json<{ port: number }>().port);
    for (let i = 0; i < 3; i++) ports.push((await viaEgress(emu, egress, 'gateway', 'orders', '/')).json<{ port: number }>().port);
    const busy = (await slow).json<{ port: number }>().port;
    assert.equal(new Set(ports).size, 1, `one instance took them all: ${ports}`);
    assert.notEqual(ports[0], busy);
  });

  test('weights are respected over 300 real calls (the balancer the url targets use, over three real servers)', async (t) => {
    const servers = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<{ url: string; hits: () => number }>((resolve) => {
            let hits = 0;
            const server = http.createServer((_, res) => {
              hits++;
              res.end('ok');
            });
            t.after(() => server.close());
            server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, hits: () => hits }));
          }),
      ),
    );
    const balancer = new LoadBalancer<string>({ algorithm: 'weighted' });
    balancer.update(servers.map((server, i) => ({ key: server.url, target: server.url, weight: i + 1 })));
    for (let i = 0; i < 300; i++) {
      const slot = balancer.pick()!;
      const reply = await request(slot.target);
      balancer.done(slot, { kind: 'response', status: reply.status });
    }
    assert.deepEqual(
      servers.map((server) => server.hits()),
      [50, 100, 150],
    );
  });

  test('maxFailures with unhealthyStatus ejects an instance until its health check passes; nothing left: 503 no_healthy_target', async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, world({}, { replicas: 2, loadBalancer: { maxFailures: 2, unhealthyStatus: [503] } }), { logger });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const call = async (): Promise<{ status: number; port: number }> => {
      const reply = await innerCall(emu, 'gateway', 'orders', '/', { agent });
      return { status: reply.status, port: reply.json<{ port: number }>().port };
    };
    const first = await call();
    const second = await call();
    assert.notEqual(first.port, second.port);
    // The first instance falls sick for 1.5 s: 503 to everything, its health check too.
    await request(`http://127.0.0.1:${first.port}`, { method: 'POST', path: '/sick?ms=1500' });
    const during = [];
    for (let i = 0; i < 10; i++) during.push(await call());
    const sick = during.filter((reply) => reply.port === first.port);
    assert.equal(sick.length, 2, 'two 503s in a row take it out');
    assert.ok(sick.every((reply) => reply.status === 503));
    assert.ok(
      during.slice(4).every((reply) => reply.port === second.port && reply.status === 200),
      'then only the healthy one answers',
    );
    assert.ok(
      logger.events.some((line) => line.includes(`[orders] instance 127.0.0.1:${first.port} out of rotation after 2 failures in a row (last: status 503)`)),
      logger.events.join('\n'),
    );

    // It heals; the health check (GET /v1/ping, every second) brings it back.
    const deadline = Date.now() + 5000;
    while (!logger.events.some((line) => line.includes('back in rotation')) && Date.now() < deadline) await sleep(50);
    assert.ok(
      logger.events.some((line) => line.includes(`[orders] instance 127.0.0.1:${first.port} back in rotation (health check passed)`)),
      logger.events.join('\n'),
    );
    const after = [await call(), await call()];
    assert.deepEqual(after.map((reply) => reply.port).sort(), [first.port, second.port].sort());

    // Both sick: each leaves after two failures, then the emulator answers for them.
    await request(`http://127.0.0.1:${first.port}`, { method: 'POST', path: '/sick?ms=3000' });
    await request(`http://127.0.0.1:${second.port}`, { method: 'POST', path: '/sick?ms=3000' });
    for (let i = 0; i < 4; i++) assert.equal((await call()).status, 503);
    const none = await innerCall(emu, 'gateway', 'orders', '/', { agent });
    assert.equal(none.status, 503);
    assert.equal(none.headers['x-emulator-error'], 'no_healthy_target');
    assert.match(none.json<{ message: string }>().message, /all 2 of its members are out of rotation after 2 failures in a row/);
    agent.destroy();
  });
});
