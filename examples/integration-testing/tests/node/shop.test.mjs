// Integration tests with node:test: `node --test tests/node/shop.test.mjs`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEmulator } from 'dyc-emulator';

const config = fileURLToPath(new URL('../../emulator.config.json', import.meta.url));

describe('shop', () => {
  /** @type {import('dyc-emulator').Emulator} */
  let emu;
  before(async () => {
    emu = await startEmulator({ config }); // proxy and DNS on free ports
  });
  after(() => emu?.stop());

  test('the mini-program reads an order through the gateway', async () => {
    emu.clearCalls();
    const reply = await fetch(`${emu.url('gateway')}/api/orders/1`);
    assert.equal(reply.status, 200);
    assert.deepEqual(await reply.json(), { via: 'gateway', id: 1, sku: 'mug', user: 'alice', inStock: true });
    assert.deepEqual(
      emu.calls().map(({ from, to, path, status }) => `${from} → ${to} ${path} ${status}`),
      ['orders → inventory /stock/mug 200', 'gateway → orders /orders/1 200'],
    );
  });

  test('orders, called as the gateway', async () => {
    const { body } = await emu.request('gateway', 'orders').get('/orders/2').expect(200);
    assert.equal(body.inStock, false);
    await emu.request('gateway', 'orders').get('/orders/9').expect(404);
  });

  test('the gateway may not call inventory directly', async () => {
    const { body } = await emu.request('gateway', 'inventory').get('/stock/mug').expect(403);
    assert.equal(body.error, 'inner_call_denied');
    assert.equal(emu.calls().at(-1)?.error, 'inner_call_denied');
  });
});

describe('shop, changed for one test', () => {
  test('without permission to call inventory, orders fail with 502', async () => {
    const emu = await startEmulator({ config, services: { orders: { allow: [] } } });
    try {
      const { body } = await emu.request('gateway', 'orders').get('/orders/1').expect(502);
      assert.equal(body.error, 'inventory answered 403');
    } finally {
      await emu.stop();
    }
  });
});
