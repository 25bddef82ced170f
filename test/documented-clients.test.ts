// examples/documented-clients: the inner-call helpers printed on Douyin Cloud's 服务间调用 page
// (Go, Java, Python, Node.js, PHP), copied into real services, against the emulator in both
// runtimes. Real toolchains (.ci/run installs them); nothing is pulled: the docker bases are
// assembled from the host (make-base-images.sh, make-client-base-images.sh).
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { parse } from 'jsonc-parser';
import { startEmulator, type Emulator } from '../dist/index.js';
import { REPO, request, run, tempDir, writeConfig } from './helpers.js';
import { ensureBaseImages, NODE_BASE } from './docker-helpers.js';

const EXAMPLE = path.join(REPO, 'examples/documented-clients');
const CONFIG = path.join(EXAMPLE, 'emulator.config.json');
const HTTPCLIENT_JARS = ['httpclient', 'httpcore', 'commons-logging', 'commons-codec'].map((name) => `/usr/share/java/${name}.jar`);

interface Echo {
  name: string;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

/** Calls a language service's endpoint; it answers {result} (the helper's return) or {error} (its error). */
async function callThrough(
  emu: Emulator,
  service: string,
  endpoint: string,
  to: string,
  method = 'GET',
): Promise<{ status: number; echo?: Echo; error?: string }> {
  const reply = await request(emu.url(service), { method, path: `${endpoint}?to=${to}` });
  const body = reply.json<{ result?: string; error?: string }>();
  if (reply.status === 200) return { status: 200, echo: JSON.parse(body.result!) as Echo };
  return { status: reply.status, error: body.error ?? reply.body };
}

function assertGet(emu: Emulator, lang: string, result: Awaited<ReturnType<typeof callThrough>>, requestId = `${lang}-get`): void {
  assert.equal(result.status, 200, result.error);
  const echo = result.echo!;
  assert.equal(echo.name, 'target');
  assert.equal(echo.method, 'GET');
  assert.equal(echo.path, '/api/get_result');
  assert.deepEqual(echo.query, { num: '1', lang });
  assert.equal(echo.headers['x-request-id'], requestId, 'custom header arrived');
  assert.equal(echo.headers.host, `${lang}-target.inner-call.dyc.ivolces.com`, 'the production host name');
  const call = emu.calls().findLast((c) => c.path.startsWith('/api/get_result') && c.path.includes(`lang=${lang}`))!;
  assert.equal(call.from, lang, 'the proxy knew the real caller');
  assert.equal(call.to, 'target');
}

function assertPost(lang: string, result: Awaited<ReturnType<typeof callThrough>>): void {
  assert.equal(result.status, 200, result.error);
  const echo = result.echo!;
  assert.equal(echo.name, 'target');
  assert.equal(echo.method, 'POST');
  assert.equal(echo.path, '/api/post_result');
  assert.equal(echo.headers['x-request-id'], `${lang}-post`);
  if (lang === 'php') {
    // The PHP helper takes `array $body`: curl sends form fields, not JSON.
    assert.match(echo.headers['content-type']!, /^multipart\/form-data; boundary=/);
    assert.match(echo.body, /name="lang"\r\n\r\nphp\r\n/);
  } else {
    assert.match(echo.headers['content-type']!, /^application\/json/);
    assert.deepEqual(JSON.parse(echo.body), { lang, items: [1, 2, 3] });
  }
}

/** The error each helper raises for a 403 (axios rejects non-2xx before the helper's own check). */
const DENIED: Record<string, string> = {
  go: 'err statuscode: 403',
  python: 'err statuscode: 403',
  php: 'err statuscode: 403',
  node: 'Request failed with status code 403',
  java: 'java.lang.Exception: 403',
};

function assertDenied(emu: Emulator, lang: string, result: Awaited<ReturnType<typeof callThrough>>): void {
  assert.equal(result.status, 502);
  assert.equal(result.error, DENIED[lang]);
  const call = emu.calls().findLast((c) => c.from === lang && c.to === 'secret')!;
  assert.equal(call.error, 'inner_call_denied');
}

describe('documented clients: process runtime', () => {
  test('Go, Python, Node.js and PHP helpers as printed; Java with a client that honours proxy properties', async (t) => {
    // The Java helper's createDefault() resolves names itself: with an empty hosts file the JVM
    // fails the lookup locally instead of asking the machine's resolver.
    const hosts = path.join(tempDir(t), 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n');
    const emu = await startEmulator({
      config: CONFIG,
      proxyPort: 0,
      dnsPort: 0,
      services: { java: { env: { JAVA_TOOL_OPTIONS: `-Djdk.net.hosts.file=${hosts}` } } },
    });
    t.after(() => emu.stop());

    for (const lang of ['go', 'python', 'node', 'php']) {
      await t.test(`${lang}: GET with query and headers, POST, and a 403 as the helper's own error`, { timeout: 60_000 }, async () => {
        assertGet(emu, lang, await callThrough(emu, lang, '/call/get', 'target'));
        assertPost(lang, await callThrough(emu, lang, '/call/post', 'target', 'POST'));
        assertDenied(emu, lang, await callThrough(emu, lang, '/call/get', 'secret'));
      });
    }

    await t.test('go: the printed InternalCallPost (two dots) gets bad_inner_call_host', async () => {
      const result = await callThrough(emu, 'go', '/call/post-as-printed', 'target', 'POST');
      assert.deepEqual(result, { status: 502, error: 'err statuscode: 400' });
      const call = emu.calls().findLast((c) => c.host.includes('..'))!;
      assert.deepEqual([call.from, call.host, call.status, call.error], ['go', 'go-target..inner-call.dyc.ivolces.com', 400, 'bad_inner_call_host']);
      // What the helper received and dropped: the proxy's explanation.
      const reply = await request(emu.proxyUrl, { method: 'POST', path: 'http://go-target..inner-call.dyc.ivolces.com/api/post_result', body: '{}' });
      assert.equal(reply.status, 400);
      assert.equal(reply.headers['x-emulator-error'], 'bad_inner_call_host');
      assert.match(reply.json<{ message: string }>().message, /not a valid inner-call host: it contains an empty label \(two dots in a row\)/);
    });

    await t.test('java: HttpClients.createSystem() routes; the printed helper (createDefault) cannot in a process', async () => {
      assertGet(emu, 'java', await callThrough(emu, 'java', '/call/get-system', 'target'), 'java-get-system');
      assertDenied(emu, 'java', await callThrough(emu, 'java', '/call/get-system', 'secret'));
      const printed = await callThrough(emu, 'java', '/call/get', 'target');
      assert.equal(printed.status, 502);
      assert.match(printed.error!, /^java\.net\.UnknownHostException: .*java-target\.inner-call\.dyc\.ivolces\.com/);
    });
  });
});

describe('documented clients: docker runtime', () => {
  before(async () => {
    await ensureBaseImages();
    const result = await run('bash', [path.join(REPO, 'test/fixtures/docker/make-client-base-images.sh')], { timeoutMs: 180_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  /**
   * Build contexts as a user would have them before `docker build`: the Go binary built
   * (CGO_ENABLED=0), Apache HttpClient's jars in java/lib, axios in node/node_modules.
   */
  async function stage(dir: string): Promise<Record<string, string>> {
    const go = path.join(dir, 'go');
    cpSync(path.join(EXAMPLE, 'go'), go, { recursive: true });
    const build = await run('go', ['build', '-o', path.join(go, 'server'), '.'], { cwd: go, env: { CGO_ENABLED: '0' }, timeoutMs: 180_000 });
    assert.equal(build.code, 0, build.stderr);

    const java = path.join(dir, 'java');
    for (const part of ['src', 'Dockerfile']) cpSync(path.join(EXAMPLE, 'java', part), path.join(java, part), { recursive: true });
    mkdirSync(path.join(java, 'lib'));
    for (const jar of HTTPCLIENT_JARS) copyFileSync(jar, path.join(java, 'lib', path.basename(jar))); // Debian's are symlinks: copy the files

    const node = path.join(dir, 'node');
    cpSync(path.join(EXAMPLE, 'node'), node, { recursive: true });
    const copyPackage = (name: string): void => {
      const to = path.join(node, 'node_modules', name);
      if (readFileSafe(path.join(to, 'package.json')) !== undefined) return;
      const from = path.join(REPO, 'node_modules', name);
      cpSync(from, to, { recursive: true, dereference: true });
      const manifest = JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      for (const dependency of Object.keys(manifest.dependencies ?? {})) copyPackage(dependency);
    };
    copyPackage('axios');
    return {
      go,
      java,
      node,
      python: path.join(EXAMPLE, 'python'),
      php: path.join(EXAMPLE, 'php'),
      target: path.join(EXAMPLE, 'target'),
      secret: path.join(EXAMPLE, 'target'),
    };
  }

  test("all five helpers as printed, Java's HttpClients.createDefault() included", async (t) => {
    const dirs = await stage(tempDir(t));
    const bases: Record<string, string> = {
      go: 'dyc-local/static:1',
      java: 'dyc-local/java:17',
      python: 'dyc-local/python-requests:3',
      node: NODE_BASE,
      php: 'dyc-local/php:8',
      target: NODE_BASE,
      secret: NODE_BASE,
    };
    // The example's config, with the staged build contexts and the local bases; no upstream resolver.
    const config = parse(readFileSync(CONFIG, 'utf8')) as { services: Record<string, Record<string, unknown>> };
    for (const [name, service] of Object.entries(config.services)) {
      service.dir = dirs[name];
      service.docker = { dockerfile: 'Dockerfile', buildArgs: { BASE_IMAGE: bases[name] } };
    }
    const file = writeConfig(t, { ...config, $schema: undefined, dns: { upstream: ['127.0.0.1:9'] } });
    const emu = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, runtime: 'docker' });
    t.after(() => emu.stop());

    for (const lang of ['go', 'java', 'python', 'node', 'php']) {
      await t.test(`${lang}: GET with query and headers, POST, and a 403 as the helper's own error`, { timeout: 60_000 }, async () => {
        assertGet(emu, lang, await callThrough(emu, lang, '/call/get', 'target'));
        assertPost(lang, await callThrough(emu, lang, '/call/post', 'target', 'POST'));
        assertDenied(emu, lang, await callThrough(emu, lang, '/call/get', 'secret'));
      });
    }

    await t.test('go: the printed InternalCallPost (two dots) cannot resolve: "no such host", before any query', async () => {
      const before = emu.calls().length;
      const result = await callThrough(emu, 'go', '/call/post-as-printed', 'target', 'POST');
      assert.equal(result.status, 502);
      assert.match(
        result.error!,
        /^Post "http:\/\/go-target\.\.inner-call\.dyc\.ivolces\.com\/api\/post_result": dial tcp: lookup go-target\.\.inner-call\.dyc\.ivolces\.com.*: no such host$/,
      );
      assert.equal(emu.calls().length, before, 'nothing reached the proxy');
    });
  });
});

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

after(async () => {
  // Nothing of this process may stay in the engine, even after a failed test.
  const docker = new Docker();
  const owned = await docker.listContainers({ all: true, filters: { label: [`dyc-emulator.pid=${process.pid}`] } });
  await Promise.allSettled(owned.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});
