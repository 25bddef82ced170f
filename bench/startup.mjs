#!/usr/bin/env node
// Start-up benchmark: `emulator up` of a 10-service config (process runtime) until
// "All 10 services healthy", against starting the same 10 processes by hand and polling
// each one's /v1/ping, median of N runs, in one run on this machine.
//
// Usage: node bench/startup.mjs [--runs 5] [--services 10]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, services: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
const count = Number(values.services);
const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-startup-bench-'));

const names = Array.from({ length: count }, (_, i) => `svc${i}`);
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: Object.fromEntries(names.map((name) => [name, { dir: here, command: 'node target.cjs', allow: names }])),
    proxy: { port: await freePort() },
    dns: { port: await freePort() },
  }),
);

function ping(port) {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v1/ping', agent: false }, (res) => resolve(res.resume() && res.statusCode === 200))
      .on('error', () => resolve(false));
  });
}

async function emulatorUp() {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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

async function byHand() {
  const ports = await Promise.all(names.map(() => freePort()));
  const started = performance.now();
  const children = ports.map((port) => spawn(process.execPath, ['target.cjs'], { cwd: here, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' }));
  await Promise.all(
    ports.map(async (port) => {
      while (!(await ping(port))) await sleep(20);
    }),
  );
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
  await emulatorUp(); // warm the file-system cache
  const emulator = [];
  const hand = [];
  for (let i = 0; i < runs; i++) {
    emulator.push(await emulatorUp());
    hand.push(await byHand());
  }
  const fmt = (n) => Math.round(n);
  console.log(`\n${runs} runs each, start → ${count} services healthy (ms), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| | median | min | max | median vs by hand |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(
    `| emulator up (CLI start, proxy, DNS, ${count} services, health checks) | ${fmt(median(emulator))} | ${fmt(Math.min(...emulator))} | ${fmt(Math.max(...emulator))} | ${(median(emulator) / median(hand)).toFixed(2)} |`,
  );
  console.log(`| by hand: ${count} × node, poll /v1/ping every 20 ms | ${fmt(median(hand))} | ${fmt(Math.min(...hand))} | ${fmt(Math.max(...hand))} | 1.00 |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
