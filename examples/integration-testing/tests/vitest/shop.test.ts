// Integration tests with Vitest: `npx vitest run`. Files run in parallel, each with its own emulator.
import { startEmulator, type Emulator } from 'dyc-emulator';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';

describe('shop', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ config: 'emulator.config.json' }); // relative to the working directory
  });
  afterAll(() => emu?.stop());
  beforeEach(() => emu.clearCalls());

  test('the mini-program reads an order through the gateway', async () => {
    const reply = await fetch(`${emu.url('gateway')}/api/orders/1`);
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({ via: 'gateway', id: 1, sku: 'mug', user: 'alice', inStock: true });
    expect(emu.calls()).toMatchObject([
      { from: 'orders', to: 'inventory', method: 'GET', path: '/stock/mug', status: 200 },
      { from: 'gateway', to: 'orders', method: 'GET', path: '/orders/1', status: 200 },
    ]);
  });

  test('a call the allow-list forbids gets the platform’s 403', async () => {
    await emu.request('gateway', 'orders').get('/orders/2').expect(200, /"inStock":false/);
    const denied = await emu.request('gateway', 'inventory').get('/stock/mug').expect(403);
    expect(denied.body).toMatchObject({ error: 'inner_call_denied', from: 'gw01', to: 'inventory' });
    expect(emu.calls().at(-1)).toMatchObject({ from: 'gateway', to: 'inventory', status: 403, error: 'inner_call_denied' });
  });
});
