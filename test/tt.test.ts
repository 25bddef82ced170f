// dyc-emulator/tt: the mini-program's callContainer, against the real entry (see also test/entry.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import path from 'node:path';
import { CallContainerError, createCloud, type CallContainerFailure, type CallContainerSuccess } from 'dyc-emulator/tt';
import { launchChromium } from './dashboard-helpers.js';
import { echoService, emulatorFor, recordingLogger, REPO, run, sleep } from './helpers.js';
import { freePort } from './internals.js';

test('the type test against @douyin-microapp/typings compiles (and fails when the shapes differ)', async () => {
  // test/types/tt-typings.ts assigns our createCloud/callContainer to the platform's types; its @ts-expect-error lines prove it can fail.
  const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', 'test/types/tsconfig.json'], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
});

test('dyc-emulator/tt has no import: it runs in a browser as it is', async () => {
  for (const file of ['dist/tt/index.js']) {
    const source = readFileSync(path.join(REPO, file), 'utf8');
    assert.doesNotMatch(source, /^\s*import\s/m, `${file} must not import anything`);
    assert.doesNotMatch(source, /require\(/, `${file} must not require anything`);
  }
});

/** Calls callContainer and returns what the callbacks and the Promise got. */
async function outcome(
  promiseOf: (callbacks: {
    success: (r: CallContainerSuccess) => void;
    fail: (r: CallContainerFailure) => void;
    complete: (r: unknown) => void;
  }) => Promise<CallContainerSuccess>,
) {
  const seen: {
    success?: CallContainerSuccess;
    fail?: CallContainerFailure;
    complete?: unknown;
    rejected?: CallContainerError;
    resolved?: CallContainerSuccess;
  } = {};
  try {
    seen.resolved = await promiseOf({ success: (r) => (seen.success = r), fail: (r) => (seen.fail = r), complete: (r) => (seen.complete = r) });
  } catch (error) {
    assert.ok(error instanceof CallContainerError, String(error));
    seen.rejected = error;
  }
  return seen;
}

test('invalid parameters fail with errNo 20000 and say how to fix them', async () => {
  const cloud = createCloud({ envID: 'env-local', entryUrl: 'http://127.0.0.1:9' });
  const cases: [Parameters<typeof cloud.callContainer>[0], RegExp][] = [
    [{} as { path: string }, /path is required/],
    [{ path: 'api' }, /must start with "\/".*"\/api"/],
    [{ path: '/', init: { method: 'HEAD' as 'GET' } }, /init\.method "HEAD" is not supported; use one of GET, OPTIONS, POST/],
    [{ path: '/', init: { method: 'GET', body: 'x' } }, /GET request cannot carry a body/],
    [{ path: '/', init: { header: { 'X-Emulator-User': 'bob' } } }, /must not set X-Emulator-User: pass .*user to createCloud/],
    [{ path: '/', init: { header: { 'bad name': 'x' } } }, /invalid header name "bad name"/],
    [{ path: '/', init: { timeout: -1 } }, /init\.timeout must be a positive number/],
  ];
  for (const [options, message] of cases) {
    const seen = await outcome((callbacks) => cloud.callContainer({ ...options, ...callbacks }));
    assert.equal(seen.fail?.errNo, 20000, JSON.stringify(options));
    assert.match(seen.fail!.errMsg, /^callContainer:fail invalid param: /);
    assert.match(seen.fail!.errMsg, message);
    assert.deepEqual(seen.complete, seen.fail);
    assert.equal(seen.rejected?.errNo, 20000);
    assert.equal(seen.success, undefined);
  }
  assert.throws(() => createCloud({} as { envID: string }), /envID is required/);
});

test('an entry that is not running: errNo 21100 naming the URL and `emulator up`', async () => {
  const port = await freePort();
  const cloud = createCloud({ envID: 'env-local', entryUrl: `http://127.0.0.1:${port}` });
  const seen = await outcome((callbacks) => cloud.callContainer({ path: '/api', ...callbacks }));
  assert.equal(seen.fail?.errNo, 21100);
  assert.match(
    seen.fail!.errMsg,
    new RegExp(`cannot reach the emulator's entry at http://127.0.0.1:${port} \\(ECONNREFUSED\\)\\. Start it with \`npx emulator up\``),
  );
});

test('with fail/complete callbacks an ignored Promise is no unhandled rejection; without them it rejects', async () => {
  const cloud = createCloud({ envID: 'env-local', entryUrl: `http://127.0.0.1:${await freePort()}` });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let failed: CallContainerFailure | undefined;
  void cloud.callContainer({ path: '/', fail: (res) => (failed = res) });
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(failed?.errNo, 21100);
  assert.deepEqual(unhandled, []);
  await assert.rejects(
    cloud.callContainer({ path: '/' }),
    (error: CallContainerError) => error.errNo === 21100 && error.errMsg.startsWith('callContainer:fail network error'),
  );
});

describe('through the real entry', () => {
  const config = {
    services: { api: echoService({ id: 'api01' }), 'order-svc': echoService({ id: 'ord-1' }) },
    entry: { service: 'api', envId: 'env-test', users: { alice: { openid: 'o_alice' }, bob: { openid: 'o_bob', unionid: 'u_bob' } } },
  };

  test('success: statusCode, header, data as a string; the callbacks and the Promise agree', async (t) => {
    const emu = await emulatorFor(t, config);
    const cloud = createCloud({ envID: 'env-test', serviceID: 'ord-1', entryUrl: emu.entryUrl, user: 'bob' });
    const seen = await outcome((callbacks) =>
      cloud.callContainer({ path: '/orders?x=1', init: { method: 'post', header: { 'X-Trace': 't1' }, body: { item: 'mug' } }, ...callbacks }),
    );
    assert.equal(seen.fail, undefined);
    assert.deepEqual(seen.success, seen.resolved);
    assert.deepEqual(seen.complete, seen.resolved);
    const res = seen.resolved!;
    assert.equal(res.errMsg, 'callContainer:ok');
    assert.equal(res.statusCode, 200);
    assert.equal(res.header['content-type'], 'application/json');
    assert.equal(typeof res.data, 'string', 'data is a string, as on the platform');
    const echo = JSON.parse(res.data) as { name: string; method: string; url: string; headers: Record<string, string>; bytes: number };
    assert.equal(echo.name, 'ord-1');
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/orders?x=1');
    assert.equal(echo.headers['content-type'], 'application/json', 'an object body goes as JSON');
    assert.equal(echo.bytes, JSON.stringify({ item: 'mug' }).length);
    assert.equal(echo.headers['x-tt-openid'], 'o_bob');
    assert.equal(echo.headers['x-tt-unionid'], 'u_bob');
    assert.equal(echo.headers['x-tt-env'], 'env-test');
    assert.equal(echo.headers['x-trace'], 't1');

    // A service's own error status is a success of callContainer (only the gateway's are failures).
    const notFound = await cloud.callContainer({ path: '/status/404' });
    assert.equal(notFound.statusCode, 404);
    assert.equal(notFound.header['x-custom'], 'kept');
  });

  test('the entry URL comes from EMULATOR_ENTRY_URL; the default service and user from the entry', async (t) => {
    const emu = await emulatorFor(t, config);
    const saved = process.env.EMULATOR_ENTRY_URL;
    process.env.EMULATOR_ENTRY_URL = emu.entryUrl;
    t.after(() => (saved === undefined ? delete process.env.EMULATOR_ENTRY_URL : (process.env.EMULATOR_ENTRY_URL = saved)));
    const res = await createCloud({ envID: 'env-test' }).callContainer({ path: '/' });
    const echo = JSON.parse(res.data) as { name: string; headers: Record<string, string> };
    assert.equal(echo.name, 'api01');
    assert.equal(echo.headers['x-tt-openid'], 'o_alice');
  });

  test("gateway errors are errNo 21102 with the emulator's explanation; TRACE is 10401; a timeout is 21100", async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, config, { logger });
    const cloud = createCloud({ envID: 'env-test', entryUrl: emu.entryUrl });
    const failure = async (options: Parameters<typeof cloud.callContainer>[0], on = cloud) =>
      (await outcome((callbacks) => on.callContainer({ ...options, ...callbacks }))).fail!;

    const unknown = await failure({ path: '/', serviceID: 'ord-2' });
    assert.equal(unknown.errNo, 21102);
    assert.match(
      unknown.errMsg,
      /^callContainer:fail gateway error: unknown_service \(404\): X-Emulator-Service names "ord-2", but no service has that name or id\. Did you mean "ord-1"\?/,
    );

    const user = await failure({ path: '/' }, createCloud({ envID: 'env-test', entryUrl: emu.entryUrl, user: 'carol' }));
    assert.equal(user.errNo, 21102);
    assert.match(user.errMsg, /unknown_user \(404\): X-Emulator-User names "carol"/);

    const env = await failure({ path: '/' }, createCloud({ envID: 'env-prod', entryUrl: emu.entryUrl }));
    assert.equal(env.errNo, 21102);
    assert.match(env.errMsg, /unknown_env \(404\): .*"env-prod".*Pass envID "env-test"/);

    const cut = await failure({ path: '/half' });
    assert.equal(cut.errNo, 21102);
    assert.match(cut.errMsg, /the response was cut short/);

    const trace = await failure({ path: '/', init: { method: 'TRACE' } });
    assert.equal(trace.errNo, 10401);
    assert.match(trace.errMsg, /fetch\(\) cannot send it/);

    const slow = await failure({ path: '/slow?ms=3000', init: { timeout: 200 } });
    assert.equal(slow.errNo, 21100);
    assert.match(slow.errMsg, /no response from http:\/\/127\.0\.0\.1:\d+ within 200 ms \(init\.timeout\)/);

    await cloud.callContainer({ path: '/crash' });
    const deadline = Date.now() + 5000;
    while (!logger.events.some((e) => /\[api\] api exited with code 1; restarting in/.test(e))) {
      assert.ok(Date.now() < deadline, logger.events.join('\n'));
      await sleep(5);
    }
    const down = await failure({ path: '/' });
    assert.equal(down.errNo, 21102);
    assert.match(down.errMsg, /service_unavailable \(503\): Service "api" \(id api01\) is not ready/);
  });

  test('dyc-emulator/tt/register installs tt.createCloud for mini-program code', async (t) => {
    const emu = await emulatorFor(t, config);
    const scope = globalThis as { tt?: { createCloud?: typeof createCloud; other?: number } };
    scope.tt = { other: 1 };
    t.after(() => delete scope.tt);
    await import('dyc-emulator/tt/register');
    assert.equal(scope.tt.other, 1, 'other members of tt are kept');
    // Mini-program code as written for the platform:
    const cloud = scope.tt.createCloud!({ envID: 'env-test', serviceID: 'api01', entryUrl: emu.entryUrl });
    const data = await new Promise<string>(
      (resolve, reject) => void cloud.callContainer({ path: '/hello', success: (res) => resolve(res.data), fail: (res) => reject(new Error(res.errMsg)) }),
    );
    assert.equal((JSON.parse(data) as { url: string }).url, '/hello');
  });

  test('in Chromium: the compiled module runs as it is, against the entry', async (t) => {
    const emu = await emulatorFor(t, config);
    const browser = await launchChromium();
    t.after(() => browser.close());
    const page = await browser.newPage();
    // An H5 page served through the entry: same origin, as a dev server proxying to the entry would be.
    await page.goto(`${emu.entryUrl}/index.html`);
    const source = readFileSync(path.join(REPO, 'dist/tt/index.js'), 'utf8');
    // A string, not a function: tsx would add helpers to a function's source that the page lacks.
    const script = `(async () => {
      const url = URL.createObjectURL(new Blob([${JSON.stringify(source)}], { type: 'text/javascript' }));
      const tt = await import(url);
      const cloud = tt.createCloud({ envID: 'env-test', entryUrl: location.origin, user: 'bob' });
      const ok = await cloud.callContainer({ path: '/from-browser', init: { method: 'PUT', body: 'plain text' } });
      let failed;
      await cloud.callContainer({ path: '/', serviceID: 'nope', fail: (res) => (failed = res) }).catch(() => {});
      return { statusCode: ok.statusCode, data: ok.data, failed };
    })()`;
    const result = (await page.evaluate(script)) as { statusCode: number; data: string; failed?: { errNo: number; errMsg: string } };
    assert.equal(result.statusCode, 200);
    const echo = JSON.parse(result.data) as { url: string; method: string; headers: Record<string, string>; bytes: number };
    assert.equal(echo.url, '/from-browser');
    assert.equal(echo.method, 'PUT');
    assert.equal(echo.bytes, 'plain text'.length);
    assert.equal(echo.headers['x-tt-openid'], 'o_bob');
    assert.match(echo.headers['user-agent']!, /Chrome/);
    assert.equal(result.failed?.errNo, 21102);
    assert.match(result.failed!.errMsg, /unknown_service/);
  });
});
