// The docker runtime against a real engine (.ci/run installs docker.io and starts dockerd).
// Base images are assembled from the host's node and python (make-base-images.sh): nothing
// is pulled. One emulator session serves most assertions, to keep the run short.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { startEmulator } from '../dist/index.js';
import { CLI, ECHO_DIR, recordingLogger, REPO, request, run, sleep, tempDir, writeConfig } from './helpers.js';
import {
  copyNodeModules,
  dockerService,
  ensureBaseImages,
  fakeUpstreamDns,
  NODE_BASE,
  ownedByThisProcess,
  PYTHON_BASE,
  SESSION_LABEL,
} from './docker-helpers.js';
import { EmulatorError, freePort } from './internals.js';

const docker = new Docker();
const EXTERNAL_NAME = 'api.partner.test';
const EXTERNAL_ADDRESS = '192.0.2.44';

/** GET on a service straight (its published port), JSON body. */
async function getJson(url: string, urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await request(url, { path: urlPath });
  return { status: reply.status, body: reply.json() };
}

before(() => ensureBaseImages());

describe('docker runtime: containers with unmodified inner-call URLs', () => {
  test('containers call a container and a process; allow-list, caller identity and DNS hold; teardown leaves nothing', async (t) => {
    const upstream = await fakeUpstreamDns(t, EXTERNAL_NAME, EXTERNAL_ADDRESS);
    // A changed context is rebuilt (an unchanged one is not): a fresh mtime makes this run build, with its progress lines.
    utimesSync(path.join(ECHO_DIR, 'Dockerfile'), new Date(), new Date());
    const logger = recordingLogger();
    const file = writeConfig(t, {
      services: {
        // a and b: the echo fixture as containers (test/fixtures/echo/Dockerfile); p: the same as a process.
        a: dockerService(ECHO_DIR, { allow: ['b', 'p'], env: { GREETING: 'hi' } }),
        b: dockerService(ECHO_DIR),
        p: { dir: ECHO_DIR, command: 'node server.js', allow: ['a'] },
      },
      dns: { upstream: [`127.0.0.1:${upstream.port}`] },
    });
    const emu = await startEmulator({ config: file, logger });
    let stopped = false;
    t.after(() => (stopped ? undefined : emu.stop()));

    await t.test('a container gets the platform env and no proxy variables', async () => {
      const { body: env } = await getJson(emu.url('a'), '/env');
      assert.equal(env.SERVICE_ID, 'a');
      assert.equal(env.PORT, '8000');
      assert.equal(env.CLOUD_ENV, 'DEV');
      assert.equal(env.TZ, 'UTC');
      assert.equal(env.GREETING, 'hi');
      for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'NODE_OPTIONS']) assert.equal(env[name], undefined, `${name} must not be set`);
    });

    await t.test('container → container, with node:http and fetch, both domains', async () => {
      for (const query of ['client=http', 'client=fetch', 'client=http&domain=dycloud.service']) {
        const { status, body } = await getJson(emu.url('a'), `/call?to=b&path=/echo/x?y=1&${query}`);
        assert.equal(status, 200, JSON.stringify(body));
        assert.equal(body.status, 200, JSON.stringify(body));
        const echoed = JSON.parse(body.body as string) as { name: string; url: string; headers: Record<string, string> };
        assert.equal(echoed.name, 'b');
        assert.equal(echoed.url, '/echo/x?y=1');
        assert.match(echoed.headers.host!, /^a-b\.(inner-call\.dyc\.ivolces\.com|dycloud\.service)$/);
      }
    });

    await t.test('container → process, and process → container', async () => {
      const toProcess = await getJson(emu.url('a'), '/call?to=p&path=/echo');
      assert.equal(toProcess.body.status, 200, JSON.stringify(toProcess.body));
      assert.equal(JSON.parse(toProcess.body.body as string).name, 'p');
      const toContainer = await getJson(emu.url('p'), '/call?to=a&path=/echo');
      assert.equal(toContainer.body.status, 200, JSON.stringify(toContainer.body));
      assert.equal(JSON.parse(toContainer.body.body as string).name, 'a');
    });

    await t.test('a denied pair gets 403 inner_call_denied', async () => {
      const { body } = await getJson(emu.url('b'), '/call?to=a&client=http');
      assert.equal(body.status, 403);
      assert.equal(JSON.parse(body.body as string).error, 'inner_call_denied');
    });

    await t.test('a container writing another id as {from} gets caller_mismatch', async () => {
      const { body } = await getJson(emu.url('b'), '/call?to=p&as=a&client=http');
      assert.equal(body.status, 403);
      const error = JSON.parse(body.body as string) as { error: string; message: string };
      assert.equal(error.error, 'caller_mismatch');
      assert.match(error.message, /Service "b"/);
    });

    await t.test('https:// to an inner-call name fails the TLS handshake and is logged as https_not_supported', async () => {
      const script = `require('https').get('https://a-b.inner-call.dyc.ivolces.com/', (r) => console.log('answered', r.statusCode)).on('error', (e) => console.log('error', e.code || e.message))`;
      const reply = await request(emu.url('a'), { method: 'POST', path: '/run', body: JSON.stringify(['node', '-e', script]) });
      const { stdout } = reply.json() as { stdout: string };
      assert.match(stdout, /^error /, stdout);
      const deadline = Date.now() + 3000;
      while (!emu.calls().some((call) => call.error === 'https_not_supported')) {
        assert.ok(
          Date.now() < deadline,
          emu
            .calls()
            .map((c) => `${c.from} ${c.method} ${c.host} ${c.error}`)
            .join('\n'),
        );
        await sleep(20);
      }
      const refused = emu.calls().find((call) => call.error === 'https_not_supported')!;
      assert.equal(refused.from, 'a');
      assert.equal(refused.to, 'b');
      assert.equal(refused.method, 'CONNECT');
    });

    await t.test('the call log names the real callers', () => {
      const calls = emu.calls().map((call) => `${call.from}→${call.to} ${call.status}${call.error ? ` ${call.error}` : ''}`);
      assert.ok(calls.includes('a→b 200'), calls.join('\n'));
      assert.ok(calls.includes('p→a 200'), calls.join('\n'));
      assert.ok(calls.includes('b→a 403 inner_call_denied'), calls.join('\n'));
    });

    await t.test('an external name resolves inside a container through the emulator DNS', async () => {
      const script = `require('dns').lookup('${EXTERNAL_NAME}', { family: 4 }, (e, a) => console.log(e ? e.code : a))`;
      const reply = await request(emu.url('a'), { method: 'POST', path: '/run', body: JSON.stringify(['node', '-e', script]) });
      assert.equal((reply.json().stdout as string).trim(), EXTERNAL_ADDRESS, reply.body);
      assert.ok(upstream.queries.includes(EXTERNAL_NAME), `the test's upstream saw: ${upstream.queries.join(', ')}`);
      // And an inner-call name resolves to the router, not to loopback.
      const inner = `require('dns').lookup('a-b.inner-call.dyc.ivolces.com', (e, a) => console.log(e ? e.code : a))`;
      const innerReply = await request(emu.url('a'), { method: 'POST', path: '/run', body: JSON.stringify(['node', '-e', inner]) });
      assert.match((innerReply.json().stdout as string).trim(), /^\d+\.\d+\.\d+\.\d+$/);
      assert.doesNotMatch((innerReply.json().stdout as string).trim(), /^127\./);
    });

    await t.test('container output is logged with the service prefix', () => {
      assert.ok(logger.lines.includes('[a] echo a listening on 8000'), logger.lines.join('\n'));
      assert.ok(
        logger.events.some((line) => /^\[a\] build Step \d+\/\d+ : COPY/.test(line)),
        logger.events.join('\n'),
      );
    });

    await t.test('teardown leaves no container or network of the session', async () => {
      const during = await ownedByThisProcess(docker);
      assert.equal(during.containers.length, 3, during.containers.join('\n')); // a, b, router
      assert.equal(during.networks.length, 1);
      await emu.stop();
      stopped = true;
      assert.deepEqual(await ownedByThisProcess(docker), { containers: [], networks: [] });
    });
  });

  test('hot reload: an edit rebuilds, the new container takes over without a failed call, the old one goes', async (t) => {
    const dir = tempDir(t);
    for (const name of ['server.js', 'package.json', 'Dockerfile']) copyFileSync(path.join(ECHO_DIR, name), path.join(dir, name));
    const file = writeConfig(t, { services: { a: dockerService(dir) } });
    const emu = await startEmulator({ config: file, watch: true });
    t.after(() => emu.stop());
    const name = async (): Promise<string> => (await getJson(emu.url('a'), '/v1/ping')).body.name as string;
    assert.equal(await name(), 'a');
    const source = readFileSync(path.join(dir, 'server.js'), 'utf8');
    writeFileSync(path.join(dir, 'server.js'), source.replace('const name = process.env.ECHO_NAME || process.env.SERVICE_ID;', "const name = 'reloaded';"));
    const deadline = Date.now() + 60_000;
    let seen = 'a';
    while (seen !== 'reloaded' && Date.now() < deadline) {
      seen = await name(); // throws if a call fails during the switch
      await sleep(100);
    }
    assert.equal(seen, 'reloaded');
    for (let i = 0; i < 50 && (await ownedByThisProcess(docker)).containers.length > 2; i++) await sleep(200);
    assert.equal((await ownedByThisProcess(docker)).containers.length, 2, 'the new container and the router');
  });

  test("a later start reaps what a killed emulator's session left behind", async (t) => {
    // A pid that surely is dead now.
    const child = spawn('true');
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
    const labels = { [SESSION_LABEL]: 'deadbeef', 'dyc-emulator.pid': String(deadPid), 'dyc-emulator.host': os.hostname() };
    const network = await docker.createNetwork({ Name: 'dyc-emulator-deadbeef', Labels: labels });
    t.after(() => network.remove().catch(() => {}));
    const container = await docker.createContainer({
      Image: NODE_BASE,
      Cmd: ['node', '-e', 'setInterval(() => {}, 1000)'],
      Labels: labels,
      HostConfig: { NetworkMode: 'dyc-emulator-deadbeef' },
    });
    t.after(() => container.remove({ force: true }).catch(() => {}));
    await container.start();

    const file = writeConfig(t, { services: { b: dockerService(ECHO_DIR) } });
    const emu = await startEmulator({ config: file });
    t.after(() => emu.stop());
    const left = await docker.listContainers({ all: true, filters: { label: [`${SESSION_LABEL}=deadbeef`] } });
    const leftNetworks = await docker.listNetworks({ filters: { label: [`${SESSION_LABEL}=deadbeef`] } });
    assert.deepEqual([left.length, leftNetworks.length], [0, 0]);
  });

  test('an unreachable engine gives one clear line, in the API and in the CLI', async (t) => {
    const file = writeConfig(t, { services: { b: dockerService(ECHO_DIR) } });
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///tmp/dyc-no-docker.sock';
    try {
      await assert.rejects(startEmulator({ config: file }), (error: unknown) => {
        assert.ok(error instanceof EmulatorError);
        assert.equal(error.code, 'runtime_unavailable');
        assert.match(error.message, /^Docker engine not reachable at unix:\/\/\/tmp\/dyc-no-docker\.sock \(.*\); start Docker or use the process runtime\.$/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
    const cli = await run('node', [CLI, 'exec', '--config', file, '--', 'true'], { env: { DOCKER_HOST: 'tcp://127.0.0.1:1' } });
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /Docker engine not reachable at tcp:\/\/127\.0\.0\.1:1 \(ECONNREFUSED.*\); start Docker or use the process runtime\./);
    assert.doesNotMatch(cli.stderr, /^\s+at /m, 'no stack trace');
  });
});

describe('docker runtime: the demo, from the CLI', () => {
  /**
   * The root config's services with the local base images as BASE_IMAGE (as a user without
   * registry access would write), built from `services` with express in the Node services'
   * build contexts (as `npm install` in each would leave it).
   */
  async function demoConfig(services: string): Promise<Record<string, unknown>> {
    for (const name of ['gateway', 'orders']) copyNodeModules(path.join(services, name), ['express']);
    const service = (dir: string, base: string, extra: Record<string, unknown> = {}) => ({
      dir: path.join(services, dir),
      command: 'false', // --runtime docker must win over command
      docker: { dockerfile: 'Dockerfile', buildArgs: { BASE_IMAGE: base } },
      ...extra,
    });
    return {
      services: {
        gateway: service('gateway', NODE_BASE, { id: 'gw01', allow: ['orders', 'users'], env: { ORDERS_SERVICE_ID: 'orders', USERS_SERVICE_ID: 'users' } }),
        orders: service('orders', NODE_BASE, { allow: ['users'] }),
        users: service('users', PYTHON_BASE),
      },
      entry: { users: { bob: { openid: 'o_bob' } } },
      proxy: { port: await freePort() },
      dns: { port: await freePort(), upstream: ['127.0.0.1:9'] },
    };
  }
  /** A copy of the demo's services, staged as above. */
  const stagedDemo = (dir: string): string => {
    const services = path.join(dir, 'services');
    cpSync(path.join(REPO, 'services'), services, { recursive: true });
    return services;
  };
  // An inner-call chain, then the mini-program's view through the entry (EMULATOR_ENTRY_URL) as bob.
  const probe = `(async () => {
    const r = await fetch(process.env.EMULATOR_URL_GATEWAY + '/api/orders/1');
    console.log(r.status, await r.text());
    const mine = await fetch(process.env.EMULATOR_ENTRY_URL + '/api/my/orders');
    console.log('entry', mine.status, await mine.text());
    process.exit(r.status === 200 && mine.status === 200 ? 0 : 1);
  })()`;

  test('exec --runtime docker against DOCKER_HOST=tcp://127.0.0.1:2375: gateway (node) → orders (node) → users (python)', async (t) => {
    const file = writeConfig(t, await demoConfig(stagedDemo(tempDir(t))));
    const result = await run('node', [CLI, 'exec', '--runtime', 'docker', '--config', file, '--', 'node', '-e', probe], {
      env: { DOCKER_HOST: 'tcp://127.0.0.1:2375' },
      timeoutMs: 180_000,
    });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^200 .*Alice/m);
    assert.match(result.stdout, /^entry 200 .*"name":"Bob".*Ring light/m);
    assert.match(result.stdout + result.stderr, /Docker tcp:\/\/127\.0\.0\.1:2375/);
  });

  test('the same as a non-root user in the docker group', async (t) => {
    assert.equal(process.getuid?.(), 0, 'this test creates a user: run it as root (CI does)');
    const user = 'dyc-docker-tester';
    const exists = await run('id', [user]);
    if (exists.code !== 0) {
      const added = await run('useradd', ['--create-home', '--groups', 'docker', user]);
      assert.equal(added.code, 0, added.stderr);
    } else {
      await run('usermod', ['-aG', 'docker', user]);
    }
    const dir = path.join(os.tmpdir(), `dyc-docker-user-${process.pid}`);
    const { mkdirSync, chmodSync, rmSync, cpSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // The user runs its own copy of the package and the demo: the checkout may sit in a
    // directory only root can enter (a `mktemp -d` clone is 0700).
    const copy = path.join(dir, 'dyc-emulator');
    for (const part of ['package.json', 'bin', 'dist', 'node_modules', 'services'])
      cpSync(path.join(REPO, part), path.join(copy, part), { recursive: true, verbatimSymlinks: true });
    const file = writeConfig(t, await demoConfig(path.join(copy, 'services')), dir);
    chmodSync(file, 0o644);
    const result = await run(
      'runuser',
      ['-u', user, '--', 'node', path.join(copy, 'bin/emulator.js'), 'exec', '--runtime', 'docker', '--config', file, '--', 'node', '-e', probe],
      {
        env: { HOME: `/home/${user}`, DOCKER_HOST: '' },
        timeoutMs: 180_000,
      },
    );
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^200 .*Alice/m);
  });
});

after(async () => {
  // Belt and braces for a failed test: nothing of this process may stay in the engine.
  const owned = await docker.listContainers({ all: true, filters: { label: [`dyc-emulator.pid=${process.pid}`] } });
  await Promise.allSettled(owned.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});
