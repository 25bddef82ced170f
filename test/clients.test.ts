import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { echoService, emulatorFor, REPO, request, run, tempDir } from './helpers.js';

const CLIENTS = path.join(REPO, 'test/fixtures/clients');
const at = (file: string) => path.join(CLIENTS, file);

/**
 * Real clients in five languages, run as children of a process-runtime service so
 * they get exactly its environment. Their code builds the production URL from
 * SERVICE_ID and has no proxy setting: the emulator's env injection must be enough.
 */
const clients: Record<string, (goBinary: string) => string[]> = {
  'Node fetch': () => [process.execPath, at('fetch_client.mjs')],
  'Node http': () => [process.execPath, at('http_client.cjs')],
  axios: () => [process.execPath, at('axios_client.cjs')],
  'Python urllib': () => ['python3', at('urllib_client.py')],
  'Python requests': () => ['/usr/bin/python3', at('requests_client.py')],
  'Go net/http': (goBinary) => [goBinary],
  curl: () => [at('curl_client.sh')],
  'PHP curl': () => ['php', at('curl_client.php')],
};

test('clients in five languages route inner-call URLs with no code change (process runtime)', async (t) => {
  const goBinary = path.join(tempDir(t), 'go_client');
  const build = await run('go', ['build', '-o', goBinary, at('go_client.go')], { env: { GO111MODULE: 'off' }, timeoutMs: 180_000 });
  assert.equal(build.code, 0, build.stderr);
  const emu = await emulatorFor(t, {
    services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService(), secret: echoService() },
  });

  for (const [name, command] of Object.entries(clients)) {
    await t.test(name, async () => {
      const runIn = async (target: string, urlPath: string) => {
        const reply = await request(emu.url('gateway'), { method: 'POST', path: '/run', body: JSON.stringify([...command(goBinary), target, urlPath]) });
        const result = reply.json() as { code: number; stdout: string; stderr: string };
        assert.equal(result.code, 0, `${name} failed: ${result.stdout}${result.stderr}`);
        const [status, ...rest] = result.stdout.trim().split(' ');
        return { status: Number(status), body: rest.join(' ') };
      };
      const allowed = await runIn('orders', `/echo?lang=${encodeURIComponent(name)}`);
      assert.equal(allowed.status, 200, allowed.body);
      const echoed = JSON.parse(allowed.body) as { name: string; url: string; headers: Record<string, string> };
      assert.equal(echoed.name, 'orders');
      assert.equal(echoed.url, `/echo?lang=${encodeURIComponent(name)}`);
      assert.equal(echoed.headers.host, 'gw01-orders.inner-call.dyc.ivolces.com');
      assert.ok(echoed.headers['x-client'], 'the client’s own header arrived');
      const call = emu.calls().findLast((c) => c.path === echoed.url)!;
      assert.equal(call.from, 'gateway', 'the proxy knew the real caller');

      const denied = await runIn('secret', '/');
      assert.equal(denied.status, 403);
      assert.equal(JSON.parse(denied.body).error, 'inner_call_denied');
    });
  }
});
