// The small things a new user trips over (issue 13, item 11): each checked through the
// real CLI, the real terminal logger, or a real reload.
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, test } from 'node:test';
import { CLI, echoService, emulatorFor, recordingLogger, run, sleep, startProcess, tempDir, writeConfig } from './helpers.js';
import { createTerminalLogger, formatCall, freePort } from './internals.js';

const plain = (text: string): string => stripVTControlCharacters(text);

async function captured(write: (logger: ReturnType<typeof createTerminalLogger>) => void, names: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk));
  const logger = createTerminalLogger(names, out, out);
  write(logger);
  await sleep(30); // lines are flushed every 10 ms
  return plain(text);
}

describe('terminal output', () => {
  test('[emulator] and [calls] never touch their text, even when service names are short', async () => {
    const text = await captured(
      (logger) => {
        logger.info('Starting 1 service: a');
        logger.serviceEvent('a', 'ready', 'info');
        logger.call({
          from: 'a',
          to: 'a',
          host: 'a-a.inner-call.dyc.ivolces.com',
          method: 'GET',
          path: '/',
          status: 200,
          error: undefined,
          durationMs: 1,
          time: 0,
        });
      },
      ['a'],
    );
    assert.match(text, /^\[emulator\] +Starting 1 service: a$/m);
    assert.match(text, /^\[a\] +ready$/m);
    assert.match(text, /^\[calls\] +a → a GET \/ 200 1\.0ms$/m);
  });

  test('non-ASCII text reaches the terminal as UTF-8: a raw UTF-8 path as it came, a policy name, a service line', async () => {
    const text = await captured(
      (logger) => {
        logger.service('a', 'привет, 世界', 'stdout');
        logger.call({
          from: 'a',
          to: 'a',
          host: 'a-a.inner-call.dyc.ivolces.com',
          method: 'GET',
          path: Buffer.from('/搜索?q=é').toString('latin1'), // a head's path: its bytes, one character each
          status: 200,
          error: undefined,
          durationMs: 0.25,
          time: 0,
          policy: 'слабая сеть',
        });
      },
      ['a'],
    );
    assert.match(text, /^\[a\] +привет, 世界$/m);
    assert.match(text, /^\[calls\] +a → a GET \/搜索\?q=é 200 0\.3ms \[слабая сеть\]$/m);
  });

  test('a call with a 15 KB query prints a short line; the trace keeps it whole', () => {
    const query = `q=${'x'.repeat(15_000)}`;
    const line = plain(
      formatCall({
        from: 'a',
        to: 'b',
        host: 'a-b.inner-call.dyc.ivolces.com',
        method: 'GET',
        path: `/search?${query}`,
        status: 200,
        error: undefined,
        durationMs: 3,
        time: 0,
      }),
    );
    assert.ok(line.length < 300, `${line.length} characters`);
    assert.match(line, /^a → b GET \/search\?q=x+…\(\+14\.\d KB\) 200 3\.0ms$/);
  });
});

describe('CLI', () => {
  test('`up a` says that up takes no service names instead of starting everything', async (t) => {
    const file = writeConfig(t, { services: { a: echoService(), b: echoService() } });
    const result = await run(process.execPath, [CLI, 'up', 'a'], { cwd: path.dirname(file) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /up takes no arguments, but got "a"\. It starts every service of the config/);
    assert.doesNotMatch(result.stdout, /Starting/);
  });

  test('`call gatway …` suggests the service meant', async (t) => {
    const file = writeConfig(t, { services: { gateway: echoService({ allow: ['orders'] }), orders: echoService() } });
    const result = await run(process.execPath, [CLI, 'call', 'gatway', 'orders', '/'], { cwd: path.dirname(file) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /No service is named or has the id "gatway"\. Did you mean "gateway"\?/);
  });

  test('exec next to up: runs on free ports, but says at once why not when a service has a fixed port', async (t) => {
    const [fixed, proxyPort] = [await freePort(), await freePort()];
    const file = writeConfig(t, { services: { a: echoService({ port: fixed }), b: echoService() }, proxy: { port: proxyPort } });
    const cwd = path.dirname(file);
    const up = startProcess(t, process.execPath, [CLI, 'up', '--no-watch'], { cwd });
    await up.waitFor(/All 2 services healthy/);
    const exec = await run(process.execPath, [CLI, 'exec', '--', process.execPath, '-e', '0'], { cwd });
    assert.equal(exec.code, 1);
    assert.match(exec.stderr, new RegExp(`Service "a" needs port ${fixed} \\(services\\.a\\.port\\), but something else is listening on it`));
    assert.match(exec.stderr, /another `emulator up` or `exec` of this config\?.*set "publishedPort" instead/);
    up.child.kill('SIGINT');
    await up.exited;
  });

  test("up's Try: hint names an allowed pair, not the first two services", async (t) => {
    // a may call nobody, b may call a: the hint must be b → a.
    const file = writeConfig(t, { services: { a: echoService(), b: echoService({ allow: ['a'] }) }, proxy: { port: await freePort() } });
    const up = startProcess(t, process.execPath, [CLI, 'up', '--no-watch'], { cwd: path.dirname(file) });
    const [line] = await up.waitFor(/Try: .*/);
    assert.match(line, /http:\/\/b-a\.inner-call\.dyc\.ivolces\.com\/v1\/ping/);
    up.child.kill('SIGINT');
    await up.exited;
  });
});

test("a reload's reason names the file saved, not the editor's temporary (sed -i's sedXXXXXX)", async (t) => {
  const dir = tempDir(t, 'dyc-sed-');
  const source = (version: string): string =>
    `require('node:http').createServer((req, res) => res.end(${JSON.stringify(version)})).listen(Number(process.env.PORT));\nprocess.on('SIGTERM', () => process.exit(0));\n`;
  writeFileSync(path.join(dir, 'server.js'), source('v1'));
  const logger = recordingLogger();
  await emulatorFor(t, { services: { svc: { dir, command: 'node server.js', healthcheck: '/v1/ping' } } }, { logger, watch: true });
  // What `sed -i` does: write the new text to a temporary beside the file, then rename it
  // over the file. A pause between the two (a slow disk, a loaded machine) lets the
  // watcher see the temporary appear.
  const temporary = path.join(dir, 'sed8SaYcz');
  writeFileSync(temporary, source('v2'));
  await sleep(40);
  renameSync(temporary, path.join(dir, 'server.js'));
  const deadline = Date.now() + 15_000;
  while (!logger.events.some((e) => /reloaded in/.test(e))) {
    assert.ok(Date.now() < deadline, logger.events.join('\n'));
    await sleep(20);
  }
  await sleep(300); // a second reload, if any, would have started
  const reloads = logger.events.filter((e) => /^\[svc\] reloading/.test(e));
  assert.equal(reloads.length, 1, reloads.join('\n'));
  assert.match(reloads[0]!, /^\[svc\] reloading \(server\.js changed\)/);
});
