import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startEmulator } from '../dist/index.js';
import type { EmulatorError } from './internals.js';
import { ECHO_DIR, echoService, emulatorFor, processesWith, recordingLogger, request, sleep, writeConfig } from './helpers.js';

describe('process runtime', () => {
  test('injects SERVICE_ID, PORT, CLOUD_ENV, TZ, user env and the proxy variables', async (t) => {
    const emu = await emulatorFor(t, {
      cloudEnv: 'PROD',
      services: {
        gateway: echoService({ id: 'gw01', env: { GREETING: 'hi', NO_PROXY: 'internal.example' } }),
        tz: echoService({ env: { TZ: 'Asia/Shanghai' } }),
      },
    });
    const env = (await request(emu.url('gateway'), { path: '/env' })).json() as Record<string, string>;
    assert.equal(env.SERVICE_ID, 'gw01');
    // PORT is the instance's port; emu.url() is the service's published port, which forwards there.
    const info = (await request(emu.proxyUrl, { path: '/_emulator/info' })).json<{ services: { name: string; instanceUrl: string }[] }>();
    assert.equal(env.PORT, new URL(info.services.find((service) => service.name === 'gateway')!.instanceUrl).port);
    assert.notEqual(env.PORT, new URL(emu.url('gateway')).port);
    assert.equal(env.CLOUD_ENV, 'PROD');
    assert.equal(env.TZ, 'UTC');
    assert.equal(env.GREETING, 'hi');
    assert.match(env.HTTP_PROXY!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(env.http_proxy, env.HTTP_PROXY);
    assert.notEqual(env.HTTP_PROXY, emu.proxyUrl, 'each service has its own egress port');
    assert.equal(env.NO_PROXY, 'internal.example,localhost,127.0.0.1,::1');
    assert.match(env.NODE_OPTIONS!, /--require ".*preload\.cjs"/);
    assert.match(env.JAVA_TOOL_OPTIONS!, /-Dhttp\.proxyHost=127\.0\.0\.1 -Dhttp\.proxyPort=\d+/);
    const tz = (await request(emu.url('tz'), { path: '/env' })).json() as Record<string, string>;
    assert.equal(tz.TZ, 'Asia/Shanghai', 'a TZ the user sets wins');
    const tzOther = (await request(emu.url('tz'), { path: '/env' })).json() as Record<string, string>;
    assert.notEqual(tzOther.HTTP_PROXY, env.HTTP_PROXY);
  });

  test('a service that never becomes healthy fails start-up with its last log lines', async (t) => {
    const file = writeConfig(t, {
      services: {
        ok: echoService(),
        mute: { dir: ECHO_DIR, command: `node -e "console.log('booting the mute service'); setInterval(() => {}, 1000)"`, startTimeout: 1 },
      },
    });
    const started = Date.now();
    await assert.rejects(startEmulator({ config: file, proxyPort: 0, dnsPort: 0 }), (error: EmulatorError) => {
      assert.equal(error.code, 'service_unhealthy');
      assert.match(
        error.message,
        /mute did not become healthy in 1 s \(cold start timeout\): GET \/v1\/ping on port \d+, connection refused \(nothing listens on the port yet\)/,
      );
      assert.match(error.message, /\| booting the mute service/);
      assert.match(error.fix ?? '', /answer GET \/v1\/ping with 200 or 404/);
      return true;
    });
    assert.ok(Date.now() - started < 8000);
  });

  test('a cold start timeout says what the health probe saw last', async (t) => {
    const file = writeConfig(t, { services: { sick: echoService({ healthcheck: '/status/500', startTimeout: 1 }) } });
    await assert.rejects(
      startEmulator({ config: file, proxyPort: 0, dnsPort: 0 }),
      /sick did not become healthy in 1 s \(cold start timeout\): GET \/status\/500 on port \d+, the answer was 500\./,
    );
  });

  test('a service that exits at start fails fast with its exit code and output', async (t) => {
    const file = writeConfig(t, { services: { bad: echoService({ env: { CRASH_AT_START: '1' } }) } });
    await assert.rejects(
      startEmulator({ config: file, proxyPort: 0, dnsPort: 0 }),
      /bad exited with code 3 before it answered GET \/v1\/ping[\s\S]*\| crashing at start as asked/,
    );
  });

  test('404 on the health path counts as alive, as on the platform', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ healthcheck: '/status/404' }) } });
    assert.equal((await request(emu.url('a'), { path: '/v1/ping' })).status, 200);
  });

  test('a crashing service is restarted with backoff and its crash reported', async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, { services: { a: echoService() } }, { logger });
    await request(emu.url('a'), { path: '/crash' });
    const waitFor = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!logger.events.some((e) => pattern.test(e))) {
        assert.ok(Date.now() < deadline, `no event ${pattern}:\n${logger.events.join('\n')}`);
        await sleep(20);
      }
    };
    await waitFor(/^\[a\] a exited with code 1; restarting in 500 ms$/);
    await waitFor(/^\[a\] restarted$/);
    assert.equal((await request(emu.url('a'), { path: '/v1/ping' })).status, 200);
    // A second crash soon after waits longer.
    await request(emu.url('a'), { path: '/crash' });
    await waitFor(/^\[a\] a exited with code 1; restarting in 1 s$/);
  });

  test('replicas share calls round-robin', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService({ replicas: 2 }) } });
    const ports = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const reply = await request(emu.proxyUrl, { path: '/env', headers: { host: 'a-b.inner-call.dyc.ivolces.com' } });
      ports.add(reply.json().PORT as string);
    }
    assert.equal(ports.size, 2);
  });

  test('stop() ends the whole process group, grandchildren included, and is idempotent', async (t) => {
    const marker = `DYC_TEST_MARKER_${process.pid}_${Date.now()}`;
    const emu = await emulatorFor(t, {
      services: {
        // The shell starts a grandchild that ignores SIGTERM, then runs the service.
        a: echoService({ command: `sh -c 'trap "" TERM; sleep 600 & exec node server.js'`, env: { [marker]: '1' } }),
      },
    });
    assert.ok((await processesWith(marker)).length >= 2, 'service and grandchild run');
    await Promise.all([emu.stop(), emu.stop()]);
    await emu.stop();
    assert.deepEqual(await processesWith(marker), []);
  });
});
