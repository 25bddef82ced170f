// The entry: requests from the mini-program, as Douyin Cloud's gateway forwards them.
// Real services (test/fixtures/echo), the real emulator, plain HTTP and WebSocket clients.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../dist/index.js';
import type { EmulatorError } from '../dist/errors.js';
import { echoService, emulatorFor, recordingLogger, request, sleep, writeConfig, type Reply } from './helpers.js';

const USERS = {
  alice: { openid: 'o_alice', unionid: 'u_alice' },
  bob: { openid: 'o_bob' },
  guest: { anonymousOpenid: 'ao_guest' },
};

function shop(t: TestContext, entry: Record<string, unknown> = {}, logger = recordingLogger()): Promise<Emulator> {
  return emulatorFor(
    t,
    {
      services: { api: echoService({ id: 'api01' }), 'order-svc': echoService({ id: 'ord-1' }) },
      entry: { service: 'api', appId: 'tt1234567890abcdef', envId: 'env-test', users: USERS, ...entry },
    },
    { logger },
  );
}

interface Echo {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  bytes: number;
  sha256: string;
}

/** Header names the service saw that start with x-tt- (lower case) with their values. */
function ttHeaders(echo: Echo): Record<string, string> {
  return Object.fromEntries(Object.entries(echo.headers).filter(([name]) => name.startsWith('x-tt-')));
}

function assertEmulatorError(reply: Reply, status: number, code: string): { message: string; from: string; to: string | null } {
  assert.equal(reply.status, status, reply.body);
  assert.equal(reply.headers['x-emulator-error'], code);
  const body = reply.json<{ error: string; message: string; from: string; to: string | null }>();
  assert.equal(body.error, code);
  assert.equal(body.from, 'mini-program');
  return body;
}

