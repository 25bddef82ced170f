// The entry from the CLI: up prints it, routes shows it, call goes through it as a user, exec sets EMULATOR_ENTRY_URL.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { freePort } from './internals.js';
import { CLI, echoService, request, run, startProcess, writeConfig } from './helpers.js';

const emulator = (args: string[], options: Parameters<typeof run>[2] = {}) => run(process.execPath, [CLI, ...args], options);

async function config(t: TestContext) {
  const ports = { proxy: await freePort(), dns: await freePort(), entry: await freePort() };
  const file = writeConfig(t, {
    services: { web: echoService({ id: 'web01' }), api: echoService() },
    entry: { port: ports.entry, service: 'web', users: { alice: { openid: 'o_alice', unionid: 'u_alice' }, guest: { anonymousOpenid: 'ao_guest' } } },
    proxy: { port: ports.proxy },
    dns: { port: ports.dns },
  });
  return { file, ports };
}

test('up prints the entry, which answers as the users; call goes through the running one', async (t) => {
  const { file, ports } = await config(t);
  const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
  await up.waitFor(
    new RegExp(`Entry http://127\\.0\\.0\\.1:${ports.entry} \\(callContainer\\) → web, as alice \\(users: alice, guest; X-Emulator-User picks one\\)`),
  );
  const echo = (await request(`http://127.0.0.1:${ports.entry}`, { path: '/hi', headers: { 'X-Emulator-User': 'guest' } })).json<{
    headers: Record<string, string>;
  }>();
  assert.equal(echo.headers['x-tt-anonymous-openid'], 'ao_guest');
  await up.waitFor(/\[calls\]\s+mini-program \(guest\) → web GET \/hi 200/);

  const call = await emulator(['call', 'mini-program', 'api', '/me?x=1', '--user', 'alice', '--config', file]);
  assert.equal(call.code, 0, call.stderr);
  assert.doesNotMatch(call.stderr, /starting one for this call/, 'the running emulator answered');
  assert.match(call.stdout, /^HTTP\/1\.1 200 OK/);
  const body = JSON.parse(call.stdout.slice(call.stdout.indexOf('\n\n') + 2)) as { name: string; url: string; headers: Record<string, string> };
  assert.deepEqual([body.name, body.url, body.headers['x-tt-openid'], body.headers['x-tt-unionid']], ['api', '/me?x=1', 'o_alice', 'u_alice']);
  await up.waitFor(/\[calls\]\s+mini-program \(alice\) → api GET \/me\?x=1 200/);
  up.child.kill('SIGINT');
  assert.equal((await up.exited).code, 130);
});

test('call through the entry without a running emulator; bad --user and --service are usage errors', async (t) => {
  const { file } = await config(t);
  const alone = await emulator(['call', 'mini-program', 'web', '/x', '--config', file]);
  assert.equal(alone.code, 0, alone.stderr);
  assert.match(alone.stderr, /starting one for this call/);
  assert.match(alone.stdout, /"x-tt-openid":"o_alice"/);

  const user = await emulator(['call', 'mini-program', 'web', '/x', '--user', 'bob', '--config', file]);
  assert.equal(user.code, 2, 'a usage error');
  assert.match(user.stderr, /No user named "bob" in entry\.users: alice, guest\./);
  assert.match(user.stderr, /Add "bob": \{ "openid": "o_bob" \} to entry\.users in /);
  const notEntry = await emulator(['call', 'web', 'api', '/x', '--user', 'alice', '--config', file]);
  assert.equal(notEntry.code, 2);
  assert.match(notEntry.stderr, /--user applies to calls from the mini-program only/);
  const service = await emulator(['call', 'mini-program', 'nope', '/x', '--config', file]);
  assert.equal(service.code, 2);
  assert.match(service.stderr, /No service is named or has the id "nope"/);
});

test('routes shows the entry and its users; exec gives the command EMULATOR_ENTRY_URL, which dyc-emulator/tt uses', async (t) => {
  const { file, ports } = await config(t);
  const routes = await emulator(['routes', '--config', file]);
  assert.equal(routes.code, 0, routes.stderr);
  assert.match(routes.stdout, new RegExp(`^entry http://127\\.0\\.0\\.1:${ports.entry} \\(callContainer\\) → web`, 'm'));
  assert.match(routes.stdout, /users: alice\s+X-TT-OPENID o_alice, X-TT-UNIONID u_alice\s+\(default\)/);
  assert.match(routes.stdout, /guest\s+X-TT-ANONYMOUS-OPENID ao_guest\s+\(anonymous\)/);

  const script = `import { createCloud } from 'dyc-emulator/tt';
    const res = await createCloud({ envID: 'env-local', serviceID: 'api' }).callContainer({ path: '/from-exec' });
    const echo = JSON.parse(res.data);
    console.log(process.env.EMULATOR_ENTRY_URL, echo.name, echo.headers['x-tt-openid']);`;
  const result = await emulator(['exec', '--quiet', '--config', file, '--', process.execPath, '--input-type=module', '-e', script]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const line = /^(http:\/\/127\.0\.0\.1:\d+) (\S+) (\S+)$/m.exec(result.stdout);
  assert.ok(line, result.stdout);
  assert.notEqual(line[1], `http://127.0.0.1:${ports.entry}`, 'exec uses a free port, so it runs beside `up`');
  assert.deepEqual([line[2], line[3]], ['api', 'o_alice']);
});
