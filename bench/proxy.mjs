#!/usr/bin/env node
// Proxy benchmark: the same targets reached (1) directly, (2) through a bare Node pipe
// (a `net` server that pipes each client connection to its own upstream connection, no
// parsing: the floor of any JavaScript data path), (3) through the emulator's routing
// proxy (`emulator up` in its own process, as users run it), (4) through nginx (one
// worker, upstream keep-alive), all in one run on this machine:
//   - throughput: wrk, keep-alive, 32 and 128 connections, a 13-byte and a 64 KB body;
//   - latency at a fixed 1,000 req/s (wrk paced by bench/fixed-rate.lua): the p50 each
//     proxy adds to the direct path;
//   - CPU time per request of the proxy process and of the nginx worker (user, system),
//     and what the emulator's per-call lines cost (against the silent programmatic API).
// Both proxies log one line per call: the emulator its call lines (to a file, not a
// pipe this script would have to drain on the same cores), nginx its access log
// (buffered, as the emulator batches its lines).
//
// Usage: node bench/proxy.mjs [--duration 10] [--rate 1000] [--rounds 3] [--throughput-only] [--bodies small,large]
// Needs wrk and nginx (Debian: wrk nginx-light) and a built emulator (npm install).
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  BODIES,
  bodyConfig,
  fmt,
  flags,
  freePort,
  instanceUrls,
  interleavedMedians,
  sleep,
  startPipe,
  startQuiet,
  tableHeader,
  tableRow,
  today,
  up,
  workDir,
  wrk,
} from './lib.mjs';

const values = flags({
  duration: '10',
  rate: '1000',
  rounds: '3',
  // Only the throughput table (quicker, for profiling runs).
  'throughput-only': false,
  // Which bodies the throughput table measures: small (13 B), large (64 KB) or both.
  bodies: 'small,large',
  // Extra node flags for the emulator process, e.g. --node-flags=--cpu-prof
  'node-flags': '',
});
const work = workDir('dyc-bench-');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((candidate) => {
  try {
    execFileSync(candidate, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!NGINX) throw new Error('nginx not found: apt-get install nginx-light');

// Two targets (bodyServices): a 13-byte body and a 64 KB one, and a caller of both.
const { config, proxyPort } = await bodyConfig(work);
const emulator = await up(config, { nodeFlags: values['node-flags'].split(' ').filter(Boolean) });
// The same config through the programmatic API, whose default logger prints nothing
// (the call trace still records): the difference is what the call lines cost.
const quiet = await startQuiet(config);
const instances = await instanceUrls(`http://127.0.0.1:${proxyPort}`);
const targetPort = (name) => new URL(instances[name]).port;

// The bare pipe, one per target.
const pipePorts = { small: await freePort(), large: await freePort() };
const pipe = await startPipe(Object.entries(pipePorts).map(([name, port]) => [port, Number(targetPort(name))]));

const nginxPort = await freePort();
mkdirSync(path.join(work, 'nginx'));
writeFileSync(
  path.join(work, 'nginx.conf'),
  `worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log ${work}/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${work}/nginx;
  proxy_temp_path ${work}/nginx;
  upstream small { server 127.0.0.1:${targetPort('small')}; keepalive 64; }
  upstream large { server 127.0.0.1:${targetPort('large')}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
    location /small { proxy_pass http://small; }
    location /large { proxy_pass http://large; }
  }
}
`,
);
const nginx = spawn(NGINX, ['-c', path.join(work, 'nginx.conf'), '-p', work], { stdio: 'inherit' });
await sleep(500);
const nginxWorker = Number(
  execFileSync('pgrep', ['-P', String(nginx.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')[0],
);

const paths = (body) => [
  { name: 'direct', url: `http://127.0.0.1:${targetPort(body)}/${body}`, headers: [] },
  { name: 'pipe', url: `http://127.0.0.1:${pipePorts[body]}/${body}`, headers: [], pids: [pipe.pid] },
  { name: 'emulator', url: `http://127.0.0.1:${proxyPort}/${body}`, headers: [`Host: caller-${body}.inner-call.dyc.ivolces.com`], pids: [emulator.pid] },
  { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/${body}`, headers: [], pids: [nginxWorker] },
];

const measure = (target, { connections, duration = values.duration, paced = false }) =>
  wrk(target, { connections, duration, rate: paced ? values.rate : undefined });
/** Every target `rounds` times, interleaved; each figure the median over the rounds. */
const medians = (targets, options) => interleavedMedians(targets, values.rounds, (target) => measure(target, options));
const cpu = (r) => `${fmt(r.cpu.user + r.cpu.system, 1)} (${fmt(r.cpu.user, 1)}+${fmt(r.cpu.system, 1)})`;
try {
  console.log(`\nThroughput: wrk -t2 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${today()}\n`);
  tableHeader([
    'body',
    'connections',
    'direct req/s',
    'bare pipe req/s',
    'emulator req/s',
    'nginx req/s',
    'emulator vs pipe',
    'emulator vs nginx',
    'pipe µs CPU/req (user+sys)',
    'emulator µs CPU/req (user+sys)',
    'nginx µs CPU/req (user+sys)',
    'errors',
  ]);
  for (const body of values.bodies.split(',')) {
    for (const target of paths(body)) await measure(target, { connections: 32, duration: 3 }); // warm-up: JIT, pools
    for (const connections of [32, 128]) {
      const [d, p, e, n] = await medians(paths(body), { connections });
      tableRow([
        BODIES[body] === 13 ? '13 B' : '64 KB',
        connections,
        Math.round(d.rps),
        Math.round(p.rps),
        Math.round(e.rps),
        Math.round(n.rps),
        fmt(e.rps / p.rps),
        fmt(e.rps / n.rps),
        cpu(p),
        cpu(e),
        cpu(n),
        d.errors + p.errors + e.errors + n.errors,
      ]);
    }
  }

  if (!values['throughput-only']) {
    const [lines, silent] = await medians([paths('small')[2], { ...paths('small')[2], url: `${quiet.proxyUrl}/small`, pids: [quiet.pid] }], {
      connections: 32,
    });
    const perRequest = (r) => r.cpu.user + r.cpu.system;
    console.log(`\nCall lines (13 B, 32 connections): \`emulator up\` printing one per call: ${Math.round(lines.rps)} req/s, ${cpu(lines)} µs CPU/req;`);
    console.log(
      `the programmatic API, printing nothing: ${Math.round(silent.rps)} req/s, ${cpu(silent)} µs CPU/req. Difference: ${fmt((100 * (perRequest(lines) - perRequest(silent))) / perRequest(lines), 0)} % of the CPU per request.`,
    );

    console.log(
      `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, 13-byte body, median of ${values.rounds} interleaved rounds\n`,
    );
    tableHeader(['path', 'req/s', 'p50 ms', 'p99 ms', 'p50 added to direct, ms', 'added vs nginx']);
    const paced = await medians(paths('small'), { connections: 10, paced: true });
    const nginxAdded = paced[3].p50 - paced[0].p50;
    for (const [i, r] of paced.entries()) {
      const added = r.p50 - paced[0].p50;
      tableRow([paths('small')[i].name, Math.round(r.rps), fmt(r.p50, 3), fmt(r.p99, 3), i === 0 ? '' : fmt(added, 3), i === 0 ? '' : fmt(added / nginxAdded)]);
    }
  }
} finally {
  nginx.kill('SIGTERM');
  await Promise.all([emulator.stop(), quiet.stop(), pipe.stop()]);
  rmSync(work, { recursive: true, force: true });
}