describe('entry', () => {
  test('forged X-TT-* headers and X-Forwarded-For are replaced; control headers never reach the service', async (t) => {
    const emu = await shop(t);
    const reply = await request(emu.entryUrl, {
      path: '/profile?x=1',
      headers: {
        'X-TT-OPENID': 'forged-openid',
        'x-tt-unionid': 'forged-unionid',
        'X-Tt-Anonymous-Openid': 'forged-anon',
        'X-TT-APPID': 'tt-forged',
        'X-TT-ENV': 'prod-forged',
        'X-TT-SOURCE': 'forged',
        'X-Tt-Stress': 'test',
        'X-Forwarded-For': '6.6.6.6',
        'X-Emulator-Env': 'env-test',
        'X-Custom': 'kept',
        'X-TTL': 'kept, not an X-TT- header',
        'X-Emulator-Users': 'kept, not a control header',
      },
    });
    assert.equal(reply.status, 200, reply.body);
    const echo = reply.json<Echo>();
    assert.equal(echo.name, 'api01', 'entry.service');
    assert.equal(echo.url, '/profile?x=1');
    assert.deepEqual(ttHeaders(echo), {
      'x-tt-openid': 'o_alice',
      'x-tt-unionid': 'u_alice',
      'x-tt-appid': 'tt1234567890abcdef',
      'x-tt-env': 'env-test',
      'x-tt-source': 'callContainer',
    });
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-custom'], 'kept');
    assert.equal(echo.headers['x-ttl'], 'kept, not an X-TT- header');
    assert.equal(echo.headers['x-emulator-users'], 'kept, not a control header');
    assert.ok(
      !Object.keys(echo.headers).some((name) => ['x-emulator-service', 'x-emulator-user', 'x-emulator-env'].includes(name)),
      'no control header reaches the service',
    );
    // The platform's casing, each header once.
    const names = echo.rawHeaders.filter((_, i) => i % 2 === 0);
    for (const name of ['X-TT-OPENID', 'X-TT-UNIONID', 'X-TT-APPID', 'X-TT-ENV', 'X-TT-SOURCE', 'X-Forwarded-For']) {
      assert.equal(names.filter((n) => n.toLowerCase() === name.toLowerCase()).length, 1, name);
      assert.ok(names.includes(name), `${name} as the platform writes it`);
    }
  });

  test('users are switched with X-Emulator-User; an anonymous user sends only X-TT-ANONYMOUS-OPENID', async (t) => {
    const emu = await shop(t);
    const as = async (user: string) => ttHeaders((await request(emu.entryUrl, { path: '/', headers: { 'X-Emulator-User': user } })).json<Echo>());
    assert.equal((await as('bob'))['x-tt-openid'], 'o_bob');
    assert.equal((await as('bob'))['x-tt-unionid'], undefined, 'bob has no unionid');
    assert.deepEqual(await as('guest'), {
      'x-tt-anonymous-openid': 'ao_guest',
      'x-tt-appid': 'tt1234567890abcdef',
      'x-tt-env': 'env-test',
      'x-tt-source': 'callContainer',
    });
    assert.equal((await as('alice'))['x-tt-openid'], 'o_alice');

    // The trace and the [calls] log: from mini-program, with the user.
    const calls = emu.calls().filter((call) => call.from === 'mini-program');
    assert.deepEqual(
      calls.map((call) => [call.user, call.to, call.status]),
      [
        ['bob', 'api', 200],
        ['bob', 'api', 200],
        ['guest', 'api', 200],
        ['alice', 'api', 200],
      ],
    );
  });

  test('the service by name or id with X-Emulator-Service; unknown names are JSON errors with the fix', async (t) => {
    const emu = await shop(t);
    for (const service of ['order-svc', 'ord-1']) {
      const reply = await request(emu.entryUrl, { path: '/x', headers: { 'X-Emulator-Service': service } });
      assert.equal(reply.json<Echo>().name, 'ord-1', service);
    }
    const unknown = assertEmulatorError(await request(emu.entryUrl, { path: '/x', headers: { 'X-Emulator-Service': 'ord-2' } }), 404, 'unknown_service');
    assert.match(
      unknown.message,
      /X-Emulator-Service names "ord-2", but no service has that name or id\. Did you mean "ord-1"\? Services: api \(id api01\), order-svc \(id ord-1\)\./,
    );
    assert.match(unknown.message, /leave the header out to reach entry\.service \("api"\)/);

    const user = assertEmulatorError(await request(emu.entryUrl, { path: '/x', headers: { 'X-Emulator-User': 'alcie' } }), 404, 'unknown_user');
    assert.match(
      user.message,
      /X-Emulator-User names "alcie", who is not in entry\.users in .*emulator\.config\.json\. Did you mean "alice"\? Users: "alice", "bob", "guest"\./,
    );
    assert.match(user.message, /Add "alcie": \{ "openid": "o_alcie" \} there/);

    const env = assertEmulatorError(await request(emu.entryUrl, { path: '/x', headers: { 'X-Emulator-Env': 'env-prod' } }), 404, 'unknown_env');
    assert.match(env.message, /cloud environment "env-prod" .* but this emulator serves "env-test"/);

    const errors = emu.calls().filter((call) => call.error !== undefined);
    assert.deepEqual(
      errors.map((call) => [call.from, call.error]),
      [
        ['mini-program', 'unknown_service'],
        ['mini-program', 'unknown_user'],
        ['mini-program', 'unknown_env'],
      ],
    );
  });

  test('a 1 MB body each way, on one keep-alive connection', async (t) => {
    const emu = await shop(t);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const body = Buffer.alloc(1024 * 1024, 'a');
    for (let i = 0; i < 3; i++) body[i * 1000] = 0x30 + i;
    const sent = await exchange(emu.entryUrl, { method: 'POST', path: '/upload', body, agent, headers: { 'X-Emulator-User': 'bob' } });
    assert.equal(sent.status, 200);
    const echo = JSON.parse(sent.body.toString()) as Echo;
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(echo.headers['x-tt-openid'], 'o_bob');

    const got = await exchange(emu.entryUrl, { path: '/download?bytes=1048576', agent });
    assert.equal(got.status, 200);
    assert.equal(got.body.length, 1024 * 1024);
    assert.equal(got.reused, true, 'the second request reused the connection');

    // Chunked upload (no Content-Length), also kept alive.
    const chunked = await exchange(emu.entryUrl, { method: 'POST', path: '/upload', body, agent, chunked: true });
    assert.equal((JSON.parse(chunked.body.toString()) as Echo).sha256, echo.sha256);
    assert.equal(chunked.reused, true);
  });

  test('a WebSocket echo through the entry, with the identity on the upgrade request', async (t) => {
    const emu = await shop(t);
    const url = `${emu.entryUrl.replace('http:', 'ws:')}/ws/chat`;
    const socket = new WebSocket(url, { headers: { 'X-Emulator-User': 'bob', 'X-Emulator-Service': 'ord-1', 'X-TT-OPENID': 'forged' } });
    t.after(() => socket.terminate());
    const messages: string[] = [];
    const next = (): Promise<string> =>
      new Promise((resolve, reject) => {
        socket.once('message', (data) => resolve(data.toString()));
        socket.once('error', reject);
      });
    const first = next();
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const hello = JSON.parse(await first) as { url: string; headers: Record<string, string> };
    assert.equal(hello.url, '/ws/chat');
    assert.equal(hello.headers['x-tt-openid'], 'o_bob');
    assert.equal(hello.headers['x-emulator-user'], undefined);
    assert.equal(hello.headers.upgrade, 'websocket');
    for (const text of ['你好', 'x'.repeat(200_000)]) {
      const reply = next();
      socket.send(text);
      messages.push(await reply);
    }
    assert.deepEqual(messages, ['你好', 'x'.repeat(200_000)]);
    const call = emu.calls().find((c) => c.path === '/ws/chat');
    assert.deepEqual([call?.from, call?.user, call?.to, call?.status], ['mini-program', 'bob', 'order-svc', 101]);
  });

  test('a service that is down: 503 service_unavailable with Retry-After, as on inner calls', async (t) => {
    const logger = recordingLogger();
    const emu = await shop(t, {}, logger);
    await request(emu.entryUrl, { path: '/crash' });
    const deadline = Date.now() + 5000;
    while (!logger.events.some((e) => /\[api\] api exited with code 1; restarting in/.test(e))) {
      assert.ok(Date.now() < deadline, `no crash event: ${logger.events.join('\n')}`);
      await sleep(5);
    }
    const reply = await request(emu.entryUrl, { path: '/x' });
    const body = assertEmulatorError(reply, 503, 'service_unavailable');
    assert.equal(reply.headers['retry-after'], '1');
    assert.match(body.message, /Service "api" \(id api01\) is not ready/);
    assert.equal(body.to, 'api01');
  });

  test('without users: one generated identity, the same on every start, printed at start', async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, { services: { first: echoService(), second: echoService() } }, { logger });
    const echo = (await request(emu.entryUrl, { path: '/' })).json<Echo>();
    assert.equal(echo.name, 'first', 'the first service by default');
    assert.match(echo.headers['x-tt-openid']!, /^o_local_[0-9a-f]{12}$/);
    assert.equal(echo.headers['x-tt-env'], 'env-local');
    assert.ok(
      logger.events.some((line) =>
        line.includes(`Entry ${emu.entryUrl} (callContainer) → first, as the generated user local-user (X-TT-OPENID ${echo.headers['x-tt-openid']}`),
      ),
      logger.events.join('\n'),
    );
    // No entry.envId: the client's envID is passed on.
    assert.equal((await request(emu.entryUrl, { path: '/', headers: { 'x-emulator-env': 'env-abc' } })).json<Echo>().headers['x-tt-env'], 'env-abc');
    // The generated user by the name printed for it: the same identity.
    const named = (await request(emu.entryUrl, { path: '/', headers: { 'X-Emulator-User': 'local-user' } })).json<Echo>();
    assert.equal(named.headers['x-tt-openid'], echo.headers['x-tt-openid']);
    const user = assertEmulatorError(await request(emu.entryUrl, { path: '/', headers: { 'X-Emulator-User': 'alice' } }), 404, 'unknown_user');
    assert.match(user.message, /no users are configured .* Add "alice": \{ "openid": "o_alice" \} to entry\.users in /);
  });

  test('emu.entry(): a supertest agent acting as a user; unknown names are usage errors', async (t) => {
    const emu = await shop(t);
    const me = await emu.entry({ user: 'guest', service: 'order-svc' }).get('/me').expect(200);
    assert.equal((me.body as Echo).name, 'ord-1');
    assert.equal((me.body as Echo).headers['x-tt-anonymous-openid'], 'ao_guest');
    const byDefault = await emu.entry().get('/').expect(200);
    assert.equal((byDefault.body as Echo).headers['x-tt-openid'], 'o_alice');
    assert.throws(
      () => emu.entry({ user: 'mallory' }),
      (error: EmulatorError) => error.code === 'usage' && /No user named "mallory" in entry\.users\. Users: alice, bob, guest\./.test(error.message),
    );
    assert.throws(() => emu.entry({ service: 'nope' }), /No service is named or has the id "nope"/);
  });

  test('requests the fast path leaves (HTTP/1.0, Expect) get the same shaping on the slow path', async (t) => {
    const emu = await shop(t);
    const port = Number(new URL(emu.entryUrl).port);
    const text = await raw(port, 'GET /old HTTP/1.0\r\nX-TT-OPENID: forged\r\nX-Emulator-User: guest\r\n\r\n');
    const echo = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Echo;
    assert.equal(echo.headers['x-tt-openid'], undefined);
    assert.equal(echo.headers['x-tt-anonymous-openid'], 'ao_guest');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-emulator-user'], undefined);
  });
});

