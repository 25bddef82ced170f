#!/usr/bin/env node
// Start-up benchmark: `emulator up` of a 10-service config (process runtime) until
// "All 10 services healthy", against starting the same 10 processes by hand and polling
// each one's /v1/ping, median of N runs, in one run on this machine.
//
// Usage: node bench/startup.mjs [--runs 5] [--services 10]
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchDir, flags, freePort, ping, sleep, stopAll, tableHeader, targetService, timesRow, timeUp, today, workDir } from './lib.mjs';

const values = flags({ runs: '5', services: '10' });
const runs = Number(values.runs);
const count = Number(values.services);
const work = workDir('dyc-startup-bench-');

const names = Array.from({ length: count }, (_, i) => `svc${i}`);
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: Object.fromEntries(names.map((name) => [name, { ...targetService(), allow: names }])),
    proxy: { port: await freePort() },
    dns: { port: await freePort() },
  }),
);

const emulatorUp = () => timeUp(config);

async function byHand() {
  const ports = await Promise.all(names.map(() => freePort()));
  const started = performance.now();
  const children = ports.map((port) =>
    spawn(process.execPath, ['target.cjs'], { cwd: benchDir, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' }),
  );
  await Promise.all(
    ports.map(async (port) => {
      while (!(await ping(port))) await sleep(20);
    }),
  );
  const elapsed = performance.now() - started;
  await stopAll(children);
  return elapsed;
}

try {
  await emulatorUp(); // warm the file-system cache
  const emulator = [];
  const hand = [];
  for (let i = 0; i < runs; i++) {
    emulator.push(await emulatorUp());
    hand.push(await byHand());
  }
  console.log(`\n${runs} runs each, start → ${count} services healthy (ms), Node ${process.version}, ${today()}\n`);
  tableHeader(['', 'median', 'min', 'max', 'median vs by hand']);
  timesRow(`emulator up (CLI start, proxy, DNS, ${count} services, health checks)`, emulator, hand);
  timesRow(`by hand: ${count} × node, poll /v1/ping every 20 ms`, hand, hand);
} finally {
  rmSync(work, { recursive: true, force: true });
}
