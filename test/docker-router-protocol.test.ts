// The proxy's listener for the docker router: PROXY protocol v1 in front of plain HTTP,
// the caller named by its source address. No engine needed: raw sockets play the router.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { ECHO_DIR, writeConfig } from './helpers.js';
import { loadConfig, silentLogger, parseProxyV1, startProxy } from './internals.js';

/** Sends raw bytes on one connection and collects everything until the peer closes. */
function exchange(port: number, chunks: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (data) => (out += data.toString()));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    let delay = 0;
    for (const chunk of chunks) setTimeout(() => socket.write(chunk), (delay += 30));
  });
}

const get = (host: string, close = true): string => `GET /x HTTP/1.1\r\nHost: ${host}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

test('router listener: PROXY v1 source address names the caller', async (t) => {
  const upstream = http.createServer((req, res) => res.end(`target saw ${req.headers.host}`));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => upstream.close());
  const upstreamPort = (upstream.address() as net.AddressInfo).port;

  const config = loadConfig(
    writeConfig(t, {
      services: {
        a: { dir: ECHO_DIR, command: 'x', allow: ['b'] },
        b: { dir: ECHO_DIR, command: 'x' },
      },
    }),
  );
  const proxy = await startProxy({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    directory: {
      config: () => config,
      upstream: () => ({ state: 'ready', host: '127.0.0.1', port: upstreamPort }),
      callerByAddress: (address) => (address === '172.30.0.5' ? 'a' : address === '172.30.0.6' ? 'b' : undefined),
    },
  });
  t.after(() => proxy.stop());
  const listener = await proxy.openRouterListener('127.0.0.1');

  await t.test('header and request in one packet, and split', async () => {
    const whole = await exchange(listener.port, [`PROXY TCP4 172.30.0.5 172.30.0.2 40000 80\r\n${get('a-b.inner-call.dyc.ivolces.com')}`]);
    assert.match(whole, /^HTTP\/1\.1 200[\s\S]*target saw a-b\.inner-call\.dyc\.ivolces\.com$/);
    const split = await exchange(listener.port, [
      'PROXY TCP4 172.30.0.5 172.30',
      '.0.2 40000 80\r\nGET /x HTT',
      `P/1.1\r\nHost: a-b.dycloud.service\r\nConnection: close\r\n\r\n`,
    ]);
    assert.match(split, /^HTTP\/1\.1 200/);
  });

  await t.test('keep-alive: two requests on one relayed connection keep the identity', async () => {
    const out = await exchange(listener.port, [
      `PROXY TCP4 172.30.0.5 172.30.0.2 40001 80\r\n${get('a-b.inner-call.dyc.ivolces.com', false)}`,
      get('b-a.inner-call.dyc.ivolces.com'),
    ]);
    assert.equal(out.match(/HTTP\/1\.1 200/g)?.length, 1, out);
    assert.match(out, /HTTP\/1\.1 403[\s\S]*caller_mismatch/);
  });

  await t.test('another service as {from}: caller_mismatch; a denied pair: inner_call_denied', async () => {
    const mismatch = await exchange(listener.port, [`PROXY TCP4 172.30.0.6 172.30.0.2 40002 80\r\n${get('a-b.inner-call.dyc.ivolces.com')}`]);
    assert.match(mismatch, /^HTTP\/1\.1 403[\s\S]*"error":"caller_mismatch"/);
    const denied = await exchange(listener.port, [`PROXY TCP4 172.30.0.6 172.30.0.2 40003 80\r\n${get('b-a.inner-call.dyc.ivolces.com')}`]);
    assert.match(denied, /^HTTP\/1\.1 403[\s\S]*"error":"inner_call_denied"/);
  });

  await t.test('an address of no service acts as the host would; no admin surface', async () => {
    const out = await exchange(listener.port, [`PROXY TCP4 172.30.0.99 172.30.0.2 40004 80\r\n${get('a-b.inner-call.dyc.ivolces.com')}`]);
    assert.match(out, /^HTTP\/1\.1 200/);
    const admin = await exchange(listener.port, [
      `PROXY TCP4 172.30.0.99 172.30.0.2 40005 80\r\nGET /_emulator/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ]);
    assert.doesNotMatch(admin, /^HTTP\/1\.1 200/);
  });

  await t.test('a connection without a PROXY line is dropped', async () => {
    assert.equal(await exchange(listener.port, [get('a-b.inner-call.dyc.ivolces.com')]), '');
  });

  await t.test('close() stops the listener', async () => {
    await listener.close();
    await assert.rejects(exchange(listener.port, ['x']), /ECONNREFUSED/);
  });
});

test('parseProxyV1', () => {
  assert.equal(parseProxyV1('PROXY TCP4 172.18.0.3 172.18.0.2 51234 80'), '172.18.0.3');
  assert.equal(parseProxyV1('PROXY TCP6 fd00::3 fd00::2 51234 80'), 'fd00::3');
  for (const bad of ['PROXY UNKNOWN', 'PROXY TCP4 fd00::3 1.2.3.4 1 2', 'PROXY TCP4 1.2.3.4 1.2.3.5 1', 'GET / HTTP/1.1', 'PROXY TCP4 999.1.1.1 1.1.1.1 1 2']) {
    assert.equal(parseProxyV1(bad), undefined, bad);
  }
});
