import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { CLI, echoService, processesWith, run, startProcess, tempDir, writeConfig, waitGone } from './helpers.js';
import { freePort } from './internals.js';

/** A config on free ports; every process exec starts inherits `marker` in its env, to be found in /proc. */
async function execConfig(t: TestContext, services: Record<string, unknown> = {}) {
  return writeConfig(t, {
    services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService(), ...services },
    proxy: { port: await freePort() },
    dns: { port: await freePort() },
  });
}

const newMarker = (name: string) => `DYC_EXEC_${name}_${process.pid}_${Date.now()}`;

describe('emulator exec', () => {
  test('exit codes pass through: 0, 1, 42, and 128+n for a signal', async (t) => {
    const file = await execConfig(t);
    const marker = newMarker('CODES');
    for (const [script, code] of [
      ['exit 0', 0],
      ['exit 1', 1],
      ['exit 42', 42],
      ['kill -9 $$', 137],
      ['kill -TERM $$', 143],
    ] as const) {
      const result = await run(process.execPath, [CLI, 'exec', '-q', '--config', file, '--', 'sh', '-c', script], { env: { [marker]: '1' } });
      assert.equal(result.code, code, `${script}: ${result.stderr}`);
    }
    assert.deepEqual(await waitGone(marker), []);
  });

  test('the command sees EMULATOR_PROXY, EMULATOR_DNS and EMULATOR_URL_<NAME>', async (t) => {
    const file = await execConfig(t, { 'my_api.v2': echoService({ id: 'my-api' }) });
    const result = await run(process.execPath, [CLI, 'exec', '-q', '--config', file, '--', 'sh', '-c', 'env | grep ^EMULATOR_ | sort']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^EMULATOR_DNS=127\.0\.0\.1:\d+$/m);
    assert.match(result.stdout, /^EMULATOR_PROXY=http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(result.stdout, /^EMULATOR_URL_GATEWAY=http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(result.stdout, /^EMULATOR_URL_MY_API_V2=http:\/\/127\.0\.0\.1:\d+$/m);
  });

  test('a failed start-up exits 1 with the service’s last log lines, without running the command', async (t) => {
    const marker = newMarker('FAIL');
    const file = await execConfig(t, { broken: echoService({ env: { CRASH_AT_START: '1' } }) });
    const ran = path.join(tempDir(t), 'ran');
    const result = await run(process.execPath, [CLI, 'exec', '--config', file, '--', 'touch', ran], { env: { [marker]: '1' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /✖ broken exited with code 3 before it answered GET \/v1\/ping/);
    assert.match(result.stderr, /\| crashing at start as asked/);
    assert.match(result.stderr, /Fix: /);
    assert.doesNotMatch(result.stderr, /failed unexpectedly/);
    assert.equal(existsSync(ran), false, 'the command did not run');
    assert.deepEqual(await waitGone(marker), []);
  });

  test('SIGINT while the command runs stops it, its children and every service; exit 130', async (t) => {
    const marker = newMarker('SIGINT');
    const file = await execConfig(t);
    // The command starts a child of its own and ignores nothing: all must go.
    const exec = startProcess(t, process.execPath, [CLI, 'exec', '--config', file, '--', 'sh', '-c', 'sleep 600 & echo "command running"; wait'], {
      env: { [marker]: '1' },
    });
    await exec.waitFor(/command running/);
    assert.ok((await processesWith(marker)).length >= 5, 'exec, two services, the command and its sleep');
    exec.child.kill('SIGINT');
    const { code } = await exec.exited;
    assert.equal(code, 130);
    assert.deepEqual(await waitGone(marker), [], 'nothing is left behind');
  });

  test('SIGTERM to a command that ignores it: killed after the grace period; exit 143', async (t) => {
    const marker = newMarker('STUBBORN');
    const file = await execConfig(t);
    const exec = startProcess(
      t,
      process.execPath,
      [CLI, 'exec', '-q', '--config', file, '--', 'sh', '-c', `trap '' TERM INT; echo "command running"; while :; do sleep 0.1; done`],
      {
        env: { [marker]: '1' },
      },
    );
    await exec.waitFor(/command running/);
    const started = Date.now();
    exec.child.kill('SIGTERM');
    assert.equal((await exec.exited).code, 143);
    const took = Date.now() - started;
    assert.ok(took >= 4000 && took < 12_000, `took ${took} ms`);
    assert.deepEqual(await waitGone(marker), []);
  });

  test('SIGINT during start-up stops the starting services; exit 130, no error printed', async (t) => {
    const marker = newMarker('EARLY');
    const file = await execConfig(t, { slow: echoService({ command: 'sleep 30 && node server.js' }) });
    const ran = path.join(tempDir(t), 'ran');
    const exec = startProcess(t, process.execPath, [CLI, 'exec', '--config', file, '--', 'touch', ran], { env: { [marker]: '1' } });
    await exec.waitFor(/\[gateway\]\s+ready in/);
    exec.child.kill('SIGINT');
    assert.equal((await exec.exited).code, 130);
    assert.doesNotMatch(exec.output(), /✖/);
    assert.equal(existsSync(ran), false);
    assert.deepEqual(await waitGone(marker), []);
  });

  test('background processes the command leaves behind are stopped when it exits', async (t) => {
    const marker = newMarker('LEFTOVER');
    const file = await execConfig(t);
    const result = await run(process.execPath, [CLI, 'exec', '-q', '--config', file, '--', 'sh', '-c', '(sleep 600 &); echo done'], { env: { [marker]: '1' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /done/);
    assert.deepEqual(await waitGone(marker), []);
  });
});
