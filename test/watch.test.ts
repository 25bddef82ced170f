// Hot reload's watching: which files reload a service (the built-in ignores, explicit globs,
// which win over the ignores they name, "!" exclusions, `watch: []`), and the chain that
// applies config edits. Real files, real chokidar.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig, startHotReload, watchFiles } from './internals.js';
import { echoService, recordingLogger, sleep, tempDir, writeConfig } from './helpers.js';

const FILES = ['server.js', 'src/app.js', 'src/gen/out.js', 'build/bundle.js', 'node_modules/lib/index.js', 'logs/app.log', '.server.js.swp', 'README.md'];

/** Starts a watcher over a fresh folder holding FILES, touches every file, and returns what it reported. */
async function changedFiles(t: TestContext, globs: string[] | undefined): Promise<string[]> {
  const dir = tempDir(t, 'dyc-watch-');
  const write = (): void => {
    for (const file of FILES) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), String(Math.random()));
    }
  };
  write();
  const seen = new Set<string>();
  const watcher = await watchFiles({
    dir,
    globs,
    polling: false,
    interval: 100,
    debounceMs: 50,
    onChange: (files) => files.forEach((file) => seen.add(file)),
    onError: (error) => assert.fail(error),
  });
  t.after(() => watcher.stop());
  await sleep(100);
  write();
  // A marker that every selection but "nothing" reports, so the wait has an end.
  for (const deadline = Date.now() + 5_000; Date.now() < deadline && !seen.has('server.js'); ) await sleep(20);
  await sleep(300);
  return [...seen].sort();
}

test('default: everything but dependency, VCS and build folders and editor side files', async (t) => {
  assert.deepEqual(await changedFiles(t, undefined), ['README.md', 'server.js', 'src/app.js', 'src/gen/out.js']);
});

test('explicit globs win over the built-in ignores they name; "!" excludes', async (t) => {
  assert.deepEqual(await changedFiles(t, ['server.js', 'build/**', 'logs/*.log']), ['build/bundle.js', 'logs/app.log', 'server.js']);
  assert.deepEqual(await changedFiles(t, ['**/*.js', '!src/gen/**']), ['server.js', 'src/app.js'], '**/*.js does not reach into node_modules or build');
  assert.deepEqual(await changedFiles(t, ['!src/**']), ['README.md', 'server.js'], 'only exclusions: the default minus those');
});

test('a temporary renamed over a file is not named, even when its unlink comes in a later batch (sed -i)', async (t) => {
  // chokidar holds an unlink back ~100 ms to spot atomic saves; with a shorter debounce the
  // temporary's add and its unlink land in two batches, as they can under load at the
  // default 100 ms.
  const dir = tempDir(t, 'dyc-watch-sed-');
  writeFileSync(path.join(dir, 'server.js'), 'v1');
  const batches: string[][] = [];
  const watcher = await watchFiles({
    dir,
    polling: false,
    interval: 100,
    debounceMs: 50,
    onChange: (files) => batches.push(files),
    onError: (error) => assert.fail(error),
  });
  t.after(() => watcher.stop());
  await sleep(100);
  writeFileSync(path.join(dir, 'sedAb12Cd'), 'v2');
  await sleep(15); // within the debounce: the add is seen, its batch not yet written
  renameSync(path.join(dir, 'sedAb12Cd'), path.join(dir, 'server.js'));
  await sleep(500);
  assert.ok(batches.length > 0, 'the save is reported');
  assert.deepEqual(
    batches.flat().filter((file) => file !== 'server.js'),
    [],
    JSON.stringify(batches),
  );
});

test('watch: [] watches nothing', async (t) => {
  assert.deepEqual(await changedFiles(t, []), []);
});

test('a config edit whose apply fails is reported, and the next edit still applies; stop() is memoised', async (t) => {
  const file = writeConfig(t, { services: { api: echoService({ watch: false }) }, cloudEnv: 'DEV' });
  let config = loadConfig(file);
  const applied: string[] = [];
  const logger = recordingLogger();
  const reload = await startHotReload({
    config: () => config,
    loadConfig: () => loadConfig(file),
    async applyConfig(next) {
      if (applied.length === 0) {
        applied.push(`failed ${next.cloudEnv}`);
        throw new Error('the first apply fails');
      }
      applied.push(next.cloudEnv);
      config = next;
    },
    reloadService: async () => false,
    logger,
  });
  t.after(() => reload.stop());
  const edit = async (cloudEnv: string, expected: number): Promise<void> => {
    writeFileSync(file, JSON.stringify({ services: { api: echoService({ watch: false }) }, cloudEnv }, null, 2));
    for (const deadline = Date.now() + 5_000; applied.length < expected; await sleep(20))
      assert.ok(Date.now() < deadline, `no apply after the edit to ${cloudEnv}: ${applied.join(', ')}`);
  };
  await edit('PROD', 1);
  await edit('DEV', 2);
  assert.deepEqual(applied, ['failed PROD', 'DEV']);
  assert.ok(
    logger.events.some((event) => /emulator\.config\.json changed, but applying the new config failed: the first apply fails/.test(event)),
    logger.events.join('\n'),
  );
  assert.equal(reload.stop(), reload.stop(), 'stop() returns the same promise');
  await reload[Symbol.asyncDispose]();
});
