#!/usr/bin/env node
// Where the proxy's CPU goes under load: `emulator up` with --perf-basic-prof (so perf
// can name V8's compiled functions), wrk on a 13-byte service, `perf record -g` on the
// emulator's process, then each sample counted by its innermost JavaScript frame (the
// function of ours, or of Node's, that led to it). --user leaves out samples taken in
// the kernel (the reads and writes every proxy pays). Needs Linux perf (Debian:
// linux-perf) and wrk.
//
// Usage: node bench/profile-proxy.mjs [--connections 32] [--seconds 8] [--top 40] [--user]
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { bodyConfig, flags, fmt, up, workDir, wrk } from './lib.mjs';

const values = flags({ connections: '32', seconds: '8', top: '40', user: false });
const { config, proxyPort: port } = await bodyConfig(workDir('dyc-profile-'));
const emulator = await up(config, { nodeFlags: ['--perf-basic-prof'] });
const target = { url: `http://127.0.0.1:${port}/small`, headers: ['Host: caller-small.inner-call.dyc.ivolces.com'], pids: [emulator.pid] };
const connections = Number(values.connections);
const data = path.join(path.dirname(config), 'perf.data');
let load;
try {
  await wrk(target, { connections, duration: 3 }); // warm-up: the JIT settles
  const perf = spawn('perf', ['record', '-g', '-F', '1999', '-o', data, '-p', String(emulator.pid), '--', 'sleep', values.seconds], { stdio: 'ignore' });
  load = await wrk(target, { connections, duration: Number(values.seconds) + 1 });
  await once(perf, 'exit');
} finally {
  await emulator.stop();
}

// perf script prints each sample as a header line, then its frames innermost first, then a blank line.
const script = execFileSync('perf', ['script', '-i', data, '-F', 'comm,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
const counts = new Map();
let samples = 0;
for (const block of script.split('\n\n')) {
  const frames = block
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter(Boolean);
  if (frames.length === 0) continue;
  const [address, ...leaf] = frames[0].split(' ');
  if (values.user && address.startsWith('ffffffff')) continue; // a kernel address
  samples++;
  const js = frames.find((frame) => frame.split(' ')[1]?.startsWith('JS:'));
  const name = js === undefined ? `(no JavaScript frame) ${leaf.join(' ')}` : js.slice(js.indexOf(' ') + 1);
  counts.set(name, (counts.get(name) ?? 0) + 1);
}
console.log(
  `${samples} ${values.user ? 'user-space ' : ''}samples over ${values.seconds} s at wrk -c${connections}: ${Math.round(load.rps)} req/s, ${fmt(load.cpu.total, 1)} µs CPU/request (user ${fmt(load.cpu.user, 1)}, system ${fmt(load.cpu.system, 1)})\n`,
);
for (const [name, count] of [...counts].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) {
  console.log(`${String(count).padStart(7)} ${fmt((100 * count) / samples, 2).padStart(6)} %  ${name}`);
}
