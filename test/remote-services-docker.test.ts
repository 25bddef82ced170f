// A container calls a `url` service and a `stub` service with unmodified production
// URLs (the docker runtime's router and DNS, then the proxy and the stand-ins on the host).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { startEmulator } from '../dist/index.js';
import { ECHO_DIR, recordingLogger, request, tempDir, writeConfig } from './helpers.js';
import { dockerService, ensureBaseImages } from './docker-helpers.js';
import { remoteServer } from './tls-helpers.js';

before(() => ensureBaseImages());

test('a container calls a url service and a stub service; the allow-list holds', async (t) => {
  const remote = await remoteServer(t, 'dev');
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'stubs/payments/mappings'), { recursive: true });
  writeFileSync(
    path.join(dir, 'stubs/payments/mappings/ping.json'),
    JSON.stringify({ request: { method: 'GET', urlPath: '/v1/payments/1' }, response: { status: 200, jsonBody: { id: 1, state: 'paid' } } }),
  );
  const file = writeConfig(
    t,
    {
      services: {
        box: dockerService(ECHO_DIR, { allow: ['orders', 'payments'] }),
        boxed: dockerService(ECHO_DIR),
        orders: { url: `${remote.url}/base` },
        payments: { stub: 'stubs/payments' },
      },
    },
    dir,
  );
  const emu = await startEmulator({ config: file, logger: recordingLogger() });
  t.after(() => emu.stop());

  const call = async (from: string, to: string, urlPath: string) => {
    const reply = await request(emu.url(from), { path: `/call?${new URLSearchParams({ to, path: urlPath, client: 'http' })}` });
    assert.equal(reply.status, 200, reply.body);
    return reply.json<{ status: number; body: string }>();
  };
  const toUrl = await call('box', 'orders', '/orders/1');
  assert.equal(toUrl.status, 200, toUrl.body);
  assert.deepEqual(JSON.parse(toUrl.body), { server: 'dev', method: 'GET', url: '/base/orders/1', host: `127.0.0.1:${remote.port}`, body: '' });

  const toStub = await call('box', 'payments', '/v1/payments/1');
  assert.equal(toStub.status, 200, toStub.body);
  assert.deepEqual(JSON.parse(toStub.body), { id: 1, state: 'paid' });
  assert.equal(emu.stubRequests('payments')[0]!.from, 'box', 'the journal names the calling container');

  const denied = await call('boxed', 'orders', '/orders/1');
  assert.equal(denied.status, 403);
  assert.equal(JSON.parse(denied.body).error, 'inner_call_denied');
  assert.equal(remote.seen.length, 1);
});
