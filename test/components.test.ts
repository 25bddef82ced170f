import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { startEmulator, type Emulator } from '../dist/index.js';
import { CLI, echoService, processesWith, recordingLogger, REPO, request, run, sleep, startProcess, tempDir, waitGone, writeConfig } from './helpers.js';
import { EmulatorError, freePort } from './internals.js';

/**
 * Real redis-server and mariadbd (or mysqld) as processes. One data folder is shared by the
 * cases that follow each other (write, restart, reset), because initialising a MySQL data
 * folder is the slow part; each case still starts and stops its own emulator.
 */
const EXAMPLE = path.join(REPO, 'examples/components');
const SCHEMA = path.join(EXAMPLE, 'db/schema.sql');

let dir: string;
let file: string;
let dataDir: string;

function notesConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    services: { notes: { dir: path.join(EXAMPLE, 'notes'), command: 'node server.mjs' } },
    components: { redis: {}, mysql: { database: 'notes', init: SCHEMA }, ...extra },
  };
}

async function json(emu: Emulator, method: string, urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await request(emu.url('notes'), { method, path: urlPath });
  return { status: reply.status, body: reply.json() };
}

/** Servers of this test's data folder still running (their command lines name it). */
const servers = (): Promise<number[]> => processesWith(dataDir);

