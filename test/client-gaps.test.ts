// Clients that used not to route, or do not route without a one-line change (README's
// client table): the npm undici package whatever the import order, Go with a custom
// Transport, aiohttp. Each runs as a child of a process-runtime service, with exactly
// its environment.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { echoService, emulatorFor, REPO, request, run, tempDir } from './helpers.js';

const FIXTURES = path.join(REPO, 'test/fixtures/client-gaps');

test("the undici package's own request() and fetch() route, required before anything touches fetch; the same copy as the emulator's or another", async (t) => {
  // Another copy, as in a service's own node_modules; and the emulator's, as when npm hoists one undici for both.
  const own = path.join(tempDir(t), 'node_modules', 'undici');
  mkdirSync(path.dirname(own), { recursive: true });
  cpSync(path.join(REPO, 'node_modules/undici'), own, { recursive: true });
  const copies = { "the service's own copy": own, "the emulator's copy": path.join(REPO, 'node_modules/undici') };
  const emu = await emulatorFor(t, { services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService() } });
  for (const [which, copy] of Object.entries(copies)) {
    const reply = await request(emu.url('gateway'), {
      method: 'POST',
      path: '/run',
      body: JSON.stringify([process.execPath, path.join(FIXTURES, 'undici_client.cjs'), copy, 'orders', '/echo?via=undici']),
    });
    const out = JSON.parse((reply.json() as { stdout: string }).stdout) as Record<string, { status: number; body: string }> & { error?: string };
    assert.equal(out.error, undefined, `${which}: ${out.error}`);
    for (const api of ['request', 'fetch']) {
      assert.equal(out[api]!.status, 200, `${which}, ${api}: ${out[api]!.body}`);
      const echoed = JSON.parse(out[api]!.body) as { name: string; headers: Record<string, string> };
      assert.equal(echoed.name, 'orders');
      assert.equal(echoed.headers['x-client'], `undici.${api}`);
    }
  }
  assert.ok(emu.calls().filter((call) => call.from === 'gateway' && call.to === 'orders').length >= 4, 'the proxy knew the caller');
});

/** Runs a client as a child of `gateway`; returns its one line of output. */
async function runClient(emu: Awaited<ReturnType<typeof emulatorFor>>, command: string[]): Promise<string> {
  const reply = await request(emu.url('gateway'), { method: 'POST', path: '/run', body: JSON.stringify(command) });
  const result = reply.json() as { code: number; stdout: string; stderr: string };
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

test('Go with a custom &http.Transport{} and aiohttp ignore the proxy; the README one-line fixes route them', async (t) => {
  const goBinary = path.join(tempDir(t), 'go_transport');
  const build = await run('go', ['build', '-o', goBinary, path.join(FIXTURES, 'go_transport.go')], { env: { GO111MODULE: 'off' }, timeoutMs: 180_000 });
  assert.equal(build.code, 0, build.stderr);
  const emu = await emulatorFor(t, { services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService() } });
  const aiohttp = ['/usr/bin/python3', path.join(FIXTURES, 'aiohttp_client.py')];

  // As documented: these fail to resolve the name, because they never ask the proxy.
  assert.match(await runClient(emu, [goBinary, 'orders', '/echo']), /^error .*(no such host|lookup gw01-orders\.inner-call\.dyc\.ivolces\.com)/);
  assert.match(
    await runClient(emu, [...aiohttp, 'orders', '/echo']),
    /^error .*(ClientConnectorError|Cannot connect to host gw01-orders\.inner-call\.dyc\.ivolces\.com)/,
  );

  // With the fix: Proxy: http.ProxyFromEnvironment; trust_env=True.
  for (const [name, command] of [
    ['Go', [goBinary, 'orders', '/echo?lang=go', 'fixed']],
    ['aiohttp', [...aiohttp, 'orders', '/echo?lang=aiohttp', 'fixed']],
  ] as const) {
    const line = await runClient(emu, [...command]);
    const [status, ...body] = line.split(' ');
    assert.equal(status, '200', `${name}: ${line}`);
    assert.equal((JSON.parse(body.join(' ')) as { name: string }).name, 'orders');
    assert.equal(emu.calls().findLast((call) => call.path.includes(`lang=${name === 'Go' ? 'go' : 'aiohttp'}`))?.from, 'gateway');
  }
});

test('a WebSocket from the ws package (its own createConnection) reaches the proxy and gets upgrade_not_supported, not ENOTFOUND', async (t) => {
  const emu = await emulatorFor(t, { services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService() } });
  const line = await runClient(emu, [process.execPath, path.join(FIXTURES, 'ws_client.cjs'), path.join(REPO, 'node_modules/ws'), 'orders', '/ws']);
  assert.deepEqual(JSON.parse(line), { status: 400, error: 'upgrade_not_supported' });
  const call = emu.calls().find((record) => record.error === 'upgrade_not_supported');
  assert.equal(call?.from, 'gateway', 'the proxy knew the caller');
  assert.equal(call?.to, 'orders');
});
