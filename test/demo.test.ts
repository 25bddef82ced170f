import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createCloud } from 'dyc-emulator/tt';
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
  assert.ok(
    logger.lines.some((line) => line.startsWith('[users] ')),
    'the Python service logs stream',
  );

  // Through the entry, as the mini-program's users (entry.users of the root config).
  const mine = async (user: string) =>
    (await emu.entry({ user }).get('/api/my/orders').expect(200)).body as { user: { name: string }; orders: { item: string }[] };
  const alice = await mine('alice');
  assert.equal(alice.user.name, 'Alice');
  assert.deepEqual(
    alice.orders.map((o) => o.item),
    ['Douyin mug', 'Phone stand'],
  );
  const bob = await mine('bob');
  assert.equal(bob.user.name, 'Bob');
  assert.deepEqual(
    bob.orders.map((o) => o.item),
    ['Ring light'],
  );
  assert.ok(emu.calls().some((c) => c.from === 'mini-program' && c.user === 'bob' && c.to === 'gateway' && c.path === '/api/my/orders'));

  // The anonymous guest is known (/api/me) but has no orders; nobody at all gets 401.
  const guest = (await emu.entry({ user: 'guest' }).get('/api/me').expect(200)).body as {
    openid: string | null;
    anonymousOpenid: string;
    appId: string;
    env: string;
  };
  assert.deepEqual([guest.openid, guest.anonymousOpenid, guest.appId, guest.env], [null, 'ao_guest', 'tt1234567890abcdef', 'env-local']);
  assert.equal((await emu.entry({ user: 'guest' }).get('/api/my/orders').expect(401)).body.error, 'login_required');
  const direct = await request(emu.url('gateway'), { path: '/api/my/orders' });
  assert.equal(direct.status, 401, 'the service called straight, without the gateway: no identity');
  assert.equal(direct.json().error, 'unauthorized');
  // A forged X-TT-OPENID through the entry does not make anyone Alice.
  const forged = (await emu.entry({ user: 'bob' }).get('/api/my/orders').set('X-TT-OPENID', 'o_alice').expect(200)).body as { user: { name: string } };
  assert.equal(forged.user.name, 'Bob');
});

test('the demo as mini-program code sees it: tt.createCloud().callContainer through the entry', async (t) => {
  const emu = await startEmulator({ config: path.join(REPO, 'emulator.config.json'), proxyPort: 0, dnsPort: 0 });
  t.after(() => emu.stop());
  const cloud = createCloud({ envID: 'env-local', serviceID: 'gw01', entryUrl: emu.entryUrl, user: 'bob' });
  const { statusCode, data } = await cloud.callContainer({ path: '/api/my/orders' });
  assert.equal(statusCode, 200);
  assert.equal((JSON.parse(data) as { user: { name: string } }).user.name, 'Bob');
});
