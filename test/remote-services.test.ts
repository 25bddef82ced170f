// `url`, `targets` and `stub` services through the whole emulator: the proxy routes
// to their stand-ins, the allow-list and caller identity apply, process services call
// them with unmodified production URLs, config errors say where and how to fix, the
// journal is in the testing and admin APIs, config edits replace a stand-in.

import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startEmulator } from '../dist/index.js';
import { CLI, echoService, innerCall, recordingLogger, request, run, sleep, tempDir, writeConfig } from './helpers.js';
import { makePki, remoteServer } from './tls-helpers.js';

/** Writes a config into a temp dir (with a stub folder if asked) and starts an emulator on it. */
async function start(t: TestContext, services: Record<string, unknown>, options: { dir?: string; watch?: boolean; extra?: Record<string, unknown> } = {}) {
  const dir = options.dir ?? tempDir(t);
  const file = writeConfig(t, { services, ...options.extra }, dir);
  const logger = recordingLogger();
  const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, logger, watch: options.watch ?? false });
  t.after(() => emu.stop());
  return Object.assign(emu, { logger, file, dir });
}

/** A process service's outgoing inner call, made by the echo fixture with fetch through its HTTP_PROXY. */
async function callFrom(emu: { url(name: string): string }, from: string, to: string, urlPath: string, as?: string) {
  const query = new URLSearchParams({ to, path: urlPath, ...(as ? { as } : {}) });
  const reply = await request(emu.url(from), { path: `/call?${query}` });
  assert.equal(reply.status, 200, reply.body);
  return reply.json<{ status: number; body: string }>();
}

function writeMapping(dir: string, file: string, mapping: unknown): void {
  mkdirSync(path.dirname(path.join(dir, 'mappings', file)), { recursive: true });
  writeFileSync(path.join(dir, 'mappings', file), JSON.stringify(mapping, null, 2));
}