describe('components as local processes', () => {
  // A temp dir that outlives single tests: the cases below share its data folder.
  dir = mkdtempSync(path.join(tmpdir(), 'dyc-components-'));
  file = path.join(dir, 'emulator.config.json');
  writeFileSync(file, JSON.stringify(notesConfig(), null, 2));
  dataDir = path.join(dir, '.emulator', 'data');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a service writes and reads through exactly the injected variables; init ran; a crashed server restarts', async () => {
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, logger });
    try {
      const { redis, mysql: db } = emu.components;
      assert.ok(redis && db, 'emu.components has both');
      assert.match(redis.address, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(Object.keys(redis.env).sort(), ['REDIS_ADDRESS', 'REDIS_PASSWORD', 'REDIS_USERNAME']);
      assert.deepEqual(Object.keys(db.env).sort(), ['MYSQL_ADDRESS', 'MYSQL_DATABASE', 'MYSQL_PASSWORD', 'MYSQL_USERNAME']);
      assert.equal(db.env.MYSQL_DATABASE, 'notes');
      assert.equal(redis.runtime, 'process');

      // Init SQL ran on the new data folder: its table and row exist.
      assert.deepEqual((await json(emu, 'GET', '/notes')).body, { notes: [{ id: 1, text: 'welcome (from db/schema.sql)' }], created: 0 });
      assert.equal((await json(emu, 'POST', '/notes?text=first')).status, 201);
      assert.deepEqual((await json(emu, 'GET', '/notes/2')).body, { id: 2, text: 'first', from: 'redis' });

      // The test reaches the same servers with the same variables (as `emulator exec` gives them).
      const client = new Redis({ host: '127.0.0.1', port: Number(redis.address.split(':')[1]), username: redis.username, password: redis.password });
      assert.equal(await client.get('note:2'), 'first');
      client.disconnect();
      assert.ok(
        logger.events.some((line) => /^\[mysql\] ran schema\.sql/.test(line)),
        logger.events.join('\n'),
      );
      assert.ok(logger.events.some((line) => /^\[redis\] ready in \d+ ms at 127\.0\.0\.1:\d+/.test(line)));
      const info = (await request(emu.proxyUrl, { path: '/_emulator/info' })).json<{ components: unknown[] }>();
      assert.deepEqual(info.components, [
        { name: 'redis', runtime: 'process', address: redis.address, containerAddress: null, username: 'default', database: null },
        { name: 'mysql', runtime: 'process', address: db.address, containerAddress: null, username: 'app', database: 'notes' },
      ]);

      // Kill redis-server: it comes back on the same address; the service keeps running.
      const [redisPid] = await processesWith(path.join(dataDir, 'redis'));
      assert.ok(redisPid, 'redis-server runs with the data folder on its command line');
      const serviceUrl = emu.url('notes');
      // Redis's append-only file has a write within a second, two when fsync is slow (a loaded machine).
      await sleep(2_500);
      process.kill(redisPid, 'SIGKILL');
      const deadline = Date.now() + 15_000;
      while (!logger.events.some((line) => line === '[redis] restarted') && Date.now() < deadline) await sleep(50);
      assert.ok(
        logger.events.some((line) => /^\[redis\] the redis server was killed by SIGKILL; restarting in 500 ms/.test(line)),
        logger.events.join('\n'),
      );
      assert.ok(logger.events.includes('[redis] restarted'), logger.events.join('\n'));
      assert.equal(emu.url('notes'), serviceUrl, 'the service was not restarted');
      // AOF: the write before the crash is still there.
      let reply = await json(emu, 'GET', '/notes/2');
      for (let i = 0; i < 40 && reply.status !== 200; i++) {
        await sleep(100);
        reply = await json(emu, 'GET', '/notes/2');
      }
      assert.deepEqual(reply.body, { id: 2, text: 'first', from: 'redis' });
    } finally {
      await emu.stop();
    }
    assert.deepEqual(await waitGone(dataDir), [], 'no server is left after stop');
    assert.equal(existsSync(path.join(dataDir, 'redis', 'emulator.lock')), false, 'the data folder is released');
  });

  test('data survives a second start; init does not run again; a second emulator on the same data is refused', async () => {
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, logger });
    try {
      const { body } = await json(emu, 'GET', '/notes');
      assert.deepEqual(body.notes, [
        { id: 1, text: 'welcome (from db/schema.sql)' },
        { id: 2, text: 'first' },
      ]);
      assert.equal(body.created, 1);
      assert.ok(!logger.events.some((line) => /ran schema\.sql/.test(line)), 'init ran only on the new data folder');

      const before = (await servers()).length;
      await assert.rejects(startEmulator({ config: file }), (error: unknown) => {
        assert.ok(error instanceof EmulatorError);
        assert.equal(error.code, 'data_in_use');
        assert.match(error.message, new RegExp(`The data of components\\.redis \\(.*\\) is in use by the emulator with pid ${process.pid}`));
        assert.match(error.fix ?? '', /Stop that `emulator up` first/);
        return true;
      });
      assert.equal((await servers()).length, before, 'the refused start left nothing running');

      const refused = await run(process.execPath, [CLI, 'reset', '--yes', '--config', file]);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /Cannot reset: The data of components\.(redis|mysql) .* is in use/);
      assert.ok(existsSync(path.join(dataDir, 'mysql', 'server')), 'nothing was deleted');
    } finally {
      await emu.stop();
    }
    assert.deepEqual(await waitGone(dataDir), []);
  });

  test('reset empties the data; `emulator exec` gives the command the same variables', async () => {
    const reset = await run(process.execPath, [CLI, 'reset', 'mysql', '--yes', '--config', file]);
    assert.equal(reset.code, 0, reset.stdout + reset.stderr);
    assert.match(reset.stdout, /Deleted the data of mysql/);
    assert.equal(existsSync(path.join(dataDir, 'mysql')), false);
    assert.equal(existsSync(path.join(dataDir, 'redis')), true, 'only the component named');

    // The command checks the databases itself, with the variables exec passes.
    const check = path.join(dir, 'check.mjs');
    writeFileSync(
      check,
      `import Redis from ${JSON.stringify(path.join(REPO, 'node_modules/ioredis/built/index.js'))};
import mysql from ${JSON.stringify(path.join(REPO, 'node_modules/mysql2/promise.js'))};
const e = process.env;
const [host, port] = e.MYSQL_ADDRESS.split(':');
const db = await mysql.createConnection({ host, port: Number(port), user: e.MYSQL_USERNAME, password: e.MYSQL_PASSWORD, database: e.MYSQL_DATABASE });
const [rows] = await db.query('SELECT text FROM notes');
await db.end();
const [rhost, rport] = e.REDIS_ADDRESS.split(':');
const redis = new Redis({ host: rhost, port: Number(rport), username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD });
const created = await redis.get('notes:created');
redis.disconnect();
console.log(JSON.stringify({ rows: rows.map((r) => r.text), created }));
`,
    );
    const exec = await run(process.execPath, [CLI, 'exec', '--quiet', '--config', file, '--', process.execPath, check], { timeoutMs: 120_000 });
    assert.equal(exec.code, 0, exec.stdout + exec.stderr);
    const result = JSON.parse(exec.stdout.trim().split('\n').at(-1)!) as { rows: string[]; created: string };
    assert.deepEqual(result.rows, ['welcome (from db/schema.sql)'], 'mysql is empty again, and init ran once more');
    assert.equal(result.created, '1', 'redis kept its data');
    assert.deepEqual(await waitGone(dataDir), []);

    const all = await run(process.execPath, [CLI, 'reset', '-y', '-c', file]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Deleted the data of (redis, mysql|mysql, redis)/);
  });

  test('routes shows the components and their variables', async () => {
    const result = await run(process.execPath, [CLI, 'routes', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /redis +process .*redis-server\n +REDIS_ADDRESS=127\.0\.0\.1:<free port> REDIS_USERNAME=default REDIS_PASSWORD=emulator/);
    assert.match(
      result.stdout,
      /mysql +process .*(mariadbd|mysqld)\n +MYSQL_ADDRESS=127\.0\.0\.1:<free port> MYSQL_USERNAME=app MYSQL_PASSWORD=emulator MYSQL_DATABASE=notes/,
    );
  });
});

