#!/usr/bin/env node
// Two builds of the proxy side by side, and a bare Node pipe, under the same wrk load in
// alternating rounds: the way to tell a change of a few percent from this machine's noise
// (a single run moves ±10–20 %). Each build runs as `emulator up` from its own checkout;
// the figures are req/s and the CPU µs per request of each process (from /proc), per
// round and as medians, and the ratios of B to A round by round.
//
// Usage: node bench/proxy-ab.mjs --a <checkout> [--b <checkout, default: this one>]
//          [--rounds 8] [--duration 4] [--connections 32]
// Both checkouts need a build (`npm run build`); `git worktree add /tmp/a <commit>`,
// then `npm run build` there (node_modules may be a symlink to this one's), makes one.
import path from 'node:path';
import { bodyConfig, flags, fmt, freePort, instanceUrls, median, repoDir, startPipe, up, workDir, wrk } from './lib.mjs';

const values = flags({ a: null, b: repoDir, rounds: '8', duration: '4', connections: '32' });
if (!values.a) throw new Error('--a <checkout> is required: the build to compare this one with');

/** `emulator up` of the checkout in `dir` with the bench's services (ports of its own), and its 13-byte target. */
async function upFrom(dir, name) {
  const { config, proxyPort } = await bodyConfig(workDir(`dyc-ab-${name}-`));
  const emulator = await up(config, { checkout: path.resolve(dir) });
  const small = new URL((await instanceUrls(`http://127.0.0.1:${proxyPort}`)).small).port;
  return {
    emulator,
    small,
    target: { url: `http://127.0.0.1:${proxyPort}/small`, headers: ['Host: caller-small.inner-call.dyc.ivolces.com'], pids: [emulator.pid] },
  };
}

const a = await upFrom(values.a, 'a');
const b = await upFrom(values.b, 'b');
const pipePort = await freePort();
const pipe = await startPipe([[pipePort, Number(a.small)]]);
const paths = { A: a.target, B: b.target, pipe: { url: `http://127.0.0.1:${pipePort}/small`, headers: [], pids: [pipe.pid] } };
const load = { connections: Number(values.connections), duration: Number(values.duration) };
try {
  for (const target of Object.values(paths)) await wrk(target, { ...load, duration: 2 }); // warm-up
  const results = { A: [], B: [], pipe: [] };
  console.log(`wrk -c${load.connections} -d${load.duration}s, 13-byte responses; A: ${values.a}, B: ${values.b}\n`);
  for (let round = 0; round < Number(values.rounds); round++) {
    // A and B take turns going first: neither always runs on a machine warmed by the other.
    for (const name of round % 2 === 0 ? ['A', 'B', 'pipe'] : ['B', 'A', 'pipe']) results[name].push(await wrk(paths[name], load));
    const cell = (name) => `${name} ${Math.round(results[name].at(-1).rps)} req/s ${fmt(results[name].at(-1).cpu.total, 1)} µs`;
    console.log(`round ${round + 1}: ${['A', 'B', 'pipe'].map(cell).join(' | ')}`);
  }
  console.log('');
  for (const [name, list] of Object.entries(results)) {
    const of = (figure) => median(list.map(figure));
    console.log(
      `${name.padEnd(4)}: median ${Math.round(of((r) => r.rps))} req/s, CPU µs/request ${fmt(
        of((r) => r.cpu.total),
        1,
      )} (user ${fmt(
        of((r) => r.cpu.user),
        1,
      )}, system ${fmt(
        of((r) => r.cpu.system),
        1,
      )})`,
    );
  }
  const ratios = (figure) => results.A.map((r, i) => fmt(figure(results.B[i]) / figure(r))).join(' ');
  console.log(`B/A req/s by round: ${ratios((r) => r.rps)}`);
  console.log(`B/A CPU per request by round: ${ratios((r) => r.cpu.total)}`);
} finally {
  await Promise.all([a.emulator.stop(), b.emulator.stop(), pipe.stop()]);
}
