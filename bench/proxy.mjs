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
// Usage: node bench/proxy.mjs [--duration 10] [--rate 1000] [--rounds 3]
// Needs wrk and nginx (Debian: wrk nginx-light) and a built emulator (npm install).
import { spawn, execFileSync, execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, readFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    // Only the throughput table (quicker, for profiling runs).
    'throughput-only': { type: 'boolean', default: false },
    // Extra node flags for the emulator process, e.g. --node-flags=--cpu-prof
    'node-flags': { type: 'string', default: '' },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-'));
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((candidate) => {
  try {
    execFileSync(candidate, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!NGINX) throw new Error('nginx not found: apt-get install nginx-light');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Two targets: a 13-byte body and a 64 KB one.
const BODIES = { small: 13, large: 64 * 1024 };
const proxyPort = await freePort();
const config = path.join(work, 'emulator.config.json');
const service = (bytes) => ({ dir: here, command: 'node target.cjs', env: { BODY_BYTES: String(bytes) } });
writeFileSync(
  config,
  JSON.stringify({
    services: { caller: { ...service(13), allow: ['small', 'large'] }, small: service(BODIES.small), large: service(BODIES.large) },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const emulatorLog = path.join(work, 'emulator.log');
const emulator = spawn(
  process.execPath,
  [...values['node-flags'].split(' ').filter(Boolean), path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config],
  {
    stdio: ['ignore', openSync(emulatorLog, 'w'), 'inherit'],
  },
);
const emulatorExit = new Promise((resolve) => emulator.once('exit', resolve));
for (let waited = 0; !/services healthy/.test(readFileSync(emulatorLog, 'utf8')); waited += 100) {
  if (emulator.exitCode !== null || waited > 30_000) throw new Error(`emulator up failed:\n${readFileSync(emulatorLog, 'utf8')}`);
  await sleep(100);
}
// The same config through the programmatic API, whose default logger prints nothing
// (the call trace still records): the difference is what the call lines cost.
const quiet = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import { startEmulator } from ${JSON.stringify(path.join(here, '../dist/index.js'))};
     const emu = await startEmulator({ config: ${JSON.stringify(config)} });
     console.log(emu.proxyUrl);
     process.on('SIGTERM', () => emu.stop().then(() => process.exit(0)));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const quietExit = new Promise((resolve) => quiet.once('exit', resolve));
const quietUrl = await new Promise((resolve, reject) => {
  quiet.stdout.once('data', (chunk) => resolve(String(chunk).trim()));
  quiet.once('exit', () => reject(new Error('the programmatic emulator did not start')));
});
const info = await (await fetch(`http://127.0.0.1:${proxyPort}/_emulator/info`)).json();
// The instance itself, not its published port (a forwarding Node http server of its own).
const targetPort = (name) => {
  const service = info.services.find((entry) => entry.name === name);
  return new URL(service.instanceUrl ?? service.url).port;
};

// The bare pipe, one per target, in a process of its own (its CPU is measured like the others').
const PIPE = `
const net = require('node:net');
for (const [listenPort, targetPort] of JSON.parse(process.argv[1])) {
  net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    client.setNoDelay(true); upstream.setNoDelay(true);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy()); upstream.on('error', () => client.destroy());
  }).listen(listenPort, '127.0.0.1');
}
console.log('ready');`;
const pipePorts = { small: await freePort(), large: await freePort() };
const pipe = spawn(process.execPath, ['-e', PIPE, JSON.stringify(Object.entries(pipePorts).map(([name, port]) => [port, Number(targetPort(name))]))], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const pipeExit = new Promise((resolve) => pipe.once('exit', resolve));
await once(pipe.stdout, 'data');

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

/** user and system CPU ms of a process so far. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const tick = 1000 / 100; // USER_HZ
  return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
}

const paths = (body) => [
  { name: 'direct', url: `http://127.0.0.1:${targetPort(body)}/${body}`, headers: [] },
  { name: 'pipe', url: `http://127.0.0.1:${pipePorts[body]}/${body}`, headers: [], pid: pipe.pid },
  { name: 'emulator', url: `http://127.0.0.1:${proxyPort}/${body}`, headers: [`Host: caller-${body}.inner-call.dyc.ivolces.com`], pid: emulator.pid },
  { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/${body}`, headers: [], pid: nginxWorker },
];

async function wrk(target, { connections, duration = values.duration, paced = false }) {
  const args = ['-t', paced ? '1' : '2', '-c', String(connections), '-d', `${duration}s`, '--latency', ...target.headers.flatMap((h) => ['-H', h])];
  if (paced) args.push('-s', path.join(here, 'fixed-rate.lua'));
  const before = target.pid ? cpuMs(target.pid) : undefined;
  const { stdout: out } = await promisify(execFile)('wrk', [...args, target.url], {
    encoding: 'utf8',
    env: { ...process.env, RATE: values.rate, CONNECTIONS: String(connections) },
  });
  const after = target.pid ? cpuMs(target.pid) : undefined;
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0') +
    Number(
      /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
        .exec(out)
        ?.slice(1)
        .reduce((a, b) => a + Number(b), 0) ?? 0,
    );
  const cpu = before && { user: ((after.user - before.user) * 1000) / requests, system: ((after.system - before.system) * 1000) / requests };
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), p50: pct(50), p99: pct(99), errors, cpu };
}

const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];
/**
 * Runs every target `rounds` times, in turn (A B C A B C …), so a slow moment of this
 * shared machine hits all of them alike; each figure is the median over the rounds.
 */
async function interleaved(targets, options) {
  const runs = targets.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, target] of targets.entries()) runs[i].push(await wrk(target, options));
  }
  return runs.map((list) => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((sum, r) => sum + r.errors, 0),
    cpu: list[0].cpu && { user: median(list.map((r) => r.cpu.user)), system: median(list.map((r) => r.cpu.system)) },
  }));
}
const cpu = (r) => `${fmt(r.cpu.user + r.cpu.system, 1)} (${fmt(r.cpu.user, 1)}+${fmt(r.cpu.system, 1)})`;
const date = new Date().toISOString().slice(0, 10);
try {
  console.log(`\nThroughput: wrk -t2 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${date}\n`);
  console.log(
    '| body | connections | direct req/s | bare pipe req/s | emulator req/s | nginx req/s | emulator vs pipe | emulator vs nginx | pipe µs CPU/req (user+sys) | emulator µs CPU/req (user+sys) | nginx µs CPU/req (user+sys) | errors |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const body of ['small', 'large']) {
    for (const target of paths(body)) await wrk(target, { connections: 32, duration: 3 }); // warm-up: JIT, pools
    for (const connections of [32, 128]) {
      const [d, p, e, n] = await interleaved(paths(body), { connections });
      console.log(
        `| ${BODIES[body] === 13 ? '13 B' : '64 KB'} | ${connections} | ${Math.round(d.rps)} | ${Math.round(p.rps)} | ${Math.round(e.rps)} | ${Math.round(n.rps)} | ${fmt(e.rps / p.rps)} | ${fmt(e.rps / n.rps)} | ${cpu(p)} | ${cpu(e)} | ${cpu(n)} | ${d.errors + p.errors + e.errors + n.errors} |`,
      );
    }
  }

  if (!values['throughput-only']) {
    const [lines, silent] = await interleaved([paths('small')[2], { ...paths('small')[2], url: `${quietUrl}/small`, pid: quiet.pid }], { connections: 32 });
    const perRequest = (r) => r.cpu.user + r.cpu.system;
    console.log(`\nCall lines (13 B, 32 connections): \`emulator up\` printing one per call: ${Math.round(lines.rps)} req/s, ${cpu(lines)} µs CPU/req;`);
    console.log(
      `the programmatic API, printing nothing: ${Math.round(silent.rps)} req/s, ${cpu(silent)} µs CPU/req. Difference: ${fmt((100 * (perRequest(lines) - perRequest(silent))) / perRequest(lines), 0)} % of the CPU per request.`,
    );

    console.log(
      `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, 13-byte body, median of ${values.rounds} interleaved rounds\n`,
    );
    console.log('| path | req/s | p50 ms | p99 ms | p50 added to direct, ms | added vs nginx |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const paced = await interleaved(paths('small'), { connections: 10, paced: true });
    const nginxAdded = paced[3].p50 - paced[0].p50;
    for (const [i, r] of paced.entries()) {
      const added = r.p50 - paced[0].p50;
      const name = paths('small')[i].name;
      console.log(
        `| ${name} | ${Math.round(r.rps)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${i === 0 ? '' : fmt(added, 3)} | ${i === 0 ? '' : fmt(added / nginxAdded)} |`,
      );
    }
  }
} finally {
  nginx.kill('SIGTERM');
  emulator.kill('SIGINT');
  quiet.kill('SIGTERM');
  pipe.kill('SIGTERM');
  await Promise.all([emulatorExit, quietExit, pipeExit]);
  rmSync(work, { recursive: true, force: true });
}