/** One HTTP request with a Buffer body/response; `reused` tells whether the agent's socket was reused. */
function exchange(
  base: string,
  options: { method?: string; path: string; body?: Buffer; agent: http.Agent; headers?: Record<string, string>; chunked?: boolean },
): Promise<{ status: number; body: Buffer; reused: boolean }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: options.method ?? 'GET', path: options.path, agent: options.agent, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body === undefined) return void req.end();
    if (!options.chunked) req.setHeader('content-length', options.body.length);
    // In pieces, so the body streams through rather than arriving with the head.
    for (let i = 0; i < options.body.length; i += 256 * 1024) req.write(options.body.subarray(i, i + 256 * 1024));
    req.end();
  });
}

function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

test('entry.users edited in the file apply to the next call, without a restart', async (t) => {
  const logger = recordingLogger();
  const config = { services: { api: echoService() }, entry: { users: { alice: { openid: 'o_alice' } } } };
  const file = writeConfig(t, config);
  const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, watch: true, logger });
  t.after(() => emu.stop());
  const carol = () => request(emu.entryUrl, { path: '/', headers: { 'X-Emulator-User': 'carol' } });
  assert.equal((await carol()).status, 404);
  writeFileSync(file, JSON.stringify({ ...config, entry: { users: { alice: { openid: 'o_alice' }, carol: { openid: 'o_carol' } } } }));
  const deadline = Date.now() + 10_000;
  while (!logger.events.some((line) => line.includes('config: entry → api, users alice, carol'))) {
    assert.ok(Date.now() < deadline, logger.events.join('\n'));
    await sleep(20);
  }
  const reply = await carol();
  assert.equal(reply.status, 200, reply.body);
  assert.equal(reply.json<Echo>().headers['x-tt-openid'], 'o_carol');
  assert.ok(!logger.events.some((line) => /restarted|reloaded/.test(line)), 'no service restarted');
});
