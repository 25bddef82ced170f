import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { loadConfig, startEmulator } from '../dist/index.js';
import { EmulatorError } from './internals.js';
import { ECHO_DIR, echoService, tempDir, writeConfig } from './helpers.js';

/** Loads a config that must fail; returns the error message. */
function configError(t: TestContext, config: unknown, code = 'config_invalid'): string {
  const file = writeConfig(t, config);
  try {
    loadConfig(file);
  } catch (error) {
    assert.ok(error instanceof EmulatorError, String(error));
    assert.equal(error.code, code, error.message);
    assert.ok(error.message.includes(file) || code === 'config_not_found', 'names the file');
    return error.message;
  }
  assert.fail('the config was accepted');
}

const ok = { services: { api: echoService() } };

describe('config validation', () => {
  test('a valid config resolves ids, dirs, env and defaults', (t) => {
    const dir = tempDir(t);
    mkdirSync(path.join(dir, 'svc'));
    writeFileSync(path.join(dir, 'svc', '.env'), 'A=from-file\nB="quoted # not a comment"\n# comment\nexport C=3\n');
    const file = writeConfig(
      t,
      { services: { gateway: { id: 'gw01', dir: 'svc', command: 'node x.js', envFile: '.env', env: { A: 'from-env' }, allow: ['gw01'] } } },
      dir,
    );
    const config = loadConfig(file);
    const gateway = config.services.get('gateway')!;
    assert.equal(gateway.id, 'gw01');
    assert.equal(gateway.dir, path.join(dir, 'svc'));
    assert.deepEqual(gateway.env, { A: 'from-env', B: 'quoted # not a comment', C: '3' });
    assert.deepEqual([...gateway.allow], ['gateway'], 'allow accepts ids and stores names');
    assert.equal(gateway.healthcheck, '/v1/ping');
    assert.equal(gateway.kind, 'process');
    assert.equal(gateway.kind === 'process' && gateway.command, 'node x.js');
    assert.deepEqual(gateway.watch, { kind: 'default' });
    assert.equal(gateway.allowLine, 11, 'the line of allow, for inner_call_denied');
    assert.equal(config.proxy.port, 8080);
    assert.equal(config.dns.port, 8053);
    assert.equal(config.cloudEnv, 'DEV');
  });

  test('unknown key, with did-you-mean and a caret under it', (t) => {
    const message = configError(t, { services: { api: { ...echoService(), alow: ['api'] } } });
    assert.match(message, /services\.api\.alow \(line \d+, column \d+\): unknown key "alow"\. Did you mean "allow"\?/);
    assert.match(message, /\| +"alow": \[\n.*\^{6}/);
    assert.match(configError(t, { ...ok, proxi: {} }), /unknown key "proxi"\. Did you mean "proxy"\?/);
  });

  test('wrong type', (t) => {
    assert.match(configError(t, { services: { api: echoService({ port: '8000' }) } }), /services\.api\.port .*expected a number, got "8000"/);
    assert.match(configError(t, { services: { api: echoService({ allow: 'orders' }) } }), /services\.api\.allow .*expected an array, got "orders"/);
    assert.match(configError(t, { services: { api: echoService({ port: 70000 }) } }), /services\.api\.port .*must be at most 65535/);
    assert.match(configError(t, { ...ok, cloudEnv: 'STAGING' }), /cloudEnv .*expected one of "DEV", "PROD", got "STAGING"/);
    assert.match(configError(t, { services: { api: echoService({ watch: 'src' }) } }), /watch .*expected true, false or an array of globs/);
  });

  test('allow naming an unknown service', (t) => {
    const message = configError(t, { services: { api: echoService({ allow: ['ordres'] }), orders: echoService() } });
    assert.match(message, /services\.api\.allow\[0\] .*"ordres" is not a service name or id\. Did you mean "orders"\?/);
  });

  test('duplicate ids', (t) => {
    const message = configError(t, { services: { a: echoService({ id: 'same' }), b: echoService({ id: 'same' }) } });
    assert.match(message, /services\.b\.id .*id "same" is already used by service "a"/);
  });

  test('an id that is not a valid DNS label', (t) => {
    assert.match(
      configError(t, { services: { a: echoService({ id: 'Order_Svc' }) } }),
      /services\.a\.id .*"Order_Svc" is not a valid service id.*Use e\.g\. "order-svc"/s,
    );
    assert.match(configError(t, { services: { a: echoService({ id: '-x' }) } }), /not a valid service id/);
    // A name used as the id must be a label too.
    assert.match(configError(t, { services: { Orders_V2: echoService() } }), /"Orders_V2" is used as its id.*Add "id": "orders-v2"/s);
  });

  test('two services on one port', (t) => {
    assert.match(
      configError(t, { services: { a: echoService({ port: 9001 }), b: echoService({ port: 9001 }) } }),
      /services\.b\.port .*port 9001 is already used by service "a"/,
    );
  });

  test('missing command and docker, missing dir, invalid JSON, no file', (t) => {
    assert.match(configError(t, { services: { a: { dir: ECHO_DIR } } }), /has none of "command", "docker", "url", "targets" or "stub"/);
    assert.match(configError(t, { services: { a: echoService({ dir: 'nope' }) } }), /services\.a\.dir .*directory .*nope does not exist/);
    const syntax = configError(t, '{ "services": { "a": { "command": "x" } ', 'config_syntax');
    assert.match(syntax, /emulator\.config\.json:1:\d+: invalid JSON/);
    assert.throws(() => loadConfig(path.join(tempDir(t), 'missing.json')), /No config file at/);
  });

  test('comments are allowed, every problem is listed at once', (t) => {
    const message = configError(t, '{\n  // two problems\n  "services": { "a": { "command": "x", "port": -1, "replica": 2 } }\n}');
    assert.match(message, /\(2 problems\)/);
    assert.match(message, /line 3/);
  });

  test('a port already in use on the machine stops `up` before anything starts', async (t) => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    const file = writeConfig(t, { services: { a: echoService({ port }) } });
    await assert.rejects(startEmulator({ config: file, proxyPort: 0, dnsPort: 0 }), (error: EmulatorError) => {
      assert.equal(error.code, 'port_in_use');
      assert.match(error.message, new RegExp(`port ${port} \\(services\\.a\\.port\\)`));
      assert.match(error.fix ?? '', /remove "port"/);
      return true;
    });
    const proxyFile = writeConfig(t, { services: { a: echoService() }, proxy: { port } });
    await assert.rejects(
      startEmulator({ config: proxyFile, proxyPort: port, dnsPort: 0 }),
      /routing proxy \(proxy\.port\) cannot listen on 127\.0\.0\.1:\d+: the port is already in use/,
    );
  });

  test('each service resolves to its kind; watch, dns.upstream and docker defaults are resolved once', (t) => {
    const file = writeConfig(t, {
      services: {
        proc: echoService({ docker: { image: 'x:1' }, watch: false }),
        box: { dir: ECHO_DIR, docker: { buildArgs: { A: '1' } }, watch: [] },
        globs: echoService({ watch: ['src/**', '!src/gen/**'] }),
        on: echoService({ watch: true }),
      },
      dns: { upstream: ['10.0.0.2', '10.0.0.3:5300', '[::1]:53'] },
    });
    const config = loadConfig(file);
    const [proc, box, globs, on] = ['proc', 'box', 'globs', 'on'].map((name) => config.services.get(name)!);
    assert.equal(proc!.kind, 'process', 'command wins over docker in the process runtime');
    assert.deepEqual(proc!.watch, { kind: 'off' });
    assert.equal(box!.kind, 'docker');
    assert.deepEqual(box!.kind === 'docker' && { port: box!.port, docker: box!.docker }, {
      port: 8000,
      docker: { dockerfile: 'Dockerfile', image: undefined, buildArgs: { A: '1' } },
    });
    assert.deepEqual(box!.watch, { kind: 'globs', globs: [] }, '[] is "watch nothing", not the default');
    assert.deepEqual(globs!.watch, { kind: 'globs', globs: ['src/**', '!src/gen/**'] });
    assert.deepEqual(on!.watch, { kind: 'default' });
    assert.deepEqual(config.dns.upstream, [
      { host: '10.0.0.2', port: 53 },
      { host: '10.0.0.3', port: 5300 },
      { host: '::1', port: 53 },
    ]);
    const docker = loadConfig(file, { runtime: 'docker' }).services.get('proc')!;
    assert.deepEqual(docker.kind === 'docker' && docker.docker.image, 'x:1', '--runtime docker runs a service that has both as a container');
    assert.match(
      configError(t, { services: { a: echoService() }, dns: { upstream: ['resolver.local'] } }),
      /dns\.upstream\[0\] .*"resolver\.local" is not an IP address/,
    );
  });

  test('the config a running emulator reports states the ports in use', async (t) => {
    const emu = await startEmulator({ config: writeConfig(t, ok), proxyPort: 0, dnsPort: 0 });
    t.after(() => emu.stop());
    assert.equal(emu.config.proxy.port, Number(new URL(emu.proxyUrl).port));
    assert.notEqual(emu.config.proxy.port, 8080);
    assert.equal(emu.config.dns.port, emu.dns.port);
  });

  test('the JSON Schema ships and matches the loader', async () => {
    const { readFileSync } = await import('node:fs');
    const schema = JSON.parse(readFileSync(new URL('../emulator/config.schema.json', import.meta.url), 'utf8'));
    assert.equal(schema.additionalProperties, false);
    const service = schema.properties.services.additionalProperties;
    assert.deepEqual(Object.keys(service.properties).sort(), [
      'allow',
      'command',
      'dir',
      'docker',
      'env',
      'envFile',
      'healthcheck',
      'id',
      'loadBalancer',
      'port',
      'publishedPort',
      'replicas',
      'startTimeout',
      'stub',
      'targets',
      'tls',
      'url',
      'watch',
    ]);
    assert.equal(service.additionalProperties, false);
  });
});
