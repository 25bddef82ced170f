import assert from 'node:assert/strict';
import { mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { CLI, processesWith, REPO, run, sleep } from './helpers.js';

const EXAMPLE = path.join(REPO, 'examples/integration-testing');
const VITEST = path.join(REPO, 'node_modules/vitest/vitest.mjs');

/** What `npm install` in the example would do for "dyc-emulator": "file:../..": a link to this repository, and its bin. */
function link(target: string, at: string): void {
  mkdirSync(path.dirname(at), { recursive: true });
  try {
    if (readlinkSync(at) === target) return;
  } catch {
    // Missing: create it.
  }
  symlinkSync(target, at);
}

async function assertNothingLeft(marker: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await processesWith(marker)).length > 0 && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await processesWith(marker), [], 'no service outlives the test run');
}

describe('examples/integration-testing', () => {
  before(() => {
    link('../../..', path.join(EXAMPLE, 'node_modules/dyc-emulator'));
    link('../dyc-emulator/bin/emulator.js', path.join(EXAMPLE, 'node_modules/.bin/emulator'));
  });

  test('node:test suite passes', async () => {
    const marker = `DYC_EXAMPLE_NODE_${process.pid}`;
    // NODE_TEST_CONTEXT would make the inner `node --test` report to us instead of printing.
    const env = { [marker]: '1', NODE_OPTIONS: '', NODE_TEST_CONTEXT: undefined };
    const result = await run(process.execPath, ['--test', '--test-reporter=tap', 'tests/node/shop.test.mjs'], { cwd: EXAMPLE, env, timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^# pass 4$/m);
    assert.match(result.stdout, /^# fail 0$/m);
    await assertNothingLeft(marker);
  });

  test('Vitest suite passes (two files in parallel, each with its own emulator)', async () => {
    const marker = `DYC_EXAMPLE_VITEST_${process.pid}`;
    const result = await run(process.execPath, [VITEST, 'run', '--reporter=verbose'], {
      cwd: EXAMPLE,
      env: { [marker]: '1', NODE_OPTIONS: '', CI: '1' },
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Test Files {2}2 passed \(2\)/);
    assert.match(result.stdout, /Tests {2}3 passed \(3\)/);
    await assertNothingLeft(marker);
  });

  test('Python unittest through `emulator exec` passes', async () => {
    const marker = `DYC_EXAMPLE_PY_${process.pid}`;
    const result = await run(process.execPath, [CLI, 'exec', '--quiet', '--', 'python3', '-m', 'unittest', 'discover', '-s', 'tests/python', '-v'], {
      cwd: EXAMPLE,
      env: { [marker]: '1', NODE_OPTIONS: '' },
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /^Ran 3 tests in [\d.]+s\n\nOK$/m);
    await assertNothingLeft(marker);
  });

  test('a failing test fails the exec run', async () => {
    const result = await run(
      process.execPath,
      [CLI, 'exec', '-q', '--', 'python3', '-c', 'import os, sys; assert "EMULATOR_URL_INVENTORY" in os.environ; sys.exit(1)'],
      {
        cwd: EXAMPLE,
        timeoutMs: 60_000,
      },
    );
    assert.equal(result.code, 1);
  });
});
