#!/usr/bin/env node
// What call policies and load balancing cost on the proxy's fast path (issue 15).
// In one run, interleaved (A B C … A B C …) so a busy moment of the shared machine hits
// every variant alike, each figure the median over the rounds:
//   direct      wrk straight to the target
//   none        the proxy, no `policies`, one replica
//   shaped      a rule that matches every call and shapes two headers (set x-env, add x-tag)
//   replicas    no policies, 3 replicas behind the round-robin balancer
//   3 services  the control for `replicas`: three 1-replica services, wrk naming each in
//               turn (bench/rotate-hosts.lua): three targets and their connections as
//               with `replicas`, but no balancer
//   baseline    (with --baseline DIR) the proxy built from another checkout, e.g. main
//               before this change: `git archive main | tar -x -C DIR && cd DIR && ln -s
//               <repo>/node_modules && npx tsc`, then --baseline DIR
// Each emulator runs in its own process through the programmatic API (no call lines
// printed), so the CPU time per request is the proxy's own.
//
// Usage: node bench/policies.mjs [--duration 5] [--rounds 3] [--connections 32] [--baseline DIR]
import http from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { flags, instanceUrls, interleavedMedians, repoDir, startQuiet, tableHeader, tableRow, targetService, workDir, wrk } from './lib.mjs';

const values = flags({ duration: '5', rounds: '3', connections: '32', baseline: null });
const work = workDir('dyc-bench-policies-');

const service = targetService(13);
const configs = {
  none: { services: { caller: { ...service, allow: ['target'] }, target: service } },
  shaped: {
    services: { caller: { ...service, allow: ['target'] }, target: service },
    policies: [{ request: { set: { headers: { 'x-env': 'local' } }, add: { headers: { 'x-tag': 'bench' } } } }],
  },
  replicas: { services: { caller: { ...service, allow: ['target'] }, target: { ...service, replicas: 3 } } },
  threeServices: {
    services: { caller: { ...service, allow: ['target', 'target2', 'target3'] }, target: service, target2: service, target3: service },
  },
};

/** Starts an emulator (from `dist`) in a child process; resolves to its proxy URL, pid and a stop function. */
async function start(name, config, dist = path.join(repoDir, 'dist')) {
  const file = path.join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const emulator = await startQuiet(file, dist);
  // The instance itself for "direct", not its published port (a Node http forwarder of its own).
  const instances = await instanceUrls(emulator.proxyUrl);
  return {
    name,
    pids: [emulator.pid],
    url: `${emulator.proxyUrl}/small`,
    directUrl: `${instances.target}/small`,
    headers: ['Host: caller-target.inner-call.dyc.ivolces.com'],
    stop: emulator.stop,
  };
}

// wrk -t2 without --latency; the errors counted are the non-2xx answers.
const measure = (target, duration = values.duration) => wrk(target, { connections: values.connections, duration, latency: false });
const started = [];
try {
  const none = await start('none', configs.none);
  started.push(none);
  const targets = [{ name: 'direct', url: none.directUrl, headers: [] }, none];
  started.push(await start('shaped', configs.shaped), await start('replicas', configs.replicas));
  const threeServices = await start('3 services', configs.threeServices);
  started.push(threeServices);
  targets.push(started[1], started[2], {
    ...threeServices,
    headers: [],
    hosts: ['target', 'target2', 'target3'].map((name) => `caller-${name}.inner-call.dyc.ivolces.com`),
  });
  if (values.baseline) {
    const baseline = await start('baseline', configs.none, path.resolve(values.baseline, 'dist'));
    started.push(baseline);
    targets.push(baseline);
  }
  // The shaped emulator must answer before it is measured.
  const status = await new Promise((resolve, reject) =>
    http
      .get(started[1].url, { headers: { host: 'caller-target.inner-call.dyc.ivolces.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
      .on('error', reject),
  );
  if (status !== 200) throw new Error(`shaped emulator answered ${status}`);

  for (const target of targets) await measure(target, 2); // warm-up: JIT, pools
  const results = await interleavedMedians(targets, values.rounds, (target) => measure(target));
  const base = results[1];
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `\nwrk -t2 -c${values.connections} -d${values.duration}s, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}; load average at the end ${load}\n`,
  );
  tableHeader(['variant', 'req/s', 'vs none', 'µs CPU/req (proxy)', 'errors']);
  for (const [i, r] of results.entries()) {
    const { name } = targets[i];
    tableRow([
      name,
      Math.round(r.rps),
      name === 'direct' ? '' : (r.rps / base.rps).toFixed(2),
      Number.isFinite(r.cpu?.total) ? r.cpu.total.toFixed(1) : '',
      r.non2xx,
    ]);
  }
} finally {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
}
