// dyc-emulator/tt: the mini-program's callContainer, against the real entry (see also test/entry.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { CallContainerError, createCloud, type CallContainerFailure, type CallContainerSuccess } from 'dyc-emulator/tt';
import { REPO, run } from './helpers.js';
import { freePort } from '../dist/util/net.js';

test('the type test against @douyin-microapp/typings compiles (and fails when the shapes differ)', async () => {
  // test/types/tt-typings.ts assigns our createCloud/callContainer to the platform's types; its @ts-expect-error lines prove it can fail.
  const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', 'test/types/tsconfig.json'], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
});

test('dyc-emulator/tt has no import: it runs in a browser as it is', async () => {
  const { readFileSync } = await import('node:fs');
  for (const file of ['dist/tt/index.js']) {
    const source = readFileSync(path.join(REPO, file), 'utf8');
    assert.doesNotMatch(source, /^\s*import\s/m, `${file} must not import anything`);
    assert.doesNotMatch(source, /require\(/, `${file} must not require anything`);
  }
});

/** Calls callContainer and returns what the callbacks and the Promise got. */
async function outcome(promiseOf: (callbacks: { success: (r: CallContainerSuccess) => void; fail: (r: CallContainerFailure) => void; complete: (r: unknown) => void }) => Promise<CallContainerSuccess>) {
  const seen: { success?: CallContainerSuccess; fail?: CallContainerFailure; complete?: unknown; rejected?: CallContainerError; resolved?: CallContainerSuccess } = {};
  try {
    seen.resolved = await promiseOf({ success: (r) => (seen.success = r), fail: (r) => (seen.fail = r), complete: (r) => (seen.complete = r) });
  } catch (error) {
    assert.ok(error instanceof CallContainerError, String(error));
    seen.rejected = error;
  }
  return seen;
}

test('invalid parameters fail with errNo 20000 and say how to fix them', async () => {
  const cloud = createCloud({ envID: 'env-local', entryUrl: 'http://127.0.0.1:9' });
  const cases: [Parameters<typeof cloud.callContainer>[0], RegExp][] = [
    [{} as { path: string }, /path is required/],
    [{ path: 'api' }, /must start with "\/".*"\/api"/],
    [{ path: '/', init: { method: 'HEAD' as 'GET' } }, /init\.method "HEAD" is not supported; use one of GET, OPTIONS, POST/],
    [{ path: '/', init: { method: 'GET', body: 'x' } }, /GET request cannot carry a body/],
    [{ path: '/', init: { header: { 'X-Emulator-User': 'bob' } } }, /must not set X-Emulator-User: pass .*user to createCloud/],
    [{ path: '/', init: { header: { 'bad name': 'x' } } }, /invalid header name "bad name"/],
    [{ path: '/', init: { timeout: -1 } }, /init\.timeout must be a positive number/],
  ];
  for (const [options, message] of cases) {
    const seen = await outcome((callbacks) => cloud.callContainer({ ...options, ...callbacks }));
    assert.equal(seen.fail?.errNo, 20000, JSON.stringify(options));
    assert.match(seen.fail!.errMsg, /^callContainer:fail invalid param: /);
    assert.match(seen.fail!.errMsg, message);
    assert.deepEqual(seen.complete, seen.fail);
    assert.equal(seen.rejected?.errNo, 20000);
    assert.equal(seen.success, undefined);
  }
  assert.throws(() => createCloud({} as { envID: string }), /envID is required/);
});

test('an entry that is not running: errNo 21100 naming the URL and `emulator up`', async () => {
  const port = await freePort();
  const cloud = createCloud({ envID: 'env-local', entryUrl: `http://127.0.0.1:${port}` });
  const seen = await outcome((callbacks) => cloud.callContainer({ path: '/api', ...callbacks }));
  assert.equal(seen.fail?.errNo, 21100);
  assert.match(seen.fail!.errMsg, new RegExp(`cannot reach the emulator's entry at http://127.0.0.1:${port} \\(ECONNREFUSED\\)\\. Start it with \`npx emulator up\``));
});

test('with fail/complete callbacks an ignored Promise is no unhandled rejection; without them it rejects', async () => {
  const cloud = createCloud({ envID: 'env-local', entryUrl: `http://127.0.0.1:${await freePort()}` });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let failed: CallContainerFailure | undefined;
  void cloud.callContainer({ path: '/', fail: (res) => (failed = res) });
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(failed?.errNo, 21100);
  assert.deepEqual(unhandled, []);
  await assert.rejects(cloud.callContainer({ path: '/' }), (error: CallContainerError) => error.errNo === 21100 && error.errMsg.startsWith('callContainer:fail network error'));
});
