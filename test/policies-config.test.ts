// Issue 15: `policies`, `policiesSeed` and `loadBalancer` in the config file: every bad
// input rejected with the file, the JSON path, the line and the fix (library and
// `emulator validate`), live reload of rules without restarting services, `emulator
// routes` showing the rules in force (run-time ones from the running emulator).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, startEmulator } from '../dist/index.js';
import { CLI, configError, echoService, innerCall, recordingLogger, REPO, run, sleep, writeConfig } from './helpers.js';
import { freePort } from './internals.js';

const FLAKY_DIR = path.join(REPO, 'test/fixtures/flaky');

function world(extra: Record<string, unknown> = {}, orders: Record<string, unknown> = {}): Record<string, unknown> {
  return { services: { gateway: echoService({ allow: ['orders'] }), orders: { dir: FLAKY_DIR, command: 'node server.js', ...orders } }, ...extra };
}

describe('policies in the config file', () => {
  test('each bad input names the JSON path, the line and the fix', (t) => {
    const unknownKey = configError(t, world({ policies: [{ to: 'orders', retry: { attempts: 2, backofMs: 50 } }] }));
    assert.match(unknownKey, /policies\[0\]\.retry\.backofMs \(line \d+, column \d+\): unknown key "backofMs"\. Did you mean "backoffMs"\?/);
    assert.match(unknownKey, /Fix: Remove it, or use one of: attempts, backoffMs, on\./);

    const percent = configError(t, world({ policies: [{ to: 'orders', fault: { abort: 503, percent: 150 } }] }));
    assert.match(percent, /policies\[0\]\.fault\.percent \(line \d+, column \d+\): must be at most 100, got number 150\./);
    assert.match(percent, /\^\^\^/, 'a caret under the value');
    assert.match(percent, /Fix: Use a number from 0 to 100: the share of matching calls that get the fault/);

    const timeout = configError(t, world({ policies: [{ to: 'orders', timeout: -2 }] }));
    assert.match(timeout, /policies\[0\]\.timeout \(line \d+, column \d+\): must be at least 0/);
    assert.match(timeout, /Fix: Use a positive number of seconds, e.g. "timeout": 2/);

    const abort = configError(t, world({ policies: [{ to: 'orders', fault: { abort: 'oops' } }] }));
    assert.match(abort, /policies\[0\]\.fault\.abort \(line \d+, column \d+\): expected a number, got "oops"\./);
    assert.match(abort, /Fix: Use an HTTP status from 200 to 599, e.g. "abort": 503; for a broken connection use "type": "reset" instead\./);
    const abortRange = configError(t, world({ policies: [{ to: 'orders', fault: { abort: 700 } }] }));
    assert.match(abortRange, /policies\[0\]\.fault\.abort .*must be at most 599, got number 700/);

    const unknownService = configError(t, world({ policies: [{ from: 'gatewy', to: 'orders' }] }));
    assert.match(unknownService, /policies\[0\]\.from \(line \d+, column \d+\): "gatewy" is not a service name or id\. Did you mean "gateway"\?/);
    assert.match(unknownService, /Fix: Use one of "gateway", "orders", "mini-program" \(calls through the entry\) or "\*" for any\./);

    const balancer = configError(t, world({}, { replicas: 2, loadBalancer: { algorithm: 'random', maxFailures: -1 } }));
    assert.match(balancer, /services\.orders\.loadBalancer\.algorithm .*expected one of "round-robin", "least-connections", "weighted", got "random"/);
    assert.match(balancer, /services\.orders\.loadBalancer\.maxFailures .*must be at least 0/);

    const framing = configError(t, world({ policies: [{ to: 'orders', request: { set: { headers: { 'Content-Length': '3' } } } }] }));
    assert.match(framing, /"Content-Length" cannot be shaped/);

    const both = configError(t, world({ policies: [{ to: 'orders', fault: { abort: 503, type: 'reset' } }] }));
    assert.match(both, /policies\[0\]\.fault .*has both "abort" and "type"\.\n[\s\S]*Fix: Keep one/);
  });

  test('a valid file resolves names and ids, defaults and the seed', (t) => {
    const config = loadConfig(
      writeConfig(
        t,
        world({
          policiesSeed: 7,
          policies: [
            { name: 'slow orders', from: 'mini-program', to: 'orders', path: '/api/*', timeout: 1.5, retry: { attempts: 2 }, fault: { delayMs: 100 } },
            { to: '*', circuitBreaker: { consecutiveFailures: 3 } },
          ],
        }),
      ),
    );
    const [first, second] = config.policies;
    assert.equal(first!.label, 'slow orders');
    assert.equal(first!.from, 'mini-program');
    assert.equal(first!.to, 'orders');
    assert.equal(first!.path, '/api/');
    assert.equal(first!.pathPrefix, true);
    assert.equal(first!.timeoutMs, 1500);
    assert.deepEqual(first!.retry!.on, ['connect-failure', 'reset']);
    assert.equal(first!.retry!.backoffMs, 25);
    assert.equal(first!.fault!.percent, 100);
    assert.equal(second!.label, 'policies[1]');
    assert.equal(second!.to, undefined);
    assert.equal(second!.circuitBreaker!.openMs, 30_000);
    assert.equal(config.policiesSeed, 7);
  });

  test('`emulator validate` rejects a bad rule with the fix and exits 1; `routes` lists the rules', async (t) => {
    const bad = writeConfig(t, world({ policies: [{ to: 'ordrs', fault: { abort: 503 } }] }));
    const result = await run('node', [CLI, 'validate', '--config', bad]);
    assert.equal(result.code, 1);
    assert.match(result.stderr + result.stdout, /policies\[0\]\.to \(line \d+, column \d+\): "ordrs" is not a service name or id\. Did you mean "orders"\?/);
    assert.match(result.stderr + result.stdout, /Fix: Use one of "gateway", "orders" or "\*" for any\./);

    const good = writeConfig(
      t,
      world(
        { policies: [{ from: 'gateway', to: 'orders', timeout: 2, fault: { abort: 503, percent: 10 } }] },
        { replicas: 2, loadBalancer: { maxFailures: 2 } },
      ),
    );
    const valid = await run('node', [CLI, 'validate', '--config', good]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /policies\[0\] {2}gateway → orders: timeout 2 s · fault abort 503 at 10 %/);
    const routes = await run('node', [CLI, 'routes', '--config', good]);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(
      routes.stdout,
      /Call rules \(the first that matches a call applies\):\n {2}policies\[0\] {2}gateway → orders: timeout 2 s · fault abort 503 at 10 %/,
    );
    assert.match(routes.stdout, /orders: 2 replicas, round-robin, ejects after 2 failures in a row/);
  });

  test('`emulator routes` shows the run-time rules of the emulator running on proxy.port, before the file’s', async (t) => {
    const port = await freePort();
    const file = writeConfig(t, world({ proxy: { port }, policies: [{ to: 'orders', timeout: 3 }] }));
    const emu = await startEmulator({ config: file, proxyPort: port, dnsPort: 0 });
    t.after(() => emu.stop());
    emu.setPolicies([{ name: 'flaky orders', to: 'orders', fault: { abort: 503, percent: 25 } }]);
    const routes = await run('node', [CLI, 'routes', '--config', file]);
    assert.match(routes.stdout, /flaky orders {2}\* → orders: fault abort 503 at 25 %\n {2}policies\[0\] {2}\* → orders: timeout 3 s/);
    assert.match(routes.stdout, new RegExp(`run-time rules from the emulator on port ${port}; fault seed ${emu.seed}`));
  });
});

