import assert from 'node:assert/strict';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { Emulator } from '../dist/index.js';
import { CLI, echoService, emulatorFor, innerCall, recordingLogger, request, sleep, startProcess, tempDir, writeConfig } from './helpers.js';
import { freePort } from './internals.js';

/** A service whose answer names its code version and its process. SIGTERM ends it at once. */
function serverSource(version: string, broken = false): string {
  return `const http = require('node:http');
const VERSION = ${JSON.stringify(version)};${broken ? '\nthis is not javascript (' : ''}
http.createServer((req, res) => {
  if (req.url === '/v1/ping') return res.end('ok');
  const reply = () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ version: VERSION, pid: process.pid, greeting: process.env.GREETING || null }));
  };
  if (req.url.startsWith('/slow')) setTimeout(reply, 300);
  else reply();
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;
}

function versionedService(t: TestContext, version = 'v1'): string {
  const dir = tempDir(t, 'dyc-reload-');
  writeFileSync(path.join(dir, 'server.js'), serverSource(version));
  return dir;
}

/** Waits until the logger has an event matching `pattern` (counting from `from`). */
async function waitForEvent(logger: ReturnType<typeof recordingLogger>, pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const index = logger.events.findIndex((event, i) => i >= from && pattern.test(event));
    if (index !== -1) return index;
    assert.ok(Date.now() < deadline, `no event ${pattern} in:\n${logger.events.slice(from).join('\n')}`);
    await sleep(10);
  }
}

const count = (logger: ReturnType<typeof recordingLogger>, pattern: RegExp): number => logger.events.filter((event) => pattern.test(event)).length;

async function version(emu: Emulator, urlPath = '/'): Promise<{ version: string; pid: number; greeting: string | null; status: number }> {
  const reply = await innerCall(emu, 'caller', 'svc', urlPath);
  return { ...(reply.status === 200 ? reply.json() : {}), status: reply.status } as never;
}

describe('hot reload', () => {
  test('10 edits under continuous load: no failed call, and after each reload only the new code answers', async (t) => {
    const dir = versionedService(t);
    const logger = recordingLogger();
    const emu = await emulatorFor(
      t,
      { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } } },
      { logger, watch: true },
    );

    // Load: 4 callers in a loop through the proxy, each call stamped with when it started.
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const results: { started: number; status: number; version?: string }[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        const started = performance.now();
        try {
          const reply = await innerCall(emu, 'caller', 'svc', '/', { agent });
          results.push({ started, status: reply.status, version: reply.status === 200 ? (reply.json().version as string) : reply.body });
        } catch (error) {
          results.push({ started, status: 0, version: String(error) });
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const loadStarted = performance.now();

    const switched: number[] = [];
    for (let edit = 2; edit <= 11; edit++) {
      const from = logger.events.length;
      writeFileSync(path.join(dir, 'server.js'), serverSource(`v${edit}`));
      await waitForEvent(logger, /^\[svc\] reloaded in \d+ ms \(server\.js changed\)$/, from);
      switched.push(performance.now());
      await sleep(150);
    }
    running = false;
    await Promise.all(workers);
    const seconds = (performance.now() - loadStarted) / 1000;

    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${results.length} calls failed`);
    assert.ok(results.length / seconds >= 100, `only ${Math.round(results.length / seconds)} calls/s`);
    // A call that started after reload k was announced is answered by version k or newer, never older.
    switched.forEach((at, k) => {
      const expected = k + 2;
      const stale = results.filter((r) => r.started > at && Number(r.version!.slice(1)) < expected);
      assert.deepEqual(stale, [], `calls after reload to v${expected} answered by older code`);
    });
    assert.equal(results.at(-1)!.version, 'v11');
    assert.equal(count(logger, /^\[svc\] reloading/), 10);
  });

  test('every editor save pattern gives exactly one reload; 50 files at once too', async (t) => {
    const dir = versionedService(t);
    const logger = recordingLogger();
    const emu = await emulatorFor(
      t,
      { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } } },
      { logger, watch: true },
    );
    const file = path.join(dir, 'server.js');

    const patterns: [string, (v: string) => void][] = [
      ['in-place write', (v) => writeFileSync(file, serverSource(v))],
      [
        'temp file renamed over (vim, JetBrains)',
        (v) => {
          writeFileSync(path.join(dir, 'server.js___jb_tmp___'), serverSource(v));
          renameSync(path.join(dir, 'server.js___jb_tmp___'), file);
        },
      ],
      [
        'delete then create',
        (v) => {
          unlinkSync(file);
          writeFileSync(file, serverSource(v));
        },
      ],
      [
        'a checkout of 50 files',
        (v) => {
          for (let i = 0; i < 49; i++) writeFileSync(path.join(dir, `module-${i}.js`), `module.exports = ${i};\n`);
          writeFileSync(file, serverSource(v));
        },
      ],
    ];
    for (const [name, save] of patterns) {
      const before = count(logger, /^\[svc\] reloading/);
      const from = logger.events.length;
      save(name);
      await waitForEvent(logger, /^\[svc\] reloaded in/, from);
      await sleep(600); // a second reload would have started by now
      assert.equal(count(logger, /^\[svc\] reloading/) - before, 1, `${name}: ${logger.events.slice(from).join(' | ')}`);
      assert.equal((await version(emu)).version, name);
    }
  });

  test('polling mode (watchOptions.polling) sees changes too', async (t) => {
    const dir = versionedService(t);
    const logger = recordingLogger();
    const emu = await emulatorFor(
      t,
      { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } }, watchOptions: { polling: true, interval: 50 } },
      { logger, watch: true },
    );
    writeFileSync(path.join(dir, 'server.js'), serverSource('polled'));
    await waitForEvent(logger, /^\[svc\] reloaded in/);
    assert.equal((await version(emu)).version, 'polled');
  });

  test('a change that does not start keeps the old instance serving; the next save tries again', async (t) => {
    const dir = versionedService(t);
    const logger = recordingLogger();
    const emu = await emulatorFor(
      t,
      { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js', startTimeout: 5 } } },
      { logger, watch: true },
    );
    const before = await version(emu);

    writeFileSync(path.join(dir, 'server.js'), serverSource('broken', true));
    const failed = await waitForEvent(logger, /^\[svc\] reload failed; the previous version keeps serving\./);
    assert.match(logger.events[failed]!, /exited with code 1 before it answered GET \/v1\/ping/);
    // The stack shows once, as the service wrote it; the event names the failure and the fix.
    assert.doesNotMatch(logger.events[failed]!, /SyntaxError/);
    assert.ok(logger.lines.some((line) => /SyntaxError/.test(line)));
    const during = await version(emu);
    assert.equal(during.version, 'v1');
    assert.equal(during.pid, before.pid, 'the old instance still serves');

    const from = logger.events.length;
    writeFileSync(path.join(dir, 'server.js'), serverSource('fixed'));
    await waitForEvent(logger, /^\[svc\] reloaded in/, from);
    assert.equal((await version(emu)).version, 'fixed');
  });

  test('a call in flight during a reload completes on the old instance', async (t) => {
    const dir = versionedService(t);
    const logger = recordingLogger();
    const emu = await emulatorFor(
      t,
      { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } } },
      { logger, watch: true },
    );
    const slow = version(emu, '/slow'); // answers after 300 ms
    await sleep(20);
    writeFileSync(path.join(dir, 'server.js'), serverSource('v2'));
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.equal(answer.version, 'v1');
    await waitForEvent(logger, /^\[svc\] reloaded in/);
    assert.equal((await version(emu)).version, 'v2');
  });
});

