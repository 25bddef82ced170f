import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, echoService, run, startProcess, writeConfig } from './helpers.js';
import { DEFAULTS, freePort } from './internals.js';

/** Holds a UDP port the way avahi holds 5353 (0.0.0.0, SO_REUSEADDR); resolves once bound or found taken already. */
async function holdUdp(t: import('node:test').TestContext, port: number): Promise<void> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => {
    socket.once('error', () => resolve()); // taken already: taken is what the test needs
    socket.bind(port, '0.0.0.0', () => resolve());
  });
  t.after(() => socket.close());
}

test('the default DNS port is not mDNS; when it is taken, up takes a free one and says so', async (t) => {
  assert.notEqual(DEFAULTS.dnsPort, 5353, '5353 is mDNS (avahi, mDNSResponder)');
  await holdUdp(t, DEFAULTS.dnsPort);
  const file = writeConfig(t, { services: { a: echoService() }, proxy: { port: await freePort() } });
  const up = startProcess(t, process.execPath, [CLI, 'up', '--no-watch'], { cwd: path.dirname(file) });
  const [, port] = await up.waitFor(
    new RegExp(`DNS: port ${DEFAULTS.dnsPort} is in use, so the DNS server listens on (\\d+) instead\\. Set dns\\.port in the config to choose a port\\.`),
  );
  await up.waitFor(new RegExp(`The service is healthy in \\d+ ms\\. Proxy http://127\\.0\\.0\\.1:\\d+, DNS 127\\.0\\.0\\.1:${port} \\(udp\\+tcp\\)`));
  const dig = await run('dig', ['@127.0.0.1', '-p', port!, 'a-a.inner-call.dyc.ivolces.com', '+short', '+time=2', '+tries=1']);
  assert.equal(dig.stdout.trim(), '127.0.0.1');
  up.child.kill('SIGINT');
  await up.exited;
});

test('a dns.port the user set that is taken fails, naming the port', async (t) => {
  const taken = await freePort();
  await holdUdp(t, taken);
  const file = writeConfig(t, { services: { a: echoService() }, proxy: { port: await freePort() }, dns: { port: taken } });
  const up = await run(process.execPath, [CLI, 'up', '--no-watch'], { cwd: path.dirname(file) });
  assert.equal(up.code, 1);
  assert.match(up.stderr, new RegExp(`The DNS server \\(UDP\\) cannot listen on 127\\.0\\.0\\.1:${taken}: the port is already in use`));
});