describe('live reload of policies and loadBalancer', () => {
  test('edits apply to the next call without restarting services; an invalid edit keeps the old rules and prints the error', async (t) => {
    const file = writeConfig(t, world({ policies: [{ to: 'orders', path: '/x', fault: { abort: 500 } }] }));
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, logger, watch: true });
    t.after(() => emu.stop());
    const wait = async (pattern: RegExp, from: number): Promise<string> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = logger.events.slice(from).find((line) => pattern.test(line));
        if (found !== undefined) return found;
        assert.ok(Date.now() < deadline, `no ${pattern} in:\n${logger.events.slice(from).join('\n')}`);
        await sleep(20);
      }
    };
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 500);
    const ordersUrl = emu.url('orders');

    let from = logger.events.length;
    writeFileSync(
      file,
      JSON.stringify(world({ policies: [{ to: 'orders', path: '/x', fault: { abort: 418 } }] }, { loadBalancer: { algorithm: 'least-connections' } }), null, 2),
    );
    await wait(/config: 1 call rule in force from the file/, from);
    await wait(/config: services\.orders\.loadBalancer applied/, from);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 418);
    assert.equal(emu.url('orders'), ordersUrl, 'orders was not restarted');
    assert.ok(!logger.events.slice(from).some((line) => /reloading/.test(line)), logger.events.slice(from).join('\n'));

    from = logger.events.length;
    writeFileSync(file, JSON.stringify(world({ policies: [{ to: 'orders', path: '/x', fault: { abort: 418, percent: 101 } }] }), null, 2));
    const error = await wait(/Invalid config/, from);
    assert.match(error, /policies\[0\]\.fault\.percent \(line \d+, column \d+\): must be at most 100, got number 101\./);
    assert.match(error, /Fix: Use a number from 0 to 100/);
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/x')).status, 418, 'the old rules stay in force');
  });
});
