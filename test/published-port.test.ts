import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, echoService, emulatorFor, recordingLogger, request, run, startProcess, tempDir, waitForEvent, writeConfig } from './helpers.js';
import { freePort } from './internals.js';

function serverSource(version: string): string {
  return `const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/v1/ping') return res.end('ok');
  if (req.url === '/crash') { res.end('bye'); return setTimeout(() => process.exit(1), 10); }
  res.end(JSON.stringify({ version: ${JSON.stringify(version)}, port: process.env.PORT }));
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;
}

describe("a service's published port (its stable address)", () => {
  test('emu.url(name) stays the same across a reload and a crash restart, and reaches the current instance; calls meanwhile wait', async (t) => {
    const dir = tempDir(t, 'dyc-published-');
    writeFileSync(path.join(dir, 'server.js'), serverSource('v1'));
    const logger = recordingLogger();
    const emu = await emulatorFor(t, { services: { svc: { dir, command: 'node server.js' } } }, { logger, watch: true });
    const url = emu.url('svc');
    const first = (await request(url)).json();
    assert.equal(first.version, 'v1');
    assert.notEqual(new URL(url).port, first.port, 'the published port is not the instance port');
    assert.ok(
      logger.events.some((e) => e.includes(`ready in`) && e.includes(url)),
      `the ready line names ${url}: ${logger.events.join('\n')}`,
    );

    writeFileSync(path.join(dir, 'server.js'), serverSource('v2'));
    await waitForEvent(logger, /^\[svc\] reloaded in/);
    const second = (await request(url)).json();
    assert.equal(emu.url('svc'), url);
    assert.equal(second.version, 'v2');
    assert.notEqual(second.port, first.port, 'a new instance on a new port');

    // A crash: the restart comes after a 0.5 s backoff; a call in the meantime waits for it.
    await request(url, { path: '/crash' });
    await waitForEvent(logger, /^\[svc\] .*exited with code 1; restarting/);
    const started = performance.now();
    const third = await request(url);
    assert.equal(third.status, 200);
    assert.equal(third.json().version, 'v2');
    assert.ok(performance.now() - started > 100, 'it waited for the restart');
    assert.equal(emu.url('svc'), url);
  });

  test('publishedPort fixes it: `up` prints it, `routes` shows it, exec runs beside up on free ports', async (t) => {
    const dir = tempDir(t, 'dyc-published-');
    writeFileSync(path.join(dir, 'server.js'), serverSource('v1'));
    const [publishedPort, proxyPort, dnsPort] = [await freePort(), await freePort(), await freePort()];
    const file = writeConfig(t, {
      services: { svc: { dir, command: 'node server.js', publishedPort }, other: echoService() },
      proxy: { port: proxyPort },
      dns: { port: dnsPort },
    });
    const cwd = path.dirname(file);

    const before = await run(process.execPath, [CLI, 'routes'], { cwd });
    assert.match(before.stdout, new RegExp(`svc\\s+http://127\\.0\\.0\\.1:${publishedPort}`));
    assert.match(before.stdout, /other\s+a free port at each `up` \(set services\.other\.publishedPort to fix it\)/);

    const up = startProcess(t, process.execPath, [CLI, 'up'], { cwd });
    await up.waitFor(new RegExp(`\\[svc\\]\\s+ready in \\d+ ms \\(http://127\\.0\\.0\\.1:${publishedPort}, instance port \\d+\\)`));
    const otherUrl = (await up.waitFor(/\[other\]\s+ready in \d+ ms \((http:\/\/127\.0\.0\.1:\d+),/))[1]!;
    await up.waitFor(/Watching/);
    assert.equal((await request(`http://127.0.0.1:${publishedPort}`)).json().version, 'v1');

    const routes = await run(process.execPath, [CLI, 'routes'], { cwd });
    assert.match(routes.stdout, /Direct URLs \(emulator up is running/);
    assert.match(routes.stdout, new RegExp(`other\\s+${otherUrl.replace(/[.]/g, '\\.')}`));

    writeFileSync(path.join(dir, 'server.js'), serverSource('v2'));
    await up.waitFor(/\[svc\]\s+reloaded in/);
    assert.equal((await request(`http://127.0.0.1:${publishedPort}`)).json().version, 'v2');

    // exec of the same config next to it: its own free ports, so it starts and the command sees its URLs.
    const exec = await run(process.execPath, [CLI, 'exec', '--quiet', '--', process.execPath, '-e', 'console.log(process.env.EMULATOR_URL_SVC)'], { cwd });
    assert.equal(exec.code, 0, exec.stderr + exec.stdout);
    const execUrl = exec.stdout.trim().split('\n').at(-1)!;
    assert.match(execUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(execUrl, `http://127.0.0.1:${publishedPort}`);

    up.child.kill('SIGINT');
    await up.exited;
  });

  test('publishedPort in the config is checked against other ports', async (t) => {
    const file = writeConfig(t, { services: { a: echoService({ publishedPort: 18555 }), b: echoService({ port: 18555 }) } });
    const result = await run(process.execPath, [CLI, 'validate', '--config', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /services\.b\.port .*port 18555 is already used by service "a"/);
  });
});
