#!/usr/bin/env node
// Entry benchmark: what a call through the entry (the mini-program's way in, with the
// identity headers shaped on the fast path) costs against an inner call through the
// routing proxy, and against the target reached directly, all in one run of one
// `emulator up` (its own process, call lines to a file, as bench/proxy.mjs runs it):
//   - throughput: wrk, keep-alive, 32 connections, a 13-byte and a 64 KB body, and CPU
//     time per request of the emulator process;
//   - latency at a fixed rate (bench/fixed-rate.lua): the p50 each path adds to direct.
//
// Usage: node bench/entry.mjs [--duration 5] [--rate 1000] [--rounds 3]
// Needs wrk and a built emulator (npm install).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, rate: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' } },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-entry-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const BODIES = { small: 13, large: 64 * 1024 };
const [proxyPort, entryPort, dnsPort] = [await freePort(), await freePort(), await freePort()];
const config = path.join(work, 'emulator.config.json');
const service = (bytes) => ({ dir: here, command: 'node target.cjs', env: { BODY_BYTES: String(bytes) } });
writeFileSync(
  config,
  JSON.stringify({
    services: { caller: { ...service(13), allow: ['small', 'large'] }, small: service(BODIES.small), large: service(BODIES.large) },
    entry: {
      port: entryPort,
      service: 'small',
      appId: 'tt1234567890abcdef',
      envId: 'env-bench',
      users: { alice: { openid: 'o_alice', unionid: 'u_alice' }, bob: { openid: 'o_bob' } },
    },
    proxy: { port: proxyPort },
    dns: { port: dnsPort },
  }),
);
const emulatorLog = path.join(work, 'emulator.log');
const emulator = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config], {
  stdio: ['ignore', openSync(emulatorLog, 'w'), 'inherit'],
});
const emulatorExit = new Promise((resolve) => emulator.once('exit', resolve));
for (let waited = 0; !/services healthy/.test(readFileSync(emulatorLog, 'utf8')); waited += 100) {
  if (emulator.exitCode !== null || waited > 30_000) throw new Error(`emulator up failed:\n${readFileSync(emulatorLog, 'utf8')}`);
  await sleep(100);
}
const info = await (await fetch(`http://127.0.0.1:${proxyPort}/_emulator/info`)).json();
// The instance itself, not its published port (a forwarding Node http server of its own).
const targetPort = (name) => {
  const service = info.services.find((entry) => entry.name === name);
  return new URL(service.instanceUrl ?? service.url).port;
};

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

// The entry call names its service and user, as dyc-emulator/tt and emu.entry() do.
const paths = (body) => [
  { name: 'direct', url: `http://127.0.0.1:${targetPort(body)}/${body}`, headers: [] },
  { name: 'inner call (proxy)', url: `http://127.0.0.1:${proxyPort}/${body}`, headers: [`Host: caller-${body}.inner-call.dyc.ivolces.com`], pid: emulator.pid },
  {
    name: 'entry',
    url: `http://127.0.0.1:${entryPort}/${body}`,
    headers: [`X-Emulator-Service: ${body}`, 'X-Emulator-User: bob', 'X-TT-OPENID: forged'],
    pid: emulator.pid,
  },
];

async function wrk(target, { connections, paced = false }) {
  const args = ['-t', paced ? '1' : '2', '-c', String(connections), '-d', `${values.duration}s`, '--latency', ...target.headers.flatMap((h) => ['-H', h])];
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
const cpu = (r) => (r.cpu ? `${fmt(r.cpu.user + r.cpu.system, 1)} (${fmt(r.cpu.user, 1)}+${fmt(r.cpu.system, 1)})` : '');
const date = new Date().toISOString().slice(0, 10);
try {
  // Both ways must really work before they are timed: the entry shapes, the proxy routes.
  const probe = await (await fetch(`http://127.0.0.1:${entryPort}/small`, { headers: { 'X-Emulator-User': 'bob' } })).text();
  if (probe !== 'x'.repeat(13)) throw new Error(`the entry did not answer as expected: ${probe}`);

  console.log(
    `\nThroughput: wrk -t2 -c32 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${date}\n`,
  );
  console.log(
    '| body | direct req/s | inner call req/s | entry req/s | entry vs inner call | inner call µs CPU/req (user+sys) | entry µs CPU/req (user+sys) | errors |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const body of ['small', 'large']) {
    for (const target of paths(body)) await wrk(target, { connections: 32 }); // warm-up: JIT, pools
    const [d, i, e] = await interleaved(paths(body), { connections: 32 });
    console.log(
      `| ${BODIES[body] === 13 ? '13 B' : '64 KB'} | ${Math.round(d.rps)} | ${Math.round(i.rps)} | ${Math.round(e.rps)} | ${fmt(e.rps / i.rps)} | ${cpu(i)} | ${cpu(e)} | ${d.errors + i.errors + e.errors} |`,
    );
  }

  console.log(
    `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, 13-byte body, median of ${values.rounds} interleaved rounds\n`,
  );
  console.log('| path | req/s | p50 ms | p99 ms | p50 added to direct, ms |');
  console.log('|---|---:|---:|---:|---:|');
  const paced = await interleaved(paths('small'), { connections: 10, paced: true });
  for (const [i, r] of paced.entries()) {
    console.log(`| ${paths('small')[i].name} | ${Math.round(r.rps)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${i === 0 ? '' : fmt(r.p50 - paced[0].p50, 3)} |`);
  }
  const calls = readFileSync(emulatorLog, 'utf8').match(/mini-program \(bob\) → small GET \/small 200/g)?.length ?? 0;
  console.log(`\n(${calls} entry calls in the call log as "mini-program (bob) → small".)`);
} finally {
  emulator.kill('SIGINT');
  await emulatorExit;
  rmSync(work, { recursive: true, force: true });
}
