import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { CLI, echoService, processesWith, REPO, run, sleep, startProcess, writeConfig, waitGone } from './helpers.js';
import { freePort } from './internals.js';

const emulator = (args: string[], options: Parameters<typeof run>[2] = {}) => run(process.execPath, [CLI, ...args], options);

/** A config on free ports whose services carry `marker` in their env, to find them in /proc. */
async function cliConfig(t: TestContext, marker: string) {
  const proxyPort = await freePort();
  const dnsPort = await freePort();
  const env = { [marker]: '1' };
  const file = writeConfig(t, {
    services: {
      gateway: echoService({ id: 'gw01', allow: ['orders'], env }),
      orders: echoService({ env, command: `sh -c 'sleep 600 & exec node server.js'` }),
    },
    proxy: { port: proxyPort },
    entry: { port: await freePort() }, // not 8090: tests run beside a developer's `up`
    dns: { port: dnsPort },
  });
  return { file, proxyPort, dnsPort };
}

describe('CLI', () => {
  test('--help on every verb', async () => {
    const top = await emulator(['--help']);
    assert.equal(top.code, 0);
    for (const verb of ['up', 'exec', 'validate', 'routes', 'call']) {
      assert.match(top.stdout, new RegExp(`^  ${verb} `, 'm'));
      const help = await emulator([verb, '--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^Usage: emulator ${verb}`));
    }
    const unknown = await emulator(['upp']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown command "upp"\. Did you mean "up"\?/);
    assert.match(
      (await emulator(['vaildate'])).stderr,
      /Unknown command "vaildate"\. Did you mean "validate"\?/,
      'the shared did-you-mean, not a two-letter prefix',
    );
    // Help is generated from each command's declared options.
    const callHelp = await emulator(['call', '--help']);
    assert.match(callHelp.stdout, /^ {2}-H, --header "name: value"\.\.\. +a request header; repeat for more$/m);
    assert.match(callHelp.stdout, /^ {2}-c, --config <file> +config file/m);
    // The same CLI under the bin name that does not collide with the Android SDK's `emulator`.
    const dyc = await run(process.execPath, [path.join(REPO, 'bin/dyc-emulator.js'), 'validate', '--help']);
    assert.equal(dyc.code, 0, dyc.stderr);
    assert.match(dyc.stdout, /^Usage: dyc-emulator validate/);
    const badFlag = await emulator(['up', '--nope']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Unknown option '--nope'/);
  });

  test('validate and routes', async (t) => {
    const file = writeConfig(t, { services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService() } });
    const valid = await emulator(['validate', '--config', file]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /is valid: 2 services/);
    const routes = await emulator(['routes', '--config', file]);
    assert.equal(routes.code, 0);
    assert.match(routes.stdout, /^gateway\s+·\s+✔/m);
    assert.match(routes.stdout, /^orders\s+·\s+·/m);
    assert.match(routes.stdout, /gateway → orders {2}http:\/\/gw01-orders\.inner-call\.dyc\.ivolces\.com\//);
    const invalid = await emulator(['validate', '--config', writeConfig(t, { services: { a: echoService({ allow: ['x'] }) } })]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /services\.a\.allow\[0\].*"x" is not a service name or id/);
    assert.doesNotMatch(invalid.stderr, /at .*\.js:\d+/, 'no stack trace for a user error');
  });

  test('up: curl through the proxy both ways, dig answers, calls are logged, Ctrl-C leaves nothing behind', async (t) => {
    const marker = `DYC_CLI_MARKER_${process.pid}_${Date.now()}`;
    const { file, proxyPort, dnsPort } = await cliConfig(t, marker);
    // -c before the command, as `emulator --help` lists it among the global options.
    const up = startProcess(t, process.execPath, [CLI, '-c', file, 'up']);
    await up.waitFor(/All 2 services healthy/);

    const viaProxy = await run('curl', ['-s', '-x', `http://127.0.0.1:${proxyPort}`, 'http://gw01-orders.inner-call.dyc.ivolces.com/echo?via=proxy']);
    assert.match(viaProxy.stdout, /"name":"orders"/);
    const viaHost = await run('curl', ['-s', '-H', 'Host: gw01-orders.dycloud.service', `http://127.0.0.1:${proxyPort}/echo?via=host`]);
    assert.match(viaHost.stdout, /"url":"\/echo\?via=host"/);
    const denied = await run('curl', ['-s', '-i', '-x', `http://127.0.0.1:${proxyPort}`, 'http://orders-gw01.inner-call.dyc.ivolces.com/']);
    assert.match(denied.stdout, /403/);
    assert.match(denied.stdout, /X-Emulator-Error: inner_call_denied/i);

    for (const name of ['gw01-orders.inner-call.dyc.ivolces.com', 'gw01-orders.dycloud.service']) {
      const dig = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), name, '+short']);
      assert.equal(dig.stdout.trim(), '127.0.0.1', `dig ${name}: ${dig.stdout}${dig.stderr}`);
    }

    await up.waitFor(/\[calls\]\s+gateway → orders GET \/echo\?via=proxy 200 [\d.]+ms/);
    await up.waitFor(/\[calls\]\s+orders → gateway GET \/ 403 inner_call_denied/);
    assert.match(up.output(), /\[gateway\]\s+echo gw01 listening on \d+/, 'service logs are prefixed');
    assert.ok((await processesWith(marker)).length >= 3, 'two services and a grandchild run');

    up.child.kill('SIGINT');
    const { code } = await up.exited;
    assert.equal(code, 130);
    assert.match(up.output(), /Stopped\./);
    assert.deepEqual(await waitGone(marker), [], 'no service process survives Ctrl-C');
  });

  test('up: a double Ctrl-C (as npm run sends) still leaves nothing behind', async (t) => {
    const marker = `DYC_CLI_MARKER2_${process.pid}_${Date.now()}`;
    const { file } = await cliConfig(t, marker);
    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/All 2 services healthy/);
    up.child.kill('SIGINT');
    up.child.kill('SIGINT');
    assert.equal((await up.exited).code, 130);
    assert.deepEqual(await waitGone(marker), []);
    // And a second Ctrl-C after a pause kills at once, still leaving nothing.
    const marker3 = `${marker}_late`;
    const again = await cliConfig(t, marker3);
    const up2 = startProcess(t, process.execPath, [CLI, 'up', '--config', again.file, '--no-watch']);
    await up2.waitFor(/All 2 services healthy/);
    up2.child.kill('SIGINT');
    await sleep(700);
    up2.child.kill('SIGINT');
    await up2.exited;
    assert.deepEqual(await waitGone(marker3), []);
  });

  test('up exits non-zero with a clear message when its port is taken', async (t) => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    const file = writeConfig(t, { services: { a: echoService() }, proxy: { port }, dns: { port: await freePort() }, entry: { port: await freePort() } });
    const result = await emulator(['up', '--config', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`The routing proxy \\(proxy\\.port\\) cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
    assert.match(result.stderr, /Fix: Stop whatever uses port/);
  });

  test('call: as a service, with and without a running emulator; denials explained', async (t) => {
    const marker = `DYC_CLI_CALL_${process.pid}_${Date.now()}`;
    const { file } = await cliConfig(t, marker);
    // No emulator running: one is started just for the call.
    const alone = await emulator(['call', 'gateway', 'orders', '/echo?x=1', '-H', 'X-TT-OPENID: u1', '--config', file]);
    assert.equal(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, /^HTTP\/1\.1 200 OK/);
    assert.match(alone.stdout, /"x-tt-openid":"u1"/);
    assert.match(alone.stderr, /starting one for this call/);
    assert.deepEqual(await waitGone(marker), []);

    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/All 2 services healthy/);
    const post = await emulator(['call', 'gw01', 'orders', '/echo', '-d', '{"a":1}', '--config', file]);
    assert.equal(post.code, 0, post.stderr);
    assert.match(post.stdout, /"method":"POST"/);
    assert.doesNotMatch(post.stderr, /starting one/);
    await up.waitFor(/gateway → orders POST \/echo 200/);
    const deniedCall = await emulator(['call', 'orders', 'gateway', '/', '--config', file]);
    assert.equal(deniedCall.code, 1);
    assert.match(deniedCall.stdout, /^HTTP\/1\.1 403/);
    assert.match(
      deniedCall.stderr,
      /The emulator answered instead of gateway: inner_call_denied\. Service "orders" \(id orders\) is not allowed to call "gateway"/,
    );
    up.child.kill('SIGINT');
    await up.exited;
  });

  test('exec runs a command against healthy services and passes its exit code through', async (t) => {
    const marker = `DYC_CLI_EXEC_${process.pid}_${Date.now()}`;
    const { file } = await cliConfig(t, marker);
    const script =
      'curl -sf -x "$EMULATOR_PROXY" http://gw01-orders.inner-call.dyc.ivolces.com/echo >/dev/null && curl -sf "$EMULATOR_URL_ORDERS/v1/ping" && echo " dns=$EMULATOR_DNS"';
    const ok = await emulator(['exec', '--config', file, '--', 'sh', '-c', script]);
    assert.equal(ok.code, 0, ok.stderr);
    // The command and the emulator share stdout: a [calls] line may land between its two writes.
    assert.match(ok.stdout, /"ok":true[\s\S]* dns=127\.0\.0\.1:\d+/);
    assert.equal((await emulator(['exec', '--config', file, '--', 'sh', '-c', 'exit 1'])).code, 1);
    assert.equal((await emulator(['exec', '--config', file, '--', 'sh', '-c', 'kill -9 $$'])).code, 137);
    assert.deepEqual(await waitGone(marker), []);
    const missing = await emulator(['exec', '--config', file]);
    assert.equal(missing.code, 2);
  });
});
