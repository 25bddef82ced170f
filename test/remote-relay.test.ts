// The relay behind `url` and `targets` services, on its own: base paths and Host,
// keep-alive pooling, https with a private CA made by openssl (tls.ca, insecure, and
// the errors without them), weights, fallback, maxFailures and health probes.
// test/remote-services.test.ts runs the same through the whole emulator.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { startRemoteRelay, describeRemoteError, type RemoteOptions } from './internals.js';
import { recordingLogger, request, sleep } from './helpers.js';
import { makePki, remoteServer } from './tls-helpers.js';

async function relayFor(t: TestContext, options: Partial<RemoteOptions> & Pick<RemoteOptions, 'targets'>) {
  const logger = recordingLogger();
  const relay = await startRemoteRelay({
    name: 'orders',
    id: 'orders',
    tls: { ca: undefined, insecure: false },
    healthcheck: undefined,
    loadBalancer: { algorithm: 'round-robin', maxFailures: 0, unhealthyStatus: [] },
    configPath: 'services.orders.url',
    logger,
    ...options,
  });
  t.after(() => relay.stop());
  return Object.assign(relay, { url: `http://127.0.0.1:${relay.port}`, logger });
}

const one = (url: string) => [{ url, weight: 1, fallback: false }];

test('url: the path is appended to the base path, Host is the remote host, connections are pooled', async (t) => {
  const remote = await remoteServer(t, 'dev');
  const relay = await relayFor(t, { targets: one(`${remote.url}/base/`) });
  const agent = new (await import('node:http')).Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  for (let i = 0; i < 5; i++) {
    const reply = await request(relay.url, {
      method: 'POST',
      path: `/orders/${i}?x=1`,
      body: 'hello',
      headers: { host: 'gw01-orders.inner-call.dyc.ivolces.com', 'content-type': 'text/plain' },
      agent,
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { server: 'dev', method: 'POST', url: `/base/orders/${i}?x=1`, host: `127.0.0.1:${remote.port}`, body: 'hello' });
  }
  assert.equal(remote.connections(), 1, 'one keep-alive connection for five calls');
});

test('https with a private CA: tls.ca works; without it the error names the fix; insecure works; a self-signed cert and a plain port are explained', async (t) => {
  const pki = makePki(t);
  const secure = await remoteServer(t, 'secure', { tls: { key: pki.key, cert: pki.cert } });

  const withCa = await relayFor(t, { targets: one(secure.url), tls: { ca: pki.caFile, insecure: false } });
  const ok = await request(withCa.url, { path: '/a' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json<{ server: string }>().server, 'secure');

  const without = await relayFor(t, { targets: one(secure.url) });
  const refused = await request(without.url, { path: '/a', headers: { host: 'gw01-orders.inner-call.dyc.ivolces.com' } });
  assert.equal(refused.status, 502);
  assert.equal(refused.headers['x-emulator-error'], 'upstream_error');
  const body = refused.json<{ error: string; message: string; from: string; to: string }>();
  assert.equal(body.error, 'upstream_error');
  assert.equal(body.from, 'gw01');
  assert.match(
    body.message,
    /TLS: 127\.0\.0\.1's certificate is signed by a CA this machine does not trust \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\. Fix: set services\.orders\.tls\.ca to the CA's PEM file, or services\.orders\.tls\.insecure to true\./,
  );

  const insecure = await relayFor(t, { targets: one(secure.url), tls: { ca: undefined, insecure: true } });
  assert.equal((await request(insecure.url, { path: '/a' })).status, 200);

  const selfSigned = await remoteServer(t, 'self', { tls: { key: pki.selfSignedKey, cert: pki.selfSignedCert } });
  const toSelf = await relayFor(t, { targets: one(selfSigned.url), tls: { ca: pki.caFile, insecure: false } });
  const selfReply = await request(toSelf.url, { path: '/a' });
  assert.equal(selfReply.status, 502);
  assert.match(
    selfReply.json<{ message: string }>().message,
    /TLS: 127\.0\.0\.1 presented a self-signed certificate \(tls\.ca is .*ca\.pem, which did not sign it\)\. Fix: set services\.orders\.tls\.ca to that certificate's PEM file, or services\.orders\.tls\.insecure to true\./,
  );

  const plain = await remoteServer(t, 'plain');
  const httpsToPlain = await relayFor(t, { targets: one(plain.url.replace('http:', 'https:')) });
  const wrong = await request(httpsToPlain.url, { path: '/a' });
  assert.equal(wrong.status, 502);
  assert.match(
    wrong.json<{ message: string }>().message,
    /does not speak TLS on that port\. Fix: use http:\/\/ instead of https:\/\/ in services\.orders\.url/,
  );
});

test('refused connections and DNS failures name the problem and the fix', async (t) => {
  const gone = await remoteServer(t, 'gone');
  await gone.close();
  const relay = await relayFor(t, { targets: one(gone.url) });
  const reply = await request(relay.url, { path: '/x' });
  assert.equal(reply.status, 502);
  assert.match(
    reply.json<{ message: string }>().message,
    new RegExp(
      `connection refused by 127\\.0\\.0\\.1:${gone.port} \\(ECONNREFUSED\\)\\. Fix: start the server there, or correct the port in services\\.orders\\.url`,
    ),
  );
  // A name that does not resolve: the error object Node gives (no lookup is sent anywhere from a test).
  const dns = describeRemoteError(
    Object.assign(new Error('getaddrinfo ENOTFOUND orders.dev.example'), { code: 'ENOTFOUND' }),
    new URL('https://orders.dev.example/'),
    {
      name: 'orders',
      configPath: 'services.orders.url',
      tls: { ca: undefined, insecure: false },
    },
  );
  assert.equal(
    dns,
    'DNS: the host name orders.dev.example does not resolve (ENOTFOUND). Fix: check the host in services.orders.url, or connect the VPN that serves it.',
  );
});

test('targets: weights split calls exactly (smooth weighted round-robin)', async (t) => {
  const a = await remoteServer(t, 'a');
  const b = await remoteServer(t, 'b');
  const relay = await relayFor(t, {
    targets: [
      { url: a.url, weight: 1, fallback: false },
      { url: b.url, weight: 3, fallback: false },
    ],
    loadBalancer: { algorithm: 'weighted', maxFailures: 0, unhealthyStatus: [] },
  });
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 200; i++) counts[(await request(relay.url, { path: '/' })).headers['x-served-by'] as string]!++;
  assert.deepEqual(counts, { a: 50, b: 150 });
});

test('targets: least-connections sends calls to the target with fewer in flight', async (t) => {
  const a = await remoteServer(t, 'a');
  const b = await remoteServer(t, 'b');
  const relay = await relayFor(t, {
    targets: [
      { url: a.url, weight: 1, fallback: false },
      { url: b.url, weight: 1, fallback: false },
    ],
    loadBalancer: { algorithm: 'least-connections', maxFailures: 0, unhealthyStatus: [] },
  });
  // One long call holds a target; while it runs, every other call goes to the idle one.
  const long = request(relay.url, { path: '/slow/600' });
  await sleep(50);
  const busy = relay.targets().find((target) => target.active === 1)!;
  const idle = busy.url.startsWith(a.url) ? 'b' : 'a';
  for (let i = 0; i < 6; i++) assert.equal((await request(relay.url, { path: '/' })).headers['x-served-by'], idle);
  assert.equal((await long).body, 'slow');
});

test('targets: maxFailures ejects, the fallback takes over only then, the ejected target is retried after a while (logged)', async (t) => {
  const primary = await remoteServer(t, 'primary');
  const fallback = await remoteServer(t, 'fallback');
  const relay = await relayFor(t, {
    targets: [
      { url: primary.url, weight: 1, fallback: false },
      { url: fallback.url, weight: 1, fallback: true },
    ],
    ejectionMs: 300,
    loadBalancer: { algorithm: 'round-robin', maxFailures: 2, unhealthyStatus: [503] },
  });
  const servedBy = async (path = '/'): Promise<string> => (await request(relay.url, { path })).headers['x-served-by'] as string;
  for (let i = 0; i < 4; i++) assert.equal(await servedBy(), 'primary', 'the fallback gets nothing while the primary is in the rotation');
  // Two 503s in a row: out of the rotation; the fallback answers.
  assert.equal(await servedBy('/status/503'), 'primary');
  assert.equal(await servedBy('/status/503'), 'primary');
  assert.equal(await servedBy(), 'fallback');
  assert.deepEqual(
    relay.targets().map((target) => target.inRotation),
    [false, true],
  );
  assert.ok(
    relay.logger.events.some((line) =>
      /\[orders\] target http:\/\/127\.0\.0\.1:\d+\/ left the rotation \(2 failures in a row, the last: status 503\)/.test(line),
    ),
    relay.logger.events.join('\n'),
  );
  // Without a health check it is tried again after the ejection time, on probation.
  await until(() => relay.targets()[0]!.inRotation, 'the primary is retried');
  assert.equal(await servedBy(), 'primary');
  assert.ok(
    relay.logger.events.some((line) => /target http:\/\/127\.0\.0\.1:\d+\/ is back in the rotation \(retrying \(no health check configured\)\)/.test(line)),
  );
});

test('targets with an explicit healthcheck: a failing probe takes a target out, a passing one brings it back; nothing left is 503 no_healthy_target', async (t) => {
  let primaryHealthy = true;
  const primary = await remoteServer(t, 'primary', { healthy: () => primaryHealthy });
  const fallback = await remoteServer(t, 'fallback');
  const relay = await relayFor(t, {
    targets: [
      { url: primary.url, weight: 1, fallback: false },
      { url: fallback.url, weight: 1, fallback: true },
    ],
    healthcheck: '/health',
    probeIntervalMs: 100,
  });
  const servedBy = async (): Promise<string> => (await request(relay.url, { path: '/' })).headers['x-served-by'] as string;
  assert.equal(await servedBy(), 'primary');

  primaryHealthy = false;
  await until(() => !relay.targets()[0]!.inRotation, 'the failing probe takes the primary out');
  assert.equal(await servedBy(), 'fallback');
  assert.ok(
    relay.logger.events.some((line) => /target http:\/\/127\.0\.0\.1:\d+\/ left the rotation: GET \/health → status 503/.test(line)),
    relay.logger.events.join('\n'),
  );

  primaryHealthy = true;
  await until(() => relay.targets()[0]!.inRotation, 'the passing probe brings it back');
  assert.equal(await servedBy(), 'primary');
  assert.ok(relay.logger.events.some((line) => /target http:\/\/127\.0\.0\.1:\d+\/ is back in the rotation \(GET \/health → 200\)/.test(line)));

  primaryHealthy = false;
  await fallback.close();
  await until(() => relay.targets().every((target) => !target.inRotation), 'both probes fail');
  const none = await request(relay.url, { path: '/' });
  assert.equal(none.status, 503);
  assert.equal(none.headers['x-emulator-error'], 'no_healthy_target');
  assert.match(
    none.json<{ message: string }>().message,
    /No target of "orders" is in the rotation: http:\/\/127\.0\.0\.1:\d+\/ \(GET \/health → status 503\), http:\/\/127\.0\.0\.1:\d+\/ \(GET \/health → connection refused/,
  );
});

test('url: a WebSocket-style upgrade passes through the relay as bytes (base path and Host as for requests)', async (t) => {
  // The remote answers any upgrade with 101 and then echoes bytes in upper case.
  const remote = http.createServer((_req, res) => res.end('not an upgrade'));
  const open = new Set<net.Socket>();
  remote.on('upgrade', (req, socket: net.Socket) => {
    open.add(socket);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Path: ${req.url}\r\nX-Host: ${req.headers.host}\r\n\r\n`);
    socket.on('data', (chunk: Buffer) => socket.write(chunk.toString().toUpperCase()));
  });
  await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
  const port = (remote.address() as net.AddressInfo).port;
  t.after(() => {
    for (const socket of open) socket.destroy();
    remote.close();
  });
  const relay = await relayFor(t, { targets: one(`http://127.0.0.1:${port}/ws`) });
  const socket = net.connect(relay.port, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.write('GET /feed HTTP/1.1\r\nHost: gateway-orders.inner-call.dyc.ivolces.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  await until(() => received.includes('\r\n\r\n'), 'the 101');
  assert.match(received, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(received, new RegExp(`X-Path: /ws/feed\r\nX-Host: 127\\.0\\.0\\.1:${port}`));
  socket.write('hello');
  await until(() => received.endsWith('HELLO'), 'the echo');
  // Stopping the relay closes the upgraded connection too (it is outside the http server's bookkeeping).
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await relay.stop();
  await closed;
});

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(25);
  }
  assert.fail(`timed out waiting until ${what}`);
}
