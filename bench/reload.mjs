#!/usr/bin/env node
// Hot-reload benchmark: time from a file write to the first response that carries the
// new code, median of N edits, for `emulator up` (through its proxy) and for
// `node --watch` on the same service (directly), measured in one run.
//
// Usage: node bench/reload.mjs [--edits 20]
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { cli, flags, freePort, quantile, sleep, tableHeader, tableRow, today, workDir } from './lib.mjs';

const values = flags({ edits: '20' });
const edits = Number(values.edits);

const source = (version) => `const http = require('node:http');
http.createServer((req, res) => res.end(${JSON.stringify(version)})).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;

/** GET → body, or undefined when nothing answers (restarting). */
function get(port, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/** Writes `edits` new versions and measures, for each, write → first new answer. */
async function measure(file, ask) {
  const times = [];
  for (let i = 0; i < edits; i++) {
    const version = `v${i}-${Date.now()}`;
    const started = performance.now();
    writeFileSync(file, source(version));
    while ((await ask()) !== version) {
      if (performance.now() - started > 20_000) throw new Error(`${version} never answered`);
      await sleep(2);
    }
    times.push(performance.now() - started);
    await sleep(300); // let the watcher settle before the next edit
  }
  return { median: quantile(times, 0.5), p90: quantile(times, 0.9), min: Math.min(...times) };
}

function waitForOutput(child, pattern) {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      if (pattern.test(out)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => reject(new Error(`exited early:\n${out}`)));
  });
}

const work = workDir('dyc-reload-bench-');
try {
  // 1. emulator up, through its proxy, as a caller would see it.
  const emuDir = path.join(work, 'emu');
  mkdirSync(emuDir);
  writeFileSync(path.join(emuDir, 'server.js'), source('start'));
  const proxyPort = await freePort();
  const config = path.join(work, 'emulator.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      services: { svc: { dir: emuDir, command: 'node server.js', allow: ['svc'] } },
      proxy: { port: proxyPort },
      dns: { port: await freePort() },
    }),
  );
  const emulator = spawn(process.execPath, [cli, 'up', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(emulator, /Watching/);
  const viaEmulator = await measure(path.join(emuDir, 'server.js'), () => get(proxyPort, { host: 'svc-svc.inner-call.dyc.ivolces.com' }));
  emulator.kill('SIGINT');
  await new Promise((resolve) => emulator.once('exit', resolve));

  // 2. node --watch on the same service, straight to its port.
  const nodeDir = path.join(work, 'node');
  mkdirSync(nodeDir);
  writeFileSync(path.join(nodeDir, 'server.js'), source('start'));
  const port = await freePort();
  const watcher = spawn(process.execPath, ['--watch', 'server.js'], {
    cwd: nodeDir,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  while ((await get(port)) !== 'start') await sleep(20);
  const viaNodeWatch = await measure(path.join(nodeDir, 'server.js'), () => get(port));
  watcher.kill('SIGTERM');

  console.log(`\n${edits} edits each, write → first response with the new code (ms), Node ${process.version}, ${today()}\n`);
  tableHeader(['', 'median', 'p90', 'min', 'median vs node --watch']);
  const row = (label, times, ratio) => tableRow([label, Math.round(times.median), Math.round(times.p90), Math.round(times.min), ratio]);
  row('emulator up (through the proxy, health-checked)', viaEmulator, (viaEmulator.median / viaNodeWatch.median).toFixed(2));
  row('node --watch (direct)', viaNodeWatch, '1.00');
} finally {
  rmSync(work, { recursive: true, force: true });
}