describe('components: errors', () => {
  test('neither the binary nor docker: the error names both fixes, and nothing starts', async (t) => {
    const ports = { proxy: { port: await freePort() }, dns: { port: await freePort() } };
    const configFile = writeConfig(t, { services: { api: echoService() }, components: { redis: {} }, ...ports });
    const result = await run(process.execPath, [CLI, 'up', '--no-watch', '--config', configFile], {
      env: { PATH: path.join(path.dirname(configFile), 'empty-bin'), DOCKER_HOST: `unix://${path.join(path.dirname(configFile), 'no-docker.sock')}` },
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      /components\.redis needs a Redis server: redis-server is not on PATH, and docker cannot run redis:7: Docker engine not reachable/,
    );
    assert.match(
      result.stderr,
      /Fix: Install it \(`sudo apt-get install redis-server` \(Debian, Ubuntu\) or `brew install redis` \(macOS\)\), or start Docker/,
    );
    assert.doesNotMatch(result.stdout, /Starting 1 service/);
  });

  test('a fixed port in use: a clear error, and no server is left', async (t) => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.after(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;
    const configFile = writeConfig(t, { services: { api: echoService() }, components: { redis: {}, mysql: { port } } });
    const data = path.join(path.dirname(configFile), '.emulator');
    await assert.rejects(startEmulator({ config: configFile }), (error: unknown) => {
      assert.ok(error instanceof EmulatorError);
      assert.equal(error.code, 'port_in_use');
      assert.match(error.message, new RegExp(`components\\.mysql needs port ${port} \\(components\\.mysql\\.port\\)`));
      return true;
    });
    assert.deepEqual(await processesWith(data), []);
    assert.equal(existsSync(path.join(data, 'data', 'redis', 'emulator.lock')), false, 'the lock taken before the failure is released');
  });

  test('init SQL that fails: the error names the file, and the next start runs init again', async (t) => {
    const folder = tempDir(t);
    const bad = path.join(folder, 'bad.sql');
    writeFileSync(bad, 'CREATE TABLE t (id INT);\nINSERT INTO nowhere VALUES (1);\n');
    const configFile = writeConfig(t, { services: { api: echoService() }, components: { mysql: { init: 'bad.sql' } } }, folder);
    await assert.rejects(startEmulator({ config: configFile }), /components\.mysql\.init: .*bad\.sql failed: Table 'app\.nowhere' doesn't exist/);
    assert.deepEqual(await waitGone(path.join(folder, '.emulator')), []);
    writeFileSync(bad, readFileSync(SCHEMA, 'utf8'));
    const emu = await startEmulator({ config: configFile });
    try {
      const m = emu.components.mysql!;
      const [host, port] = m.address.split(':');
      const db = await mysql.createConnection({ host, port: Number(port), user: m.username, password: m.password, database: m.database });
      const [rows] = await db.query('SELECT COUNT(*) AS n FROM notes');
      await db.end();
      assert.deepEqual(rows, [{ n: 1 }], 'the fixed init ran on the emptied data folder');
    } finally {
      await emu.stop();
    }
  });

  test('a server left running by a killed `up` is stopped by the next start, not run twice', async (t) => {
    const folder = tempDir(t);
    const marker = `DYC_ORPHAN_${process.pid}`;
    const ports = { proxy: { port: await freePort() }, dns: { port: await freePort() } };
    const configFile = writeConfig(t, { services: { api: echoService({ env: { [marker]: '1' } }) }, components: { redis: {} }, ...ports }, folder);
    const redisDir = path.join(folder, '.emulator/data/redis');
    // If this test fails half-way, the server the killed emulator leaves must not outlive it
    // (once its folder is deleted, redis-server ignores SIGTERM: its final save fails).
    t.after(async () => {
      for (const pid of await processesWith(redisDir)) process.kill(pid, 'SIGKILL');
    });
    const up = startProcess(t, process.execPath, [CLI, 'up', '--no-watch', '--config', configFile]);
    await up.waitFor(/healthy in \d+ ms/, 60_000);
    up.child.kill('SIGKILL'); // no chance to stop anything
    await up.exited;
    const [orphan] = await processesWith(redisDir);
    assert.ok(orphan, 'redis-server outlived the killed emulator');
    // The service's process group outlived the emulator too: not ours to test here.
    const killLeftovers = async (): Promise<void> => {
      for (const pid of await processesWith(marker)) process.kill(pid, 'SIGKILL');
    };
    t.after(killLeftovers);
    await killLeftovers();

    const logger = recordingLogger();
    const emu = await startEmulator({ config: configFile, logger });
    try {
      assert.ok(logger.events.includes(`[redis] stopped server ${orphan}, left running by an emulator that was killed`), logger.events.join('\n'));
      assert.equal((await processesWith(redisDir)).length, 1, 'one server on the data folder');
    } finally {
      await emu.stop();
    }
    assert.deepEqual(await waitGone(redisDir), []);
  });

  test('reset asks on a terminal (no: nothing deleted; yes: deleted), and not with --yes', async (t) => {
    const folder = tempDir(t);
    const configFile = writeConfig(t, { services: { api: echoService() }, components: { redis: {} } }, folder);
    const files = path.join(folder, '.emulator/data/redis/server');
    mkdirSync(files, { recursive: true });
    writeFileSync(path.join(files, 'appendonly.aof'), 'x');
    // `script` gives the CLI a pseudo-terminal, as a user's shell would.
    const onTerminal = (answer: string) => run('script', ['-qec', `${process.execPath} ${CLI} reset --config ${configFile}`, '/dev/null'], { input: answer });
    const no = await onTerminal('n\n');
    assert.match(no.stdout, /Delete the data of redis \(.*\.emulator\/data\/redis\)\? \[y\/N\]/);
    assert.match(no.stdout, /Nothing deleted\./);
    assert.equal(no.code, 1);
    assert.ok(existsSync(files));
    const yes = await onTerminal('y\n');
    assert.match(yes.stdout, /Deleted the data of redis/, yes.stdout);
    assert.equal(existsSync(files), false);
    const none = await run(process.execPath, [CLI, 'reset', '--yes', '--config', configFile]);
    assert.match(none.stdout, /Nothing to reset: no component data in .*\.emulator\/data/);
  });

  test('config: mongo is not supported yet; component keys are checked like the others', async (t) => {
    const { loadConfig } = await import('../dist/index.js');
    const load = (components: unknown): string => {
      try {
        loadConfig(writeConfig(t, { services: { api: echoService() }, components }));
      } catch (error) {
        assert.ok(error instanceof EmulatorError);
        return `${error.message}\nFix: ${error.fix ?? ''}`;
      }
      assert.fail('accepted');
    };
    assert.match(
      load({ mongo: {} }),
      /components\.mongo \(line \d+, column \d+\): MongoDB is not supported yet[\s\S]*Fix: Remove components\.mongo; until it is supported, run MongoDB yourself and set MONGO_ADDRESS/,
    );
    assert.match(load({ redis: { pasword: 'x' } }), /components\.redis\.pasword .*unknown key "pasword"\. Did you mean "password"\?/);
    assert.match(load({ mysql: { database: 'my-app' } }), /components\.mysql\.database .*"my-app" is not a valid database name/);
    assert.match(load({ mysql: { init: 'missing.sql' } }), /components\.mysql\.init .*file .*missing\.sql does not exist/);
    assert.match(load({ redis: { runtime: 'vm' } }), /components\.redis\.runtime .*expected one of "process", "docker", got "vm"/);
  });
});
