import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { echoService, emulatorFor, innerCall, recordingLogger, request, tempDir, writeConfig } from './helpers.js';
import { startEmulator } from '../dist/index.js';
import { EmulatorError, freePort } from './internals.js';

/** Starts a config that must fail; returns the error and what the logger saw. */
async function failedStart(t: import('node:test').TestContext, services: Record<string, unknown>): Promise<{ error: EmulatorError; events: string[] }> {
  const logger = recordingLogger();
  const file = writeConfig(t, { services });
  try {
    const emu = await startEmulator({ config: file, logger });
    await emu.stop();
  } catch (error) {
    assert.ok(error instanceof EmulatorError, String(error));
    return { error, events: logger.events };
  }
  assert.fail('it started');
}

describe('health-check failures say what happened', () => {
  test('a service bound to ::1 only (listen(PORT, "localhost") on macOS) is found there, and calls go there', async (t) => {
    const dir = tempDir(t, 'dyc-v6-');
    writeFileSync(
      path.join(dir, 'server.js'),
      `require('node:http').createServer((req, res) => res.end('v6 ' + req.url)).listen(Number(process.env.PORT), '::1');\nprocess.on('SIGTERM', () => process.exit(0));\n`,
    );
    const logger = recordingLogger();
    const emu = await emulatorFor(t, { services: { caller: echoService({ allow: ['svc'] }), svc: { dir, command: 'node server.js' } } }, { logger });
    assert.ok(
      logger.events.some((e) => /^\[svc\] answers on \[::1\]:\d+ only/.test(e)),
      logger.events.join('\n'),
    );
    const viaProxy = await innerCall(emu, 'caller', 'svc', '/x');
    assert.equal(viaProxy.status, 200);
    assert.equal(viaProxy.body, 'v6 /x');
    assert.equal((await request(emu.url('svc'), { path: '/y' })).body, 'v6 /y');
    // The instance's own address is a valid URL: the IPv6 host in brackets.
    const info = (await request(emu.proxyUrl, { path: '/_emulator/info' })).json<{ services: { name: string; instanceUrl: string }[] }>();
    const instanceUrl = info.services.find((service) => service.name === 'svc')!.instanceUrl;
    assert.match(instanceUrl, /^http:\/\/\[::1\]:\d+$/);
    assert.equal((await request(instanceUrl, { path: '/z' })).body, 'v6 /z');
  });

  test('a service that listens on a port of its own: "it listens on N: set port"', async (t) => {
    const own = await freePort();
    const dir = tempDir(t, 'dyc-own-');
    // Like Flask's 5000 or uvicorn's 8000: the port is in the code, PORT is ignored.
    writeFileSync(
      path.join(dir, 'server.js'),
      `require('node:http').createServer((req, res) => res.end('ok')).listen(${own}, '127.0.0.1');\nprocess.on('SIGTERM', () => process.exit(0));\n`,
    );
    const { error, events } = await failedStart(t, { svc: { dir, command: 'node server.js', startTimeout: 3 } });
    assert.match(
      error.message,
      new RegExp(`did not become healthy in 3 s \\(cold start timeout\\): GET /v1/ping on port \\d+, [^;]+; it listens on ${own}\\.`),
    );
    assert.match(error.fix!, new RegExp(`Set "port": ${own} in services\\.svc .* or make it listen on the port in \\$PORT`));
    assert.doesNotMatch(error.fix!, /startTimeout/);
    assert.ok(
      events.some((e) => new RegExp(`^\\[svc\\] nothing answers on \\$PORT \\(\\d+\\) yet, but it listens on ${own}\\.`).test(e)),
      events.join('\n'),
    );
  });

  test('exit code 0: "exited on its own", and the fix is not "raise startTimeout"', async (t) => {
    const { error } = await failedStart(t, { svc: { dir: tempDir(t), command: 'echo built' } });
    assert.match(error.message, /svc exited on its own \(code 0\) before it answered GET \/v1\/ping/);
    assert.match(error.fix!, /must keep running and serve HTTP: make services\.svc\.command \("echo built"\) start the server in the foreground/);
  });

  test('exit code 127: "command not found", naming the command', async (t) => {
    const { error } = await failedStart(t, { svc: { dir: tempDir(t), command: 'pyhton3 app.py' } });
    assert.match(error.message, /svc exited with code 127: command not found before it answered/);
    assert.match(error.message, /pyhton3: (command )?not found/, "the shell's own line is among the last log lines");
    assert.match(error.fix!, /could not find the program of services\.svc\.command \("pyhton3 app\.py"\)/);
  });
});