describe('live config reload', () => {
  async function setup(t: TestContext) {
    const dir = versionedService(t);
    const other = versionedService(t);
    const logger = recordingLogger();
    const config = (overrides: Record<string, unknown> = {}) => ({
      services: {
        caller: echoService({ allow: [] }),
        svc: { dir, command: 'node server.js', env: { GREETING: 'hello' } },
        other: { dir: other, command: 'node server.js' },
        ...overrides,
      },
    });
    const file = writeConfig(t, config());
    const { startEmulator } = await import('../dist/index.js');
    const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, logger, watch: true });
    t.after(() => emu.stop());
    const write = (value: unknown) => writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    return { emu, logger, config, write, dir };
  }

  test('an allow change applies to the next call without restarting anything', async (t) => {
    const { emu, logger, config, write } = await setup(t);
    assert.equal((await version(emu)).status, 403);
    const before = logger.events.length;
    write(config({ caller: echoService({ allow: ['svc'] }) }));
    await waitForEvent(logger, /config: caller may now call svc/, before);
    const after = await version(emu);
    assert.equal(after.status, 200);
    assert.equal(count(logger, /reloading/), 0, 'nothing restarted');
  });

  test('a changed service restarts that service only; added and removed services start and stop', async (t) => {
    const { emu, logger, config, write, dir } = await setup(t);
    write(config({ caller: echoService({ allow: ['svc', 'other'] }) }));
    await waitForEvent(logger, /config: caller may now call svc, other/);
    const svcBefore = await version(emu);
    const otherBefore = (await innerCall(emu, 'caller', 'other', '/')).json().pid;

    const from = logger.events.length;
    write(config({ caller: echoService({ allow: ['svc', 'other'] }), svc: { dir, command: 'node server.js', env: { GREETING: 'changed' } } }));
    await waitForEvent(logger, /^\[svc\] reloaded in \d+ ms \(config changed\)$/, from);
    const svcAfter = await version(emu);
    assert.equal(svcAfter.greeting, 'changed');
    assert.notEqual(svcAfter.pid, svcBefore.pid);
    assert.equal((await innerCall(emu, 'caller', 'other', '/')).json().pid, otherBefore, 'other kept running');
    assert.ok(!logger.events.slice(from).some((e) => e.startsWith('[other] reloading')));

    // Add a service, remove another.
    const addedDir = versionedService(t, 'added');
    const from2 = logger.events.length;
    const next = config({ caller: echoService({ allow: ['svc', 'added'] }), added: { dir: addedDir, command: 'node server.js' } }) as {
      services: Record<string, unknown>;
    };
    delete next.services.other;
    next.services.svc = { dir, command: 'node server.js', env: { GREETING: 'changed' } };
    write(next);
    await waitForEvent(logger, /^\[added\] ready in/, from2);
    await waitForEvent(logger, /config: other removed/, from2);
    assert.equal((await innerCall(emu, 'caller', 'added', '/')).json().version, 'added');
    const gone = await request(emu.proxyUrl, { headers: { host: 'caller-other.inner-call.dyc.ivolces.com' } });
    assert.equal(gone.status, 404, 'other is gone: unknown_service');
    assert.equal(gone.headers['x-emulator-error'], 'unknown_service');
  });

  test('an invalid edit keeps the running config and says why; fixing it applies it', async (t) => {
    const { emu, logger, config, write } = await setup(t);
    const from = logger.events.length;
    write('{ "services": { "caller": { "comand": "node server.js" } } }');
    const index = await waitForEvent(logger, /the new config is invalid; the running config stays in place/, from);
    assert.match(logger.events[index]!, /unknown key "comand"\. Did you mean "command"\?/);
    assert.match(logger.events[index]!, /\nFix: Edit the config as shown above/, 'a logged error keeps its fix');
    assert.equal((await version(emu)).status, 403, 'old routing still in force');
    assert.equal((await innerCall(emu, 'caller', 'other', '/')).status, 403);

    write(config({ caller: echoService({ allow: ['svc'] }) }));
    await waitForEvent(logger, /config: caller may now call svc/, index);
    assert.equal((await version(emu)).status, 200);
  });
});

test('emulator up reloads on save and prints it; --no-watch does not', async (t) => {
  const dir = versionedService(t);
  const ports = { proxy: { port: await freePort() }, dns: { port: await freePort() }, entry: { port: await freePort() } };
  const file = writeConfig(t, { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } }, ...ports });
  const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file]);
  await up.waitFor(/Watching 2 services and emulator\.config\.json for changes/);
  writeFileSync(path.join(dir, 'server.js'), serverSource('v2'));
  await up.waitFor(/\[svc\]\s+reloaded in \d+ ms \(server\.js changed\)/);
  up.child.kill('SIGINT');
  await up.exited;

  const quiet = startProcess(t, process.execPath, [CLI, 'up', '--no-watch', '--config', file]);
  await quiet.waitFor(/All 2 services healthy/);
  writeFileSync(path.join(dir, 'server.js'), serverSource('v3'));
  await sleep(1000);
  assert.doesNotMatch(quiet.output(), /reload/);
  quiet.child.kill('SIGINT');
  await quiet.exited;
});
