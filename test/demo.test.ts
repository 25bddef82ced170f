import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startEmulator } from '../dist/index.js';
import { recordingLogger, REPO, request } from './helpers.js';

test('the demo mini-program of the root config: allowed chain, visible denial, three languages', async (t) => {
  const logger = recordingLogger();
  const emu = await startEmulator({ config: path.join(REPO, 'emulator.config.json'), proxyPort: 0, dnsPort: 0, logger });
  t.after(() => emu.stop());

  // The mini-program calls the gateway directly (tt.cloud.callContainer), with its headers.
  const order = await request(emu.url('gateway'), { path: '/api/orders/1', headers: { 'X-TT-OPENID': 'demo-user' } });
  assert.equal(order.status, 200, order.body);
  const body = order.json() as { order: { id: number }; user: { name: string }; openid: string };
  assert.equal(body.order.id, 1);
  assert.equal(typeof body.user.name, 'string');
  assert.equal(body.openid, 'demo-user', 'X-TT-OPENID went through two hops');
  assert.ok(emu.calls().some((c) => c.from === 'gateway' && c.to === 'orders' && c.status === 200));
  assert.ok(emu.calls().some((c) => c.from === 'orders' && c.to === 'users' && c.status === 200));

  // users → orders is not allowed: the denial surfaces through the chain.
  const denied = await request(emu.url('gateway'), { path: '/api/users/1/orders' });
  assert.equal(denied.status, 502);
  const detail = (denied.json() as { detail: { error: string; message: string } }).detail;
  assert.equal(detail.error, 'inner_call_denied');
  assert.match(detail.message, /add "orders" to services\.users\.allow/);
  assert.ok(emu.calls().some((c) => c.from === 'users' && c.to === 'orders' && c.error === 'inner_call_denied'));
  assert.ok(logger.lines.some((line) => line.startsWith('[users] ')), 'the Python service logs stream');
});
