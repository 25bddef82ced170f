import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { build } from 'esbuild';
import { startEmulator, type Emulator } from '../dist/index.js';
import { ensureBaseImages, dockerService, ownedByThisProcess } from './docker-helpers.js';
import { recordingLogger, REPO, request, run, sleep, tempDir, writeConfig } from './helpers.js';

const EXAMPLE = path.join(REPO, 'examples/components');
/** Local stand-ins for redis:7 and mysql:8.0, built from the host's servers (nothing can be pulled in CI). */
const REDIS_IMAGE = 'dyc-local/redis:7';
const MYSQL_IMAGE = 'dyc-local/mariadb:10';

async function notes(emu: Emulator, service: string, method = 'GET', urlPath = '/notes'): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await request(emu.url(service), { method, path: urlPath });
  return { status: reply.status, body: reply.json() };
}

describe('components in docker', () => {
  before(async () => {
    await ensureBaseImages();
    const result = await run('bash', [path.join(REPO, 'test/fixtures/docker/make-component-images.sh')], { timeoutMs: 180_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('a container service and a process service reach the same redis and mysql containers; data stays in .emulator/data', async (t) => {
    // The example's service, bundled with ioredis and mysql2 into one file for a node-only image.
    const boxDir = tempDir(t);
    await build({
      entryPoints: [path.join(EXAMPLE, 'notes/server.mjs')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: path.join(boxDir, 'server.cjs'),
      logLevel: 'silent',
    });
    writeFileSync(
      path.join(boxDir, 'Dockerfile'),
      `ARG BASE_IMAGE=node:22-slim\nFROM \${BASE_IMAGE}\nCOPY server.cjs /app/server.cjs\nCMD ["node", "/app/server.cjs"]\n`,
    );

    const dir = tempDir(t);
    const config = {
      services: {
        box: dockerService(boxDir),
        local: { dir: path.join(EXAMPLE, 'notes'), command: 'node server.mjs' },
      },
      components: { redis: { image: REDIS_IMAGE }, mysql: { image: MYSQL_IMAGE, database: 'notes', init: path.join(EXAMPLE, 'db/schema.sql') } },
    };
    const file = writeConfig(t, config, dir);
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, logger });
    try {
      const { redis, mysql } = emu.components;
      assert.equal(redis?.runtime, 'docker', 'with docker services, components run as containers');
      assert.equal(redis.containerAddress, 'redis:6379');
      assert.equal(mysql?.containerAddress, 'mysql:3306');
      assert.match(mysql.address, /^127\.0\.0\.1:\d+$/);

      // Written through the container (REDIS_ADDRESS=redis:6379, MYSQL_ADDRESS=mysql:3306)…
      const created = await notes(emu, 'box', 'POST', '/notes?text=from-a-container');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      // …read through the process (127.0.0.1:<published port>), from MySQL and from Redis.
      assert.deepEqual((await notes(emu, 'local')).body, {
        notes: [
          { id: 1, text: 'welcome (from db/schema.sql)' },
          { id: 2, text: 'from-a-container' },
        ],
        created: 1,
      });
      assert.deepEqual((await notes(emu, 'local', 'GET', '/notes/2')).body, { id: 2, text: 'from-a-container', from: 'redis' });
      assert.ok(
        logger.events.some((line) => /^\[mysql\] ready in \d+ ms at 127\.0\.0\.1:\d+ \(containers: mysql:3306\)/.test(line)),
        logger.events.join('\n'),
      );
    } finally {
      await emu.stop();
    }
    assert.deepEqual(await ownedByThisProcess(), { containers: [], networks: [] }, 'no container or network is left');

    // The files are on this machine, owned by this user (reset can delete them).
    const mysqlFiles = path.join(dir, '.emulator/data/mysql/server');
    assert.ok(readdirSync(mysqlFiles).includes('ibdata1'), 'the datadir is the bind-mounted folder');
    assert.equal(statSync(path.join(mysqlFiles, 'ibdata1')).uid, process.getuid!());

    // A second start finds the data; init does not run again (its CREATE TABLE would fail).
    const again = await startEmulator({ config: file });
    try {
      assert.deepEqual(((await notes(again, 'box')).body.notes as unknown[]).length, 2);
    } finally {
      await again.stop();
    }
    assert.deepEqual(await ownedByThisProcess(), { containers: [], networks: [] });
  });

  test('"runtime": "docker" on a component runs it as a container for process services too', async (t) => {
    const file = writeConfig(t, {
      services: { local: { dir: path.join(EXAMPLE, 'notes'), command: 'node server.mjs' } },
      components: {
        redis: { runtime: 'docker', image: REDIS_IMAGE },
        mysql: { runtime: 'process', database: 'notes', init: path.join(EXAMPLE, 'db/schema.sql') },
      },
    });
    mkdirSync(path.join(path.dirname(file), '.emulator'), { recursive: true });
    const logger = recordingLogger();
    const emu = await startEmulator({ config: file, logger });
    try {
      assert.equal(emu.components.redis?.runtime, 'docker');
      assert.equal(emu.components.mysql?.runtime, 'process');
      assert.equal((await notes(emu, 'local', 'POST', '/notes?text=x')).status, 201);
      assert.deepEqual((await notes(emu, 'local', 'GET', '/notes/2')).body, { id: 2, text: 'x', from: 'redis' });

      // The redis container dies: a new one starts on the same published port and data.
      const docker = new Docker();
      const [container] = await docker.listContainers({ filters: { label: [`dyc-emulator.pid=${process.pid}`, 'dyc-emulator.role=component'] } });
      assert.ok(container, 'the component container is labelled with the session');
      await sleep(2_500); // the append-only file has a write within a second, two when fsync is slow
      await docker.getContainer(container.Id).kill();
      const deadline = Date.now() + 60_000;
      while (!logger.events.includes('[redis] restarted') && Date.now() < deadline) await sleep(100);
      assert.ok(
        logger.events.some((line) => /^\[redis\] the redis server exited with code \d+; restarting in 500 ms/.test(line)),
        logger.events.join('\n'),
      );
      assert.ok(logger.events.includes('[redis] restarted'), logger.events.join('\n'));
      let reply = await notes(emu, 'local', 'GET', '/notes/2');
      for (let i = 0; i < 50 && reply.status !== 200; i++) {
        await sleep(100);
        reply = await notes(emu, 'local', 'GET', '/notes/2');
      }
      assert.deepEqual(reply.body, { id: 2, text: 'x', from: 'redis' });
    } finally {
      await emu.stop();
    }
    assert.deepEqual(await ownedByThisProcess(), { containers: [], networks: [] });
  });
});
