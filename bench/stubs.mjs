#!/usr/bin/env node
// Services that do not run here, measured in one run on this machine (`emulator up`
// in its own process, as users run it):
//   - direct: wrk straight to a local "remote" server (bench/target.cjs, 13-byte body);
//   - local:  through the proxy to the same server run as a process service (the usual path);
//   - url:    through the proxy to a `url` service whose URL is that server (proxy → relay → server);
//   - stub:   through the proxy to a `stub` service answering 13 bytes from a WireMock mapping;
//   - stub direct: the stub's own server, without the proxy (what the stub costs by itself).
// Throughput with keep-alive at 32 connections, and latency at a fixed rate (wrk paced by
// bench/fixed-rate.lua); each figure is the median of interleaved rounds. CPU time per request
// (user+system of the emulator process, which hosts the proxy and the stand-ins, and of
// the target processes) is the figure that holds on a loaded machine.
//
// Usage: node bench/stubs.mjs [--duration 5] [--rate 1000] [--rounds 3]
// Needs wrk and a built emulator (npm run build).
import { spawn, execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, rate: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' } },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-stubs-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The "remote" server: the same 13-byte target the proxy benchmark uses.
const remotePort = await freePort();
const remote = spawn(process.execPath, [path.join(here, 'target.cjs')], {
  env: { ...process.env, PORT: String(remotePort), BODY_BYTES: '13' },
  stdio: 'inherit',
});
const remoteExit = new Promise((resolve) => remote.once('exit', resolve));

mkdirSync(path.join(work, 'stub/mappings'), { recursive: true });
writeFileSync(
  path.join(work, 'stub/mappings/small.json'),
  JSON.stringify({ request: { method: 'GET', urlPath: '/small' }, response: { status: 200, body: 'x'.repeat(13), headers: { 'Content-Type': 'text/plain' } } }),
);
const proxyPort = await freePort();
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: {
      caller: { dir: here, command: 'node target.cjs', allow: ['local', 'remote', 'stub'] },
      local: { dir: here, command: 'node target.cjs', env: { BODY_BYTES: '13' } },
      remote: { url: `http://127.0.0.1:${remotePort}` },
      stub: { stub: 'stub' },
    },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const log = path.join(work, 'emulator.log');
const emulator = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config], {
  stdio: ['ignore', openSync(log, 'w'), 'inherit'],
});
const emulatorExit = new Promise((resolve) => emulator.once('exit', resolve));
for (let waited = 0; !/services healthy/.test(readFileSync(log, 'utf8')); waited += 100) {
  if (emulator.exitCode !== null || waited > 30_000) throw new Error(`emulator up failed:\n${readFileSync(log, 'utf8')}`);
  await sleep(100);
}
const info = await (await fetch(`http://127.0.0.1:${proxyPort}/_emulator/info`)).json();
// The instance itself, not its published port (a forwarding Node http server of its own).
const portOf = (name) => {
  const service = info.services.find((entry) => entry.name === name);
  return new URL(service.instanceUrl ?? service.url).port;
};
const pidOnPort = (port) =>
  Number(execFileSync('sh', ['-c', `ss -Hltnp 'sport = :${port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`], { encoding: 'utf8' }).trim());
const localPid = pidOnPort(portOf('local'));
// CPU of the processes a request goes through (the emulator hosts the proxy and the stand-ins).
const via = (to, pids) => ({ name: to, url: `http://127.0.0.1:${proxyPort}/small`, headers: [`Host: caller-${to}.inner-call.dyc.ivolces.com`], pids });
const targets = [
  { name: 'direct', url: `http://127.0.0.1:${remotePort}/small`, headers: [], pids: [remote.pid] },
  via('local', [emulator.pid, localPid]),
  via('remote', [emulator.pid, remote.pid]),
  via('stub', [emulator.pid]),
  { name: 'stub direct', url: `http://127.0.0.1:${portOf('stub')}/small`, headers: [], pids: [emulator.pid] },
];
/** user+system CPU ms of some processes so far. */
function cpuMs(pids) {
  let total = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    total += (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ 100
  }
  return total;
}

async function wrk(target, { connections, paced = false }) {
  const args = ['-t', paced ? '1' : '2', '-c', String(connections), '-d', `${values.duration}s`, '--latency', ...target.headers.flatMap((h) => ['-H', h])];
  if (paced) args.push('-s', path.join(here, 'fixed-rate.lua'));
  const before = cpuMs(target.pids);
  const { stdout: out } = await promisify(execFile)('wrk', [...args, target.url], {
    encoding: 'utf8',
    env: { ...process.env, RATE: values.rate, CONNECTIONS: String(connections) },
  });
  const cpu = cpuMs(target.pids) - before;
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0') +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(out)
      ?.slice(1)
      .reduce((a, b) => a + Number(b), 0) ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), p50: pct(50), p99: pct(99), errors, cpuUs: (cpu * 1000) / requests };
}
const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];
async function interleaved(options) {
  const runs = targets.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) for (const [i, target] of targets.entries()) runs[i].push(await wrk(target, options));
  return runs.map((list) => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    cpuUs: median(list.map((r) => r.cpuUs)),
    errors: list.reduce((s, r) => s + r.errors, 0),
  }));
}
const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

try {
  for (const target of targets) await wrk(target, { connections: 32 }); // warm-up: JIT, pools
  const date = new Date().toISOString().slice(0, 10);
  console.log(
    `\nThroughput: wrk -t2 -c32 -d${values.duration}s, keep-alive, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${date}\n`,
  );
  console.log('| path | req/s | vs direct | vs local service | µs CPU/request (processes on the path) | errors |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const throughput = await interleaved({ connections: 32 });
  for (const [i, r] of throughput.entries()) {
    console.log(
      `| ${targets[i].name} | ${Math.round(r.rps)} | ${fmt(r.rps / throughput[0].rps)} | ${i === 0 ? '' : fmt(r.rps / throughput[1].rps)} | ${fmt(r.cpuUs, 0)} | ${r.errors} |`,
    );
  }
  console.log(
    `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, median of ${values.rounds} interleaved rounds\n`,
  );
  console.log('| path | p50 ms | p99 ms | p50 added to direct, ms |');
  console.log('|---|---:|---:|---:|');
  const paced = await interleaved({ connections: 10, paced: true });
  for (const [i, r] of paced.entries())
    console.log(`| ${targets[i].name} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${i === 0 ? '' : fmt(r.p50 - paced[0].p50, 3)} |`);
} finally {
  emulator.kill('SIGINT');
  remote.kill('SIGTERM');
  await Promise.all([emulatorExit, remoteExit]);
  rmSync(work, { recursive: true, force: true });
}
