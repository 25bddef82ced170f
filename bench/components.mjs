#!/usr/bin/env node
// Components start-up: `emulator up` (the CLI) of a config with one service and both
// components (redis-server and mariadbd as processes) until "All 1 services healthy",
// against starting redis-server and mariadbd by hand, polling each (AUTH+PING, SELECT 1
// every 50 ms), then the service once both answer (polling GET /v1/ping). Two cases: data kept from an earlier
// run, and a new data folder (mariadb-install-db first, in both). Median of N runs.
//
// Usage: node bench/components.mjs [--runs 3]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from '../dist/util/net.js';
import { redisPing } from '../dist/components/readiness.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../bin/emulator.js');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-components-bench-'));
const root = process.getuid?.() === 0 ? ['--user=root'] : [];
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: { api: { dir: here, command: 'node target.cjs' } },
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

const ping = (port) =>
  new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v1/ping', agent: false }, (res) => resolve(res.resume() && res.statusCode === 200))
      .on('error', () => resolve(false));
  });
async function until(check) {
  while (
    !(await check().then(
      () => true,
      () => false,
    ))
  )
    await sleep(50);
}

async function emulatorUp() {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'up', '--no-watch', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (/All \d+ services healthy/.test(out)) resolve();
    });
    child.once('exit', () => reject(new Error(`emulator up failed:\n${out}`)));
  });
  const elapsed = performance.now() - started;
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  return elapsed;
}

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
  children.push(spawn(process.execPath, ['target.cjs'], { cwd: here, env: { ...process.env, PORT: String(apiPort) }, stdio: 'ignore' }));
  await until(async () => {
    if (!(await ping(apiPort))) throw new Error('not yet');
  });
  const elapsed = performance.now() - started;
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
  return elapsed;
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
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
  const fmt = (n) => Math.round(n);
  console.log(`\n${runs} runs each, start → redis, mysql and 1 service answering (ms), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| | median | min | max | median vs by hand |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [label, emulator, hand] of rows) {
    console.log(
      `| ${label}: emulator up (CLI, proxy, DNS, both components, 1 service) | ${fmt(median(emulator))} | ${fmt(Math.min(...emulator))} | ${fmt(Math.max(...emulator))} | ${(median(emulator) / median(hand)).toFixed(2)} |`,
    );
    console.log(
      `| ${label}: by hand (redis-server + mariadbd, then node; polled every 50 ms) | ${fmt(median(hand))} | ${fmt(Math.min(...hand))} | ${fmt(Math.max(...hand))} | 1.00 |`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