test('url: a process service calls a remote server with its production URL; allow-list and caller identity apply', async (t) => {
  const remote = await remoteServer(t, 'dev');
  const emu = await start(t, {
    gateway: echoService({ allow: ['orders'] }),
    other: echoService(),
    orders: { url: `${remote.url}/base` },
  });

  const reply = await callFrom(emu, 'gateway', 'orders', '/orders/7?full=1');
  assert.equal(reply.status, 200);
  assert.deepEqual(JSON.parse(reply.body), { server: 'dev', method: 'GET', url: '/base/orders/7?full=1', host: `127.0.0.1:${remote.port}`, body: '' });
  const call = emu.calls().find((record) => record.to === 'orders');
  assert.equal(call?.from, 'gateway');
  assert.equal(call?.status, 200);

  // The allow-list: "other" has not ticked orders.
  const denied = await callFrom(emu, 'other', 'orders', '/orders/7');
  assert.equal(denied.status, 403);
  assert.equal(JSON.parse(denied.body).error, 'inner_call_denied');
  // Caller identity: gateway writing another id as {from}.
  const forged = await callFrom(emu, 'gateway', 'orders', '/orders/7', 'other');
  assert.equal(forged.status, 403);
  assert.equal(JSON.parse(forged.body).error, 'caller_mismatch');
  assert.equal(remote.seen.length, 1, 'denied calls never reach the remote server');

  // From the host (tests, curl) too, and the testing API's agent.
  await emu.request('gateway', 'orders').get('/ping').expect(200);
  assert.match(emu.url('orders'), /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('url over https with a private CA: tls.ca (relative to the config), without it the fix is named, insecure', async (t) => {
  const pki = makePki(t);
  const secure = await remoteServer(t, 'secure', { tls: { key: pki.key, cert: pki.cert } });
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'dev-ca.pem'), readFileSync(pki.caFile));
  const emu = await start(
    t,
    {
      gateway: echoService({ allow: ['trusted', 'untrusted', 'lax'] }),
      trusted: { url: secure.url, tls: { ca: 'dev-ca.pem' } },
      untrusted: { url: secure.url },
      lax: { url: secure.url, tls: { insecure: true } },
    },
    { dir },
  );
  assert.equal((await callFrom(emu, 'gateway', 'trusted', '/a')).status, 200);
  assert.equal((await callFrom(emu, 'gateway', 'lax', '/a')).status, 200);
  const refused = await innerCall(emu, 'gateway', 'untrusted', '/a');
  assert.equal(refused.status, 502);
  assert.equal(refused.headers['x-emulator-error'], 'upstream_error');
  const body = refused.json<{ error: string; message: string; from: string; to: string }>();
  assert.deepEqual([body.error, body.from, body.to], ['upstream_error', 'gateway', 'untrusted']);
  assert.match(
    body.message,
    /certificate is signed by a CA this machine does not trust .* Fix: set services\.untrusted\.tls\.ca to the CA's PEM file, or services\.untrusted\.tls\.insecure to true\./,
  );
});

test('stub: answers from mapping files through the proxy; no match is 404 stub_not_matched; the journal is in the testing and admin APIs', async (t) => {
  const dir = tempDir(t);
  const stubDir = path.join(dir, 'stubs/payments');
  writeMapping(stubDir, 'pay.json', {
    name: 'create payment',
    request: { method: 'POST', urlPath: '/v1/payments', bodyPatterns: [{ matchesJsonPath: '$.amount' }] },
    response: { status: 201, jsonBody: { id: 'pay_1' }, headers: { 'Content-Type': 'application/json' } },
  });
  const emu = await start(t, { gateway: echoService({ allow: ['payments'] }), payments: { stub: 'stubs/payments' } }, { dir });

  const created = await emu.request('gateway', 'payments').post('/v1/payments').send({ amount: 10 }).expect(201);
  assert.deepEqual(created.body, { id: 'pay_1' });
  const missed = await emu.request('gateway', 'payments').get('/v1/payments').expect(404);
  assert.equal(missed.headers['x-emulator-error'], 'stub_not_matched');
  assert.match(
    missed.body.message,
    /Closest: "create payment" \(mappings\/pay\.json\), which differs in method: expected POST, got GET; body: expected matchesJsonPath \$\.amount, the body is empty/,
  );

  // A process service calling it: the journal names the caller.
  const fromProcess = await callFrom(emu, 'gateway', 'payments', '/v1/payments');
  assert.equal(fromProcess.status, 404);
  // The call's record names the stub's code: fast path (through the proxy's port) and slow path (the process's HTTP_PROXY).
  assert.deepEqual(
    emu
      .calls()
      .filter((call) => call.to === 'payments' && call.status === 404)
      .map((call) => call.error),
    ['stub_not_matched', 'stub_not_matched'],
  );

  const journal = emu.stubRequests('payments');
  assert.deepEqual(
    journal.map((entry) => [entry.from, entry.method, entry.url, entry.wasMatched, entry.status]),
    [
      ['gateway', 'POST', '/v1/payments', true, 201],
      ['gateway', 'GET', '/v1/payments', false, 404],
      ['gateway', 'GET', '/v1/payments', false, 404],
    ],
  );
  assert.equal(JSON.parse(journal[0]!.body).amount, 10);
  assert.equal(emu.stubRequests('payments', { unmatched: true }).length, 2);
  const calls = emu
    .calls()
    .filter((record) => record.to === 'payments')
    .map((record) => record.status);
  assert.deepEqual(calls, [201, 404, 404]);

  const admin = await request(emu.proxyUrl, { path: '/_emulator/stubs/payments/requests?unmatched=1' });
  assert.equal(admin.status, 200);
  assert.equal(admin.json<unknown[]>().length, 2);
  const list = await request(emu.proxyUrl, { path: '/_emulator/stubs' });
  assert.deepEqual(
    list
      .json<{ name: string; mappings: number; requests: number; unmatched: number }[]>()
      .map(({ name, mappings, requests, unmatched }) => ({ name, mappings, requests, unmatched })),
    [{ name: 'payments', mappings: 1, requests: 3, unmatched: 2 }],
  );
  await request(emu.proxyUrl, { method: 'DELETE', path: '/_emulator/stubs/payments/requests' });
  assert.deepEqual(emu.stubRequests('payments'), []);
  assert.throws(() => emu.stubRequests('gateway'), /"gateway" is not a stub service/);
});

test('stub: a mapping edited while the emulator runs answers the next call (hot reload)', async (t) => {
  const dir = tempDir(t);
  const stubDir = path.join(dir, 'stubs/payments');
  writeMapping(stubDir, 'status.json', { request: { urlPath: '/status' }, response: { body: 'v1' } });
  const emu = await start(t, { gateway: echoService({ allow: ['payments'] }), payments: { stub: 'stubs/payments' } }, { dir });
  assert.equal((await emu.request('gateway', 'payments').get('/status')).text, 'v1');
  writeMapping(stubDir, 'status.json', { request: { urlPath: '/status' }, response: { body: 'v2' } });
  const deadline = Date.now() + 5000;
  while ((await emu.request('gateway', 'payments').get('/status')).text !== 'v2') {
    assert.ok(Date.now() < deadline, 'the edited mapping applies');
    await sleep(50);
  }
  assert.ok(
    emu.logger.events.some((line) => line === '[payments] mappings/status.json reloaded (1 mapping)'),
    emu.logger.events.join('\n'),
  );
});

test('record through the emulator, then replay with the real service stopped', async (t) => {
  const real = await remoteServer(t, 'real');
  const dir = tempDir(t);
  const services = { gateway: echoService({ allow: ['payments'] }), payments: { stub: { dir: 'stubs/payments', record: real.url } } };
  const recording = await start(t, services, { dir });
  const first = await recording.request('gateway', 'payments').post('/v1/refunds').send({ id: 'r1' }).set('Authorization', 'Bearer sekrit').expect(200);
  assert.equal(first.body.server, 'real');
  assert.match(recording.logger.events.join('\n'), /\[payments\] recorded POST \/v1\/refunds → 200 as mappings\/post-v1-refunds-[0-9a-f]{10}\.json/);
  await recording.stop();
  await real.close();

  const files = readdirSync(path.join(dir, 'stubs/payments/mappings'));
  assert.equal(files.length, 1);
  assert.doesNotMatch(readFileSync(path.join(dir, 'stubs/payments/mappings', files[0]!), 'utf8'), /sekrit/);

  const replaying = await start(t, { ...services, payments: { stub: 'stubs/payments' } }, { dir });
  const again = await replaying.request('gateway', 'payments').post('/v1/refunds').send({ id: 'r1' }).expect(200);
  assert.equal(again.body.server, 'real');
  assert.equal(again.headers['x-served-by'], 'real');
});

test('targets through the emulator: weights, and the fallback only when the others are out', async (t) => {
  const a = await remoteServer(t, 'a');
  const b = await remoteServer(t, 'b');
  const spare = await remoteServer(t, 'spare');
  const emu = await start(t, {
    gateway: echoService({ allow: ['search'] }),
    search: {
      targets: [{ url: a.url, weight: 3 }, { url: b.url }, { url: spare.url, fallback: true }],
      loadBalancer: { algorithm: 'weighted', maxFailures: 1 },
    },
  });
  const servedBy = async (): Promise<string> => (await emu.request('gateway', 'search').get('/q')).headers['x-served-by'] as string;
  const counts: Record<string, number> = { a: 0, b: 0, spare: 0 };
  for (let i = 0; i < 40; i++) counts[await servedBy()]!++;
  assert.deepEqual(counts, { a: 30, b: 10, spare: 0 });

  await a.close();
  await b.close();
  // One failure each takes them out (maxFailures 1): the caller sees those two as 502, then the fallback answers.
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await emu.request('gateway', 'search').get('/q')).status);
  assert.deepEqual(statuses.slice(0, 2), [502, 502]);
  assert.equal(await servedBy(), 'spare');
  assert.ok(emu.logger.events.some((line) => /\[search\] target http:\/\/127\.0\.0\.1:\d+\/ left the rotation/.test(line)));
});

