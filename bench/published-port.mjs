#!/usr/bin/env node
// Published-port benchmark: what a service's stable direct URL (the published port,
// emulator/proxy/published-port.ts) costs against calling the instance's own port, with
// the routing proxy's inner-call path in the same run for scale. One `emulator up` in
// its own process; wrk, keep-alive, a 13-byte body; median of interleaved rounds.
//
// Usage: node bench/published-port.mjs [--duration 5] [--rounds 3] [--connections 32]
// Needs wrk and a built emulator.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, openSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '32' } },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-published-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const proxyPort = await freePort();
const publishedPort = await freePort();
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: {
      caller: { dir: here, command: 'node target.cjs', env: { BODY_BYTES: '13' }, allow: ['small'] },
      small: { dir: here, command: 'node target.cjs', env: { BODY_BYTES: '13' }, publishedPort },
    },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const log = path.join(work, 'emulator.log');
const emulator = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config], {
  stdio: ['ignore', openSync(log, 'w'), 'inherit'],
});
for (let waited = 0; !/services healthy/.test(readFileSync(log, 'utf8')); waited += 100) {
  if (emulator.exitCode !== null || waited > 30_000) throw new Error(`emulator up failed:\n${readFileSync(log, 'utf8')}`);
  await sleep(100);
}
const info = await new Promise((resolve, reject) =>
  http
    .get({ host: '127.0.0.1', port: proxyPort, path: '/_emulator/info' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(JSON.parse(body)));
    })
    .on('error', reject),
);
const instanceUrl = info.services.find((service) => service.name === 'small').instanceUrl;

const targets = [
  { name: 'instance port (direct)', url: `${instanceUrl}/`, headers: [] },
  { name: 'published port', url: `http://127.0.0.1:${publishedPort}/`, headers: [] },
  { name: 'proxy, inner call', url: `http://127.0.0.1:${proxyPort}/`, headers: ['Host: caller-small.inner-call.dyc.ivolces.com'] },
];

async function wrk(target) {
  const args = ['-t', '2', '-c', values.connections, '-d', `${values.duration}s`, '--latency', ...target.headers.flatMap((h) => ['-H', h]), target.url];
  const { stdout } = await promisify(execFile)('wrk', args, { encoding: 'utf8' });
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0');
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), p50: p50 ? toMs(p50[1], p50[2]) : NaN, errors };
}
const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];
try {
  for (const target of targets) await wrk({ ...target }); // warm-up
  const runs = targets.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) for (const [i, target] of targets.entries()) runs[i].push(await wrk(target));
  const direct = median(runs[0].map((r) => r.rps));
  console.log(
    `\nwrk -t2 -c${values.connections} -d${values.duration}s, keep-alive, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`,
  );
  console.log('| path | req/s | vs direct | p50 ms | errors |');
  console.log('|---|---|---|---|---|');
  for (const [i, target] of targets.entries()) {
    const rps = median(runs[i].map((r) => r.rps));
    console.log(
      `| ${target.name} | ${Math.round(rps)} | ${(rps / direct).toFixed(2)}× | ${median(runs[i].map((r) => r.p50)).toFixed(2)} | ${runs[i].reduce((sum, r) => sum + r.errors, 0)} |`,
    );
  }
} finally {
  emulator.kill('SIGINT');
  await new Promise((resolve) => emulator.once('exit', resolve));
  rmSync(work, { recursive: true, force: true });
}
