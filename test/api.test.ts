import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { startEmulator, type Emulator, type EmulatorError, type StartOptions } from '../dist/index.js';
import { ECHO_DIR, echoService, processesWith, request, tempDir, writeConfig, waitGone } from './helpers.js';

/** Two services: gateway (id gw01) may call orders; orders may call nothing. */
const shop = () => ({
  services: {
    gateway: echoService({ id: 'gw01', allow: ['orders'] }),
    orders: echoService(),
  },
});

/** startEmulator with its own defaults (free ports), stopped when the test ends. */
async function start(t: TestContext, options: StartOptions): Promise<Emulator> {
  const emu = await startEmulator(options);
  t.after(() => emu.stop());
  return emu;
}

const marker = (name: string) => `DYC_API_${name}_${process.pid}_${Date.now()}`;

describe('programmatic API', () => {
  test('two emulators of one config run side by side on free ports by default', async (t) => {
    const file = writeConfig(t, shop());
    const [a, b] = await Promise.all([start(t, { config: file }), start(t, { config: file })]);
    assert.notEqual(a.proxyUrl, b.proxyUrl);
    assert.notEqual(a.dns.port, b.dns.port);
    assert.notEqual(a.url('orders'), b.url('orders'));
    await a.request('gateway', 'orders').get('/echo?who=a').expect(200);
    await b.request('gateway', 'orders').get('/echo?who=b').expect(200);
    assert.deepEqual(
      a.calls().map((call) => call.path),
      ['/echo?who=a'],
    );
    assert.deepEqual(
      b.calls().map((call) => call.path),
      ['/echo?who=b'],
    );
  });

  test('request(from, to) acts as `from` through the proxy; denials are the proxy’s 403 JSON', async (t) => {
    const emu = await start(t, { config: shop(), root: ECHO_DIR });
    const ok = await emu.request('gateway', 'orders').post('/echo?x=1').set('x-tt-openid', 'u1').send({ a: 1 }).expect(200);
    assert.equal(ok.body.name, 'orders');
    assert.equal(ok.body.method, 'POST');
    assert.equal(ok.body.headers.host, 'gw01-orders.inner-call.dyc.ivolces.com');
    assert.equal(ok.body.headers['x-tt-openid'], 'u1');
    // Ids work as well as names.
    await emu.request('gw01', 'orders').get('/v1/ping').expect(200, { ok: true, name: 'orders' });
    assert.equal(emu.innerCallUrl('gw01', 'orders', 'x'), 'http://gw01-orders.inner-call.dyc.ivolces.com/x', 'one lookup: innerCallUrl takes ids too');
    assert.equal(emu.url('gw01'), emu.url('gateway'));
    const denied = await emu.request('orders', 'gateway').get('/').expect(403).expect('x-emulator-error', 'inner_call_denied');
    assert.equal(denied.body.error, 'inner_call_denied');
    assert.equal(denied.body.from, 'orders');
    assert.equal(denied.body.to, 'gw01');
    assert.match(denied.body.message, /To allow it, add "gateway" to services\.orders\.allow/);
    // A target's own errors pass through untouched.
    const own = await emu.request('gateway', 'orders').get('/status/418').expect(418);
    assert.equal(own.headers['x-emulator-error'], undefined);
    assert.throws(
      () => emu.request('gateway', 'ordres'),
      (error: EmulatorError) => {
        assert.equal(error.code, 'usage');
        assert.match(error.message, /No service is named or has the id "ordres"\. Did you mean "orders"\? Services: gateway \(id gw01\), orders\./);
        return true;
      },
    );
  });

  test('calls() records from, to, method, path, status, error, durationMs and time; clearCalls() forgets', async (t) => {
    const emu = await start(t, { config: shop(), root: ECHO_DIR });
    const before = Date.now();
    await emu.request('gateway', 'orders').get('/echo?n=1').expect(200);
    await emu.request('orders', 'gateway').delete('/thing').expect(403);
    await emu.request('gateway', 'orders').get('/status/500').expect(500);
    const calls = emu.calls();
    assert.equal(calls.length, 3);
    assert.deepEqual(
      calls.map(({ from, to, method, path, status, error, host }) => ({ from, to, method, path, status, error, host })),
      [
        { from: 'gateway', to: 'orders', method: 'GET', path: '/echo?n=1', status: 200, error: undefined, host: 'gw01-orders.inner-call.dyc.ivolces.com' },
        {
          from: 'orders',
          to: 'gateway',
          method: 'DELETE',
          path: '/thing',
          status: 403,
          error: 'inner_call_denied',
          host: 'orders-gw01.inner-call.dyc.ivolces.com',
        },
        { from: 'gateway', to: 'orders', method: 'GET', path: '/status/500', status: 500, error: undefined, host: 'gw01-orders.inner-call.dyc.ivolces.com' },
      ],
    );
    for (const call of calls) {
      assert.ok(call.durationMs >= 0 && call.durationMs < 5000, `durationMs ${call.durationMs}`);
      assert.ok(call.time >= before && call.time <= Date.now(), `time ${call.time}`);
    }
    // A call one service makes to another is recorded the same way.
    const viaService = await request(emu.url('gateway'), { path: '/call?to=orders&path=/echo%3Fnested=1' });
    assert.equal(viaService.status, 200);
    assert.deepEqual(
      { ...emu.calls().at(-1), durationMs: 0, time: 0 },
      {
        from: 'gateway',
        to: 'orders',
        host: 'gw01-orders.inner-call.dyc.ivolces.com',
        method: 'GET',
        path: '/echo?nested=1',
        status: 200,
        error: undefined,
        durationMs: 0,
        time: 0,
      },
    );
    emu.clearCalls();
    assert.deepEqual(emu.calls(), []);
    await emu.request('gateway', 'orders').get('/v1/ping').expect(200);
    assert.equal(emu.calls().length, 1);
    assert.notEqual(emu.calls(), emu.calls(), 'calls() returns a copy');
  });

  test('stop() is idempotent and stops every process', async (t) => {
    const tag = marker('STOP');
    const emu = await startEmulator({ config: shop(), root: ECHO_DIR, env: { [tag]: '1' } });
    t.after(() => emu.stop()); // in case an assertion fails first
    assert.ok((await processesWith(tag)).length >= 2, 'two services (and their shells) run');
    const orders = emu.url('orders');
    const first = emu.stop();
    const second = emu.stop();
    assert.equal(first, second, 'one stop, shared');
    await Promise.all([first, second]);
    await emu.stop();
    await emu[Symbol.asyncDispose]();
    assert.deepEqual(await waitGone(tag), []);
    await assert.rejects(request(orders, { path: '/v1/ping' }), /ECONNREFUSED/);
    await assert.rejects(request(emu.proxyUrl, { path: '/_emulator/info' }), /ECONNREFUSED/);
  });

  test('`await using` stops the emulator when the test body throws', async () => {
    const tag = marker('DISPOSE');
    let proxyUrl = '';
    await assert.rejects(async () => {
      await using emu = await startEmulator({ config: shop(), root: ECHO_DIR, env: { [tag]: '1' } });
      proxyUrl = emu.proxyUrl;
      assert.ok((await processesWith(tag)).length >= 2);
      await emu.request('gateway', 'orders').get('/v1/ping').expect(500); // fails: it is 200
    }, /expected 500 "Internal Server Error", got 200 "OK"/);
    assert.deepEqual(await waitGone(tag), [], 'no service survives the failed test');
    await assert.rejects(request(proxyUrl, { path: '/_emulator/info' }), /ECONNREFUSED/);
  });

  test('a service that exits at start: EmulatorError with its last log lines, nothing left running', async () => {
    const tag = marker('CRASH');
    const started = Date.now();
    await assert.rejects(
      startEmulator({ config: shop(), root: ECHO_DIR, env: { [tag]: '1' }, services: { orders: { env: { CRASH_AT_START: '1' } } } }),
      (error: EmulatorError) => {
        assert.equal(error.name, 'EmulatorError');
        assert.equal(error.code, 'service_unhealthy');
        assert.match(error.message, /orders exited with code 3 before it answered GET \/v1\/ping on port \d+\./);
        assert.match(error.message, /Last log lines of orders:\n {2}\| crashing at start as asked/);
        assert.match(error.fix ?? '', /answer GET \/v1\/ping with 200 or 404/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 10_000, 'fails fast');
    assert.deepEqual(await waitGone(tag), [], 'the healthy gateway was stopped too');
  });

  test('a service that never becomes healthy: the cold start timeout, with its last log lines', async () => {
    const tag = marker('MUTE');
    const mute = `node -e "for (let i = 1; i <= 60; i++) console.log('boot step ' + i); setInterval(() => {}, 1000)"`;
    await assert.rejects(
      startEmulator({ config: shop(), root: ECHO_DIR, env: { [tag]: '1' }, services: { orders: { command: mute, startTimeout: 1 } } }),
      (error: EmulatorError) => {
        assert.equal(error.code, 'service_unhealthy');
        assert.match(
          error.message,
          /orders did not become healthy in 1 s \(cold start timeout\): GET \/v1\/ping on port \d+, connection refused \(nothing listens on the port yet\)\./,
        );
        assert.match(error.message, /\| boot step 60$/m);
        assert.doesNotMatch(error.message, /\| boot step 1$/m, 'only the last lines');
        assert.match(error.fix ?? '', /raise services\.orders\.startTimeout/);
        return true;
      },
    );
    assert.deepEqual(await waitGone(tag), []);
  });

  test('overrides: per-service env, allow, command and port; a global env; added services', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(
      t,
      {
        services: {
          gateway: echoService({ id: 'gw01', allow: ['orders'], env: { KEEP: 'file', REPLACE: 'file' } }),
          orders: echoService({ port: 1, env: { FROM_FILE: 'yes' } }), // port 1 cannot work: the override must clear it
        },
      },
      dir,
    );
    const emu = await start(t, {
      config: file,
      env: { GLOBAL: 'g', REPLACE: 'global' },
      cloudEnv: 'PROD',
      services: {
        gateway: { env: { REPLACE: 'override' } },
        orders: { port: null, allow: ['gateway'], command: 'ECHO_NAME=custom node server.js' },
        extra: { dir: ECHO_DIR, command: 'node server.js', env: { ONLY: 'extra' } },
      },
    });
    const gatewayEnv = (await emu.request('orders', 'gateway').get('/env').expect(200)).body as Record<string, string>;
    assert.equal(gatewayEnv.KEEP, 'file', 'the file’s env stays');
    assert.equal(gatewayEnv.REPLACE, 'override', 'a service override beats the global env, which beats the file');
    assert.equal(gatewayEnv.GLOBAL, 'g');
    assert.equal(gatewayEnv.CLOUD_ENV, 'PROD');
    const orders = (await emu.request('gateway', 'orders').get('/env').expect(200)).body as Record<string, string>;
    assert.equal(orders.FROM_FILE, 'yes');
    assert.equal(orders.GLOBAL, 'g');
    assert.notEqual(orders.PORT, '1', 'port: null gives a free port');
    assert.equal((await emu.request('gateway', 'orders').get('/v1/ping').expect(200)).body.name, 'custom', 'command replaced');
    const extra = (await request(emu.url('extra'), { path: '/env' })).json<Record<string, string>>();
    assert.equal(extra.ONLY, 'extra');
    assert.equal(extra.GLOBAL, 'g', 'the global env reaches added services');
    const ordersConfig = emu.config.services.get('orders')!;
    assert.equal(ordersConfig.kind === 'process' ? ordersConfig.port : 'not a process', undefined);
    assert.deepEqual([...emu.config.services.get('orders')!.allow], ['gateway']);
  });

  test('a bad override is reported like a bad line of the file', async (t) => {
    const file = writeConfig(t, shop());
    await assert.rejects(startEmulator({ config: file, services: { gateway: { allow: ['ordres'] } } }), (error: EmulatorError) => {
      assert.equal(error.code, 'config_invalid');
      assert.match(error.message, /services\.gateway\.allow\[0\] \(line \d+, column \d+\): "ordres" is not a service name or id\. Did you mean "orders"\?/);
      assert.match(error.message, /\^+/, 'a caret under the bad value');
      assert.match(error.message, /The config as changed by the overrides passed to startEmulator: services\.gateway\./);
      return true;
    });
    await assert.rejects(startEmulator({ config: file, services: { orders: { alow: ['gateway'] } as never } }), /unknown key "alow"\. Did you mean "allow"\?/);
  });

  test('a config object with root; the file by default from the working directory', async (t) => {
    const dir = tempDir(t);
    mkdirSync(path.join(dir, 'svc'));
    // Relative paths of a config object resolve against `root`.
    await assert.rejects(startEmulator({ config: { services: { a: { dir: 'svc', command: 'node server.js' } } }, root: dir }), (error: EmulatorError) => {
      assert.equal(error.code, 'service_unhealthy'); // it ran in dir/svc, where there is no server.js
      assert.match(error.message, /Cannot find module '.*svc\/server\.js'/);
      return true;
    });
    await assert.rejects(startEmulator({ config: { services: { a: { command: 'node server.js', allow: ['b'] } } }, root: dir }), (error: EmulatorError) => {
      assert.equal(error.code, 'config_invalid');
      assert.match(error.message, new RegExp(`Invalid config ${dir}/<config object> \\(1 problem\\)`));
      assert.match(error.message, /services\.a\.allow\[0\] \(line \d+, column \d+\): "b" is not a service name or id/);
      return true;
    });

    writeConfig(t, shop(), dir);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const emu = await start(t, {});
      assert.equal(emu.config.file, path.join(dir, 'emulator.config.json'));
      await emu.request('gateway', 'orders').get('/v1/ping').expect(200);
    } finally {
      process.chdir(cwd);
    }
  });
});
