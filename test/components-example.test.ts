import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, REPO, run, waitGone } from './helpers.js';

const EXAMPLE = path.join(REPO, 'examples/components');

describe('examples/components', () => {
  test('`emulator exec -- node check.mjs` passes, twice (data kept), and reset empties it', async () => {
    const reset = await run(process.execPath, [CLI, 'reset', '--yes'], { cwd: EXAMPLE });
    assert.equal(reset.code, 0, reset.stdout + reset.stderr);
    for (const id of [2, 3]) {
      const result = await run(process.execPath, [CLI, 'exec', '--', process.execPath, 'check.mjs'], { cwd: EXAMPLE, timeoutMs: 180_000 });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      // Note 1 is db/schema.sql's; the first check adds note 2, the second (same data) note 3.
      assert.match(result.stdout, new RegExp(`ok: note ${id} is in MySQL \\(127\\.0\\.0\\.1:\\d+\\) and Redis \\(127\\.0\\.0\\.1:\\d+\\)`));
    }
    assert.deepEqual(await waitGone(path.join(EXAMPLE, '.emulator')), [], 'no server is left');
    const again = await run(process.execPath, [CLI, 'reset', '--yes'], { cwd: EXAMPLE });
    assert.match(again.stdout, /Deleted the data of (redis, mysql|mysql, redis)/);
  });
});