test('config: exactly one of command, docker, url, targets, stub; allow on such a service; URLs and TLS checked, with lines and fixes', async (t) => {
  const dir = tempDir(t);
  const check = (services: Record<string, unknown>, ...expected: RegExp[]) => {
    const file = writeConfig(t, { services: { gateway: echoService(), ...services } }, dir);
    return assert.rejects(startEmulator({ config: file, proxyPort: 0, dnsPort: 0 }), (error: Error) => {
      for (const pattern of expected) assert.match(error.message, pattern);
      return true;
    });
  };
  await check(
    { orders: { command: 'node x.js', url: 'http://127.0.0.1:9' } },
    /services\.orders \(line \d+, column \d+\): has both "command" and "url": a service either runs here \(command, docker\) or is answered elsewhere \(url, targets, stub\), never both\./,
  );
  await check(
    { orders: { url: 'http://127.0.0.1:9', allow: ['gateway'] } },
    /services\.orders\.allow \(line \d+, column \d+\): a "url" service does not run here, so it calls nobody\./,
    /Fix: Remove "allow"/,
  );
  await check(
    { orders: { url: 'ftp://files.example.com' } },
    /services\.orders\.url \(line \d+, column \d+\): "ftp:\/\/files\.example\.com" is not an http:\/\/ or https:\/\/ URL\./,
  );
  await check({ orders: { url: 'not a url' } }, /services\.orders\.url .*"not a url" is not an http:\/\/ or https:\/\/ URL/);
  await check({ orders: { url: 'http://127.0.0.1:9', tls: { ca: 'missing.pem' } } }, /services\.orders\.tls\.ca .*file .*missing\.pem does not exist/);
  await check(
    { orders: { command: 'node x.js', tls: { insecure: true } } },
    /services\.orders\.tls .*"tls" applies to "url", "targets" and "stub" \{ "record" \} services only/,
  );
  await check({ search: { targets: [] } }, /services\.search\.targets .*must be at least 1 items/);
  await check(
    {
      search: {
        targets: [
          { url: 'http://127.0.0.1:9', fallback: true },
          { url: 'http://127.0.0.1:8', fallback: true },
        ],
      },
    },
    /services\.search\.targets\[1\]\.fallback .*only one target can be the fallback/,
  );
  await check({ search: { targets: [{ url: 'http://127.0.0.1:9', fallback: true }] } }, /services\.search\.targets .*has only a fallback target/);
  await check({ payments: { stub: 'stubs/missing' } }, /services\.payments\.stub .*directory .*stubs\/missing does not exist/);
  await check({ payments: { stub: { dir: '.', record: 'mailto:x' } } }, /services\.payments\.stub\.record .*"mailto:x" is not an http:\/\/ or https:\/\/ URL/);
  await check({ payments: { stub: '.', replicas: 2 } }, /services\.payments\.replicas .*a "stub" service has one stand-in/);
  // A broken mapping file stops the start, naming the file and the JSON path.
  mkdirSync(path.join(dir, 'stubs/bad/mappings'), { recursive: true });
  writeFileSync(path.join(dir, 'stubs/bad/mappings/x.json'), '{ "request": { "urlPath": "/a", "urlPathTemplate": "/a/{id}" }, "response": {} }');
  await check(
    { payments: { stub: 'stubs/bad' } },
    /x\.json request\.urlPathTemplate \(line 1\): "urlPathTemplate" \(path templates\) is a WireMock feature that dyc-emulator does not support/,
  );
});

