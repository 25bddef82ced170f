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
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchDir, flags, fmt, freePort, instanceUrls, interleavedMedians, tableHeader, tableRow, targetService, today, up, workDir, wrk } from './lib.mjs';

const values = flags({ duration: '5', rate: '1000', rounds: '3' });
const work = workDir('dyc-bench-stubs-');

// The "remote" server: the same 13-byte target the proxy benchmark uses.
const remotePort = await freePort();
const remote = spawn(process.execPath, [path.join(benchDir, 'target.cjs')], {
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
      caller: { ...targetService(), allow: ['local', 'remote', 'stub'] },
      local: targetService(13),
      remote: { url: `http://127.0.0.1:${remotePort}` },
      stub: { stub: 'stub' },
    },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const emulator = await up(config);
const instances = await instanceUrls(`http://127.0.0.1:${proxyPort}`);
const portOf = (name) => new URL(instances[name]).port;
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
const measure = (target, { connections, paced = false }) => wrk(target, { connections, duration: values.duration, rate: paced ? values.rate : undefined });
const medians = (options) => interleavedMedians(targets, values.rounds, (target) => measure(target, options));

try {
  for (const target of targets) await measure(target, { connections: 32 }); // warm-up: JIT, pools
  console.log(
    `\nThroughput: wrk -t2 -c32 -d${values.duration}s, keep-alive, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${today()}\n`,
  );
  tableHeader(['path', 'req/s', 'vs direct', 'vs local service', 'µs CPU/request (processes on the path)', 'errors']);
  const throughput = await medians({ connections: 32 });
  for (const [i, r] of throughput.entries()) {
    tableRow([
      targets[i].name,
      Math.round(r.rps),
      fmt(r.rps / throughput[0].rps),
      i === 0 ? '' : fmt(r.rps / throughput[1].rps),
      fmt(r.cpu.total, 0),
      r.errors,
    ]);
  }
  console.log(
    `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, median of ${values.rounds} interleaved rounds\n`,
  );
  tableHeader(['path', 'p50 ms', 'p99 ms', 'p50 added to direct, ms']);
  const paced = await medians({ connections: 10, paced: true });
  for (const [i, r] of paced.entries()) tableRow([targets[i].name, fmt(r.p50, 3), fmt(r.p99, 3), i === 0 ? '' : fmt(r.p50 - paced[0].p50, 3)]);
} finally {
  remote.kill('SIGTERM');
  await Promise.all([emulator.stop(), remoteExit]);
  rmSync(work, { recursive: true, force: true });
}
