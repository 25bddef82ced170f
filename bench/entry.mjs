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
import { writeFileSync, rmSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BODIES, bodyServices, flags, fmt, freePort, instanceUrls, interleavedMedians, tableHeader, tableRow, today, up, workDir, wrk } from './lib.mjs';

const values = flags({ duration: '5', rate: '1000', rounds: '3' });
const work = workDir('dyc-bench-entry-');

const [proxyPort, entryPort, dnsPort] = [await freePort(), await freePort(), await freePort()];
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    // `shaper` calls as `caller` does, under a rule that shapes its calls as the entry
    // shapes its own (X-TT-* and control headers out, bob's identity in).
    services: { ...bodyServices(), shaper: { ...bodyServices().caller } },
    policies: [
      {
        from: 'shaper',
        request: {
          remove: { headers: ['x-tt-*', 'x-forwarded-for', 'x-emulator-service', 'x-emulator-user', 'x-emulator-env'] },
          set: {
            headers: {
              'X-TT-OPENID': 'o_bob',
              'X-TT-APPID': 'tt1234567890abcdef',
              'X-TT-ENV': 'env-bench',
              'X-TT-SOURCE': 'callContainer',
              'X-Forwarded-For': '127.0.0.1',
            },
          },
        },
      },
    ],
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
const emulator = await up(config);
const instances = await instanceUrls(`http://127.0.0.1:${proxyPort}`);
const targetPort = (name) => new URL(instances[name]).port;

// The entry call names its service and user, as dyc-emulator/tt and emu.entry() do.
// "inner call, same heads" sends the entry's three extra header lines too, from `shaper`,
// whose rule shapes them as the entry does: both then read the same request and write
// the same one, and the difference is the entry's own work.
const ENTRY_HEADERS = (body) => [`X-Emulator-Service: ${body}`, 'X-Emulator-User: bob', 'X-TT-OPENID: forged'];
const paths = (body) => [
  { name: 'direct', url: `http://127.0.0.1:${targetPort(body)}/${body}`, headers: [] },
  {
    name: 'inner call (proxy)',
    url: `http://127.0.0.1:${proxyPort}/${body}`,
    headers: [`Host: caller-${body}.inner-call.dyc.ivolces.com`],
    pids: [emulator.pid],
  },
  {
    name: 'inner call, same heads',
    url: `http://127.0.0.1:${proxyPort}/${body}`,
    headers: [`Host: shaper-${body}.inner-call.dyc.ivolces.com`, ...ENTRY_HEADERS(body)],
    pids: [emulator.pid],
  },
  {
    name: 'entry',
    url: `http://127.0.0.1:${entryPort}/${body}`,
    headers: ENTRY_HEADERS(body),
    pids: [emulator.pid],
  },
];

const measure = (target, { connections, paced = false }) => wrk(target, { connections, duration: values.duration, rate: paced ? values.rate : undefined });
const medians = (targets, options) => interleavedMedians(targets, values.rounds, (target) => measure(target, options));
const cpu = (r) => (r.cpu ? `${fmt(r.cpu.user + r.cpu.system, 1)} (${fmt(r.cpu.user, 1)}+${fmt(r.cpu.system, 1)})` : '');
try {
  // Both ways must really work before they are timed: the entry shapes, the proxy routes.
  const probe = await (await fetch(`http://127.0.0.1:${entryPort}/small`, { headers: { 'X-Emulator-User': 'bob' } })).text();
  if (probe !== 'x'.repeat(13)) throw new Error(`the entry did not answer as expected: ${probe}`);

  console.log(
    `\nThroughput: wrk -t2 -c32 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${today()}\n`,
  );
  tableHeader([
    'body',
    'direct req/s',
    'inner call req/s',
    'inner, same heads req/s',
    'entry req/s',
    'entry vs inner call',
    'entry vs inner, same heads',
    'inner call µs CPU/req (user+sys)',
    'inner, same heads µs CPU/req',
    'entry µs CPU/req (user+sys)',
    'errors',
  ]);
  for (const body of ['small', 'large']) {
    for (const target of paths(body)) await measure(target, { connections: 32 }); // warm-up: JIT, pools
    const [d, i, same, e] = await medians(paths(body), { connections: 32 });
    tableRow([
      BODIES[body] === 13 ? '13 B' : '64 KB',
      Math.round(d.rps),
      Math.round(i.rps),
      Math.round(same.rps),
      Math.round(e.rps),
      fmt(e.rps / i.rps),
      fmt(e.rps / same.rps),
      cpu(i),
      cpu(same),
      cpu(e),
      d.errors + i.errors + same.errors + e.errors,
    ]);
  }

  console.log(
    `\nLatency at a fixed ${values.rate} req/s: wrk -t1 -c10 -d${values.duration}s -s bench/fixed-rate.lua, 13-byte body, median of ${values.rounds} interleaved rounds\n`,
  );
  tableHeader(['path', 'req/s', 'p50 ms', 'p99 ms', 'p50 added to direct, ms']);
  const paced = await medians(paths('small'), { connections: 10, paced: true });
  for (const [i, r] of paced.entries()) {
    tableRow([paths('small')[i].name, Math.round(r.rps), fmt(r.p50, 3), fmt(r.p99, 3), i === 0 ? '' : fmt(r.p50 - paced[0].p50, 3)]);
  }
  const calls = readFileSync(emulator.log, 'utf8').match(/mini-program \(bob\) → small GET \/small 200/g)?.length ?? 0;
  console.log(`\n(${calls} entry calls in the call log as "mini-program (bob) → small".)`);
} finally {
  await emulator.stop();
  rmSync(work, { recursive: true, force: true });
}
