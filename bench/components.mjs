#!/usr/bin/env node
// Components start-up: `emulator up` (the CLI) of a config with one service and both
// components (redis-server and mariadbd as processes) until "All 1 services healthy",
// against starting redis-server and mariadbd by hand, polling each (AUTH+PING, SELECT 1
// every 50 ms), then the service once both answer (polling GET /v1/ping). Two cases: data kept from an earlier
// run, and a new data folder (mariadb-install-db first, in both). Median of N runs.
//
// Usage: node bench/components.mjs [--runs 3]
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { redisPing } from '../dist/components/readiness.js';
import { benchDir, cli, flags, freePort, ping, sleep, stopAll, tableHeader, targetService, timesRow, timeUp, today, workDir } from './lib.mjs';

const values = flags({ runs: '3' });
const runs = Number(values.runs);
const work = workDir('dyc-components-bench-');
const root = process.getuid?.() === 0 ? ['--user=root'] : [];
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: { api: targetService() },
    components: { redis: {}, mysql: {} },
    proxy: { port: await freePort() },
    dns: { port: await freePort() },
  }),
);

function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore', ...options });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function until(check) {
  while (
    !(await check().then(
      () => true,
      () => false,
    ))
  )
    await sleep(50);
}

const emulatorUp = () => timeUp(config);

const handDir = path.join(work, 'by-hand');
async function byHand(fresh) {
  const [redisPort, mysqlPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const datadir = path.join(handDir, 'mysql');
  const socket = path.join(handDir, 'mysqld.sock');
  const started = performance.now();
  if (fresh) {
    rmSync(handDir, { recursive: true, force: true });
    mkdirSync(path.join(handDir, 'redis'), { recursive: true });
    await run('mariadb-install-db', [
      '--no-defaults',
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...root,
    ]);
  }
  const children = [
    spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', path.join(handDir, 'redis'), '--appendonly', 'yes', '--requirepass', 'pw'],
      { stdio: 'ignore' },
    ),
    spawn(
      '/usr/sbin/mariadbd',
      ['--no-defaults', `--datadir=${datadir}`, `--port=${mysqlPort}`, '--bind-address=127.0.0.1', `--socket=${socket}`, '--skip-name-resolve', ...root],
      { stdio: 'ignore' },
    ),
  ];
  await Promise.all([
    until(() => redisPing('127.0.0.1', redisPort, 'default', 'pw')),
    until(async () => {
      const connection = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await connection.query('SELECT 1');
      await connection.end();
    }),
  ]);
  // As the emulator does (and as a service that connects at start needs): the service after its databases answer.
  children.push(spawn(process.execPath, ['target.cjs'], { cwd: benchDir, env: { ...process.env, PORT: String(apiPort) }, stdio: 'ignore' }));
  await until(async () => {
    if (!(await ping(apiPort))) throw new Error('not yet');
  });
  const elapsed = performance.now() - started;
  await stopAll(children);
  return elapsed;
}

try {
  mkdirSync(path.join(handDir, 'redis'), { recursive: true });
  await byHand(true); // creates the by-hand data; warms the file-system cache
  await emulatorUp(); // creates .emulator/data
  const rows = [];
  for (const fresh of [false, true]) {
    const emulator = [];
    const hand = [];
    for (let i = 0; i < runs; i++) {
      if (fresh) await run(process.execPath, [cli, 'reset', '--yes', '--config', config]);
      emulator.push(await emulatorUp());
      hand.push(await byHand(fresh));
    }
    rows.push([fresh ? 'new data (install-db first)' : 'data kept', emulator, hand]);
  }
  console.log(`\n${runs} runs each, start → redis, mysql and 1 service answering (ms), Node ${process.version}, ${today()}\n`);
  tableHeader(['', 'median', 'min', 'max', 'median vs by hand']);
  for (const [label, emulator, hand] of rows) {
    timesRow(`${label}: emulator up (CLI, proxy, DNS, both components, 1 service)`, emulator, hand);
    timesRow(`${label}: by hand (redis-server + mariadbd, then node; polled every 50 ms)`, hand, hand);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
