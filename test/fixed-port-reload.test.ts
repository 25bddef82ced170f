import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import supertest from 'supertest';
import { echoService, emulatorFor, innerCall, recordingLogger, sleep, tempDir, waitForEvent } from './helpers.js';
import { freePort } from './internals.js';

/** A service that insists on one port (read from PORT, which the config fixes) and names its version. */
function serverSource(version: string, broken = false): string {
  return `const http = require('node:http');
const VERSION = ${JSON.stringify(version)};${broken ? '\nthis is not javascript (' : ''}
http.createServer((req, res) => {
  if (req.url === '/v1/ping') return res.end('ok');
  const reply = () => res.end(JSON.stringify({ version: VERSION, pid: process.pid }));
  if (req.url.startsWith('/slow')) setTimeout(reply, 300);
  else reply();
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;
}

/** `svc` (serverSource v1 in a temp dir, on a fixed free port) and `caller`, which may call it; files watched. */
async function fixedPortService(t: TestContext, extra: Record<string, unknown> = {}) {
  const dir = tempDir(t, 'dyc-fixed-');
  const file = path.join(dir, 'server.js');
  writeFileSync(file, serverSource('v1'));
  const port = await freePort();
  const logger = recordingLogger();
  const emu = await emulatorFor(
    t,
    { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js', port, ...extra } } },
    { logger, watch: true },
  );
  return { file, logger, emu };
}

describe('a service with a fixed port', () => {
  test('reloads stop-then-start: the new code answers, calls during the restart wait instead of failing, the log says so', async (t) => {
    const { file, logger, emu } = await fixedPortService(t);
    const first = (await innerCall(emu, 'caller', 'svc', '/')).json();
    assert.equal(first.version, 'v1');

    // Callers in a loop while the file is saved three times: every call must get 200.
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const results: { status: number; version?: string; ms: number }[] = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const started = performance.now();
        const reply = await innerCall(emu, 'caller', 'svc', '/', { agent }).catch((error: Error) => ({
          status: 0,
          body: error.message,
          json: (): Record<string, unknown> => ({}),
        }));
        results.push({ status: reply.status, version: reply.status === 200 ? (reply.json().version as string) : reply.body, ms: performance.now() - started });
      }
    };
    const workers = Array.from({ length: 3 }, worker);
    for (const version of ['v2', 'v3', 'v4']) {
      const from = logger.events.length;
      writeFileSync(file, serverSource(version));
      const reloading = await waitForEvent(logger, /^\[svc\] reloading/, from);
      assert.match(reloading, /stop, then start, as its port \d+ is fixed; calls wait meanwhile/);
      await waitForEvent(logger, /^\[svc\] reloaded in \d+ ms \(server\.js changed\)$/, from);
      await sleep(100);
    }
    running = false;
    await Promise.all(workers);
    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${results.length} calls failed`);
    assert.ok(
      results.some((r) => r.ms > 30),
      'some calls were held during a restart',
    );
    assert.equal((await innerCall(emu, 'caller', 'svc', '/')).json().version, 'v4');
    // The dashboard counts a reload in place as a restart, as it counts a swap.
    const services = (await supertest(emu.proxyUrl).get('/_emulator/services').expect(200)).body as { name: string; restarts: number }[];
    assert.equal(services.find((service) => service.name === 'svc')?.restarts, 3);
    assert.ok(!logger.events.some((e) => /something else is listening/.test(e)), logger.events.join('\n'));
  });

  test('a call in flight finishes on the old instance; a broken save leaves it down with a clear line, the next save brings it back', async (t) => {
    const { file, logger, emu } = await fixedPortService(t, { startTimeout: 5 });
    const slow = innerCall(emu, 'caller', 'svc', '/slow');
    await sleep(30);
    writeFileSync(file, serverSource('v2'));
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.equal(answer.json().version, 'v1');
    await waitForEvent(logger, /^\[svc\] reloaded in/);
    assert.equal((await innerCall(emu, 'caller', 'svc', '/')).json().version, 'v2');

    let from = logger.events.length;
    writeFileSync(file, serverSource('broken', true));
    const failed = await waitForEvent(logger, /^\[svc\] reload failed/, from);
    assert.match(failed, /nothing serves it until the next save \(its port \d+ is fixed/);
    assert.match(failed, /exited with code 1 before it answered GET \/v1\/ping/);
    assert.doesNotMatch(failed, /SyntaxError/, 'the stack was printed as the service wrote it; the event does not repeat it');
    assert.ok(logger.lines.some((line) => /SyntaxError/.test(line)));
    const down = await innerCall(emu, 'caller', 'svc', '/');
    assert.equal(down.status, 503);
    assert.match(down.json().message as string, /failed to start/);

    from = logger.events.length;
    writeFileSync(file, serverSource('fixed'));
    await waitForEvent(logger, /^\[svc\] reloaded in/, from);
    assert.equal((await innerCall(emu, 'caller', 'svc', '/')).json().version, 'fixed');
  });
});
