// Overrides per test file: the same config, other data and permissions.
import { startEmulator, type Emulator } from 'dyc-emulator';
import { afterAll, beforeAll, expect, test } from 'vitest';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({
    config: 'emulator.config.json',
    services: { inventory: { env: { STOCK: 'mug=0,tee=5' } } },
  });
});
afterAll(() => emu?.stop());

test('stock comes from the overridden environment', async () => {
  const { body } = await emu.request('gateway', 'orders').get('/orders/1').expect(200);
  expect(body.inStock).toBe(false);
  await emu.request('orders', 'inventory').get('/stock/tee').expect(200, { sku: 'tee', available: 5 });
});