test('a config edit replaces the stand-in without touching the other services', async (t) => {
  const first = await remoteServer(t, 'first');
  const second = await remoteServer(t, 'second');
  const dir = tempDir(t);
  const emu = await start(t, { gateway: echoService({ allow: ['orders'] }), orders: { url: first.url } }, { dir, watch: true });
  assert.equal((await emu.request('gateway', 'orders').get('/')).headers['x-served-by'], 'first');
  writeConfig(t, { services: { gateway: echoService({ allow: ['orders'] }), orders: { url: second.url } } }, dir);
  const deadline = Date.now() + 8000;
  while ((await emu.request('gateway', 'orders').get('/')).headers['x-served-by'] !== 'second') {
    assert.ok(Date.now() < deadline, 'the new url applies');
    await sleep(100);
  }
  assert.ok(!emu.logger.events.some((line) => line.startsWith('[gateway] reloading')), 'the gateway was not restarted');
});

test('emulator validate checks stub mapping files too', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'stubs/pay/mappings'), { recursive: true });
  writeFileSync(
    path.join(dir, 'stubs/pay/mappings/a.json'),
    '{\n  "request": { "urlPath": "/a", "formParameters": {} },\n  "response": { "status": 200 }\n}\n',
  );
  const file = writeConfig(t, { services: { gateway: echoService({ allow: ['pay'] }), pay: { stub: 'stubs/pay' } } }, dir);
  const bad = await run(process.execPath, [CLI, 'validate', '--config', file]);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(
    bad.stderr,
    /A stub mapping file does not load:\n.*mappings\/a\.json request\.formParameters \(line 2\): "formParameters" \(form parameter matching\) is a WireMock feature that dyc-emulator does not support/,
  );
  writeFileSync(path.join(dir, 'stubs/pay/mappings/a.json'), '{ "request": { "urlPath": "/a" }, "response": { "status": 200 } }');
  const good = await run(process.execPath, [CLI, 'validate', '--config', file]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /pay \(id pay\) stub: .*stubs\/pay; calls nothing/);
});

test("a service's own X-Emulator-Error (relayed from a call of its own) is not taken for the emulator's: only stand-ins name a call's error", async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    path.join(dir, 'relay.js'),
    `require('node:http').createServer((req, res) => { res.writeHead(404, { 'X-Emulator-Error': 'stub_not_matched' }); res.end('relayed'); }).listen(Number(process.env.PORT));\nprocess.on('SIGTERM', () => process.exit(0));\n`,
  );
  const emu = await start(t, { gateway: echoService({ allow: ['relay'] }), relay: { dir, command: 'node relay.js' } }, { dir });
  const reply = await innerCall(emu, 'gateway', 'relay', '/x');
  assert.equal(reply.status, 404);
  assert.equal(reply.headers['x-emulator-error'], 'stub_not_matched', 'the header reaches the caller as the service sent it');
  const fromProcess = await callFrom(emu, 'gateway', 'relay', '/y');
  assert.equal(fromProcess.status, 404);
  const records = emu.calls().filter((call) => call.to === 'relay');
  assert.equal(records.length, 2);
  assert.deepEqual(
    records.map((call) => call.error),
    [undefined, undefined],
  );
});
