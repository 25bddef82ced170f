#!/usr/bin/env node
// Soak test with a pass/fail outcome: `emulator up` (hot reload on) with 5 services under a
// steady call rate for 10 minutes, while a service's code is edited (zero-downtime reload)
// every 30 s and one service crashes every 45 s. Passes when no call is lost except those
// to the crashing service, and the emulator's open file descriptors and memory stay bounded.
// First, 10,000 calls in a quiet window count the new upstream TCP connections they cause.
//
// Usage: node bench/soak.mjs [--seconds 600] [--rate 200]
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { cli, flags, freePort, repoDir as repo, sleep, workDir } from './lib.mjs';

const values = flags({ seconds: '600', rate: '200' });
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const work = workDir('dyc-soak-');

// Five copies of the echo fixture, so that editing one reloads only that one.
const names = ['s0', 's1', 's2', 's3', 'crashy'];
for (const name of names) {
  mkdirSync(path.join(work, name));
  for (const file of ['server.js', 'package.json']) copyFileSync(path.join(repo, 'test/fixtures/echo', file), path.join(work, name, file));
}
const proxyPort = await freePort();
writeFileSync(
  path.join(work, 'emulator.config.json'),
  JSON.stringify({
    services: Object.fromEntries(names.map((name) => [name, { dir: name, command: 'node server.js', allow: names }])),
    proxy: { port: proxyPort, callTimeout: 10 },
    dns: { port: await freePort() },
  }),
);
const emulator = spawn(process.execPath, [cli, 'up', '--config', path.join(work, 'emulator.config.json')], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, NO_COLOR: '1' },
});
// Keep the tail of the output, and count reloads as they happen (the tail scrolls).
let log = '';
let reloaded = 0;
const onOutput = (chunk) => {
  reloaded += (String(chunk).match(/reloaded in/g) ?? []).length;
  log = (log + chunk).slice(-200_000);
};
emulator.stdout.on('data', onOutput);
emulator.stderr.on('data', onOutput);
while (!/Watching/.test(log)) {
  if (emulator.exitCode !== null) throw new Error(`emulator up failed:\n${log}`);
  await sleep(50);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function call(from, to, urlPath = '/echo') {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port: proxyPort, path: urlPath, agent, headers: { host: `${from}-${to}.inner-call.dyc.ivolces.com` }, timeout: 15_000 },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body }));
        res.on('error', (error) => resolve({ status: 0, body: String(error) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: String(error) }));
  });
}
const pid = emulator.pid;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// 1. Upstream connection reuse: new connections on s1 per 10,000 calls at steady state.
for (let batch = 0; batch < 5; batch++) await Promise.all(Array.from({ length: 100 }, () => call('s0', 's1'))); // warm the pool to this concurrency
const connections = async () => JSON.parse((await call('s0', 's1', '/connections')).body).connections;
const before = await connections();
for (let batch = 0; batch < 100; batch++) await Promise.all(Array.from({ length: 100 }, () => call('s0', 's1')));
const newConnections = (await connections()) - before;
console.log(`upstream: ${newConnections} new TCP connections to s1 for 10,000 calls (64 concurrent keep-alive callers; the count's own probe included)`);

// 2. The soak.
const pairs = [
  ['s0', 's1'],
  ['s1', 's2'],
  ['s2', 's3'],
  ['s3', 's0'],
  ['s0', 'crashy'],
];
const stats = { sent: 0, ok: 0, lost: [], toCrashy: 0, crashyFailed: 0, reloads: 0, crashes: 0 };
const samples = [];
const started = Date.now();
let next = 0;
const inFlight = new Set();
const ticker = setInterval(() => {
  for (let i = 0; i < rate / 20; i++) {
    const [from, to] = pairs[next++ % pairs.length];
    stats.sent++;
    const p = call(from, to).then((reply) => {
      if (to === 'crashy') {
        stats.toCrashy++;
        if (reply.status !== 200) stats.crashyFailed++;
      } else if (reply.status === 200) stats.ok++;
      else stats.lost.push(`${from}→${to} ${reply.status} ${reply.body.slice(0, 160)}`);
    });
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  }
}, 50);
const editor = setInterval(() => {
  const name = names[stats.reloads % 4];
  appendFileSync(path.join(work, name, 'server.js'), `\n// soak edit ${stats.reloads}\n`);
  stats.reloads++;
}, 30_000);
const crasher = setInterval(() => {
  stats.crashes++;
  void call('s0', 'crashy', '/crash');
}, 45_000);
const sampler = setInterval(() => samples.push({ t: Math.round((Date.now() - started) / 1000), fds: fds(), rss: rssMb() }), 10_000);
samples.push({ t: 0, fds: fds(), rss: rssMb() });

await sleep(seconds * 1000);
clearInterval(ticker);
clearInterval(editor);
clearInterval(crasher);
clearInterval(sampler);
await Promise.all(inFlight);
samples.push({ t: Math.round((Date.now() - started) / 1000), fds: fds(), rss: rssMb() });
emulator.kill('SIGINT');
await new Promise((resolve) => emulator.once('exit', resolve));
rmSync(work, { recursive: true, force: true });

// Bounded: after the first minute (pools and JIT warm), fds and RSS may not keep growing.
const warm = samples.find((s) => s.t >= 60) ?? samples[0];
const last = samples.at(-1);
const fdGrowth = last.fds - warm.fds;
const rssGrowth = last.rss - warm.rss;
console.log(`soak: ${seconds} s at ${rate} calls/s; ${stats.sent} calls, ${stats.ok} ok, ${stats.lost.length} lost (excluding the crashing service);`);
console.log(
  `      ${stats.reloads} edits (${reloaded} reloads logged), ${stats.crashes} crashes; calls to the crashing service: ${stats.toCrashy}, ${stats.crashyFailed} not 200 (expected: 503 while it restarts)`,
);
console.log(`      open fds ${warm.fds} → ${last.fds} (after warm-up → end), RSS ${warm.rss.toFixed(0)} → ${last.rss.toFixed(0)} MB`);
const pass = stats.lost.length === 0 && reloaded >= stats.reloads && fdGrowth <= 20 && rssGrowth <= 50;
if (stats.lost.length > 0) console.log(`lost calls (first 10):\n  ${stats.lost.slice(0, 10).join('\n  ')}`);
console.log(pass ? 'PASS' : 'FAIL');
process.exit(pass ? 0 : 1);
