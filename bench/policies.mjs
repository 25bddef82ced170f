#!/usr/bin/env node
// What call policies and load balancing cost on the proxy's fast path (issue 15).
// In one run, interleaved (A B C … A B C …) so a busy moment of the shared machine hits
// every variant alike, each figure the median over the rounds:
//   direct      wrk straight to the target
//   none        the proxy, no `policies`, one replica
//   shaped      a rule that matches every call and shapes two headers (set x-env, add x-tag)
//   replicas    no policies, 3 replicas behind the round-robin balancer
//   baseline    (with --baseline DIR) the proxy built from another checkout, e.g. main
//               before this change: `git archive main | tar -x -C DIR && cd DIR && ln -s
//               <repo>/node_modules && npx tsc`, then --baseline DIR
// Each emulator runs in its own process through the programmatic API (no call lines
// printed), so the CPU time per request is the proxy's own.
//
// Usage: node bench/policies.mjs [--duration 5] [--rounds 3] [--connections 32] [--baseline DIR]
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    baseline: { type: 'string' },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..');
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-policies-'));

const service = { dir: here, command: 'node target.cjs', env: { BODY_BYTES: '13' } };
const configs = {
  none: { services: { caller: { ...service, allow: ['target'] }, target: service } },
  shaped: {
    services: { caller: { ...service, allow: ['target'] }, target: service },
    policies: [{ request: { set: { headers: { 'x-env': 'local' } }, add: { headers: { 'x-tag': 'bench' } } } }],
  },
  replicas: { services: { caller: { ...service, allow: ['target'] }, target: { ...service, replicas: 3 } } },
};

/** Starts an emulator (from `dist`) in a child process; resolves to its proxy URL, pid and a stop function. */
async function start(name, config, dist = path.join(repo, 'dist')) {
  const file = path.join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { startEmulator } from ${JSON.stringify(path.join(dist, 'index.js'))};
       const emu = await startEmulator({ config: ${JSON.stringify(file)} });
       // The instance itself for "direct", not its published port (a Node http forwarder of its own).
       const info = await (await fetch(emu.proxyUrl + '/_emulator/info')).json();
       const target = info.services.find((service) => service.name === 'target');
       console.log(JSON.stringify({ proxy: emu.proxyUrl, target: target.instanceUrl ?? target.url }));
       process.on('SIGTERM', () => emu.stop().then(() => process.exit(0)));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const urls = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk))));
    child.once('exit', () => reject(new Error(`emulator ${name} did not start`)));
  });
  return {
    name,
    pid: child.pid,
    url: `${urls.proxy}/small`,
    directUrl: `${urls.target}/small`,
    headers: ['Host: caller-target.inner-call.dyc.ivolces.com'],
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) * 10 + Number(fields[12]) * 10; // USER_HZ 100
}

async function wrk(target, duration = values.duration) {
  const args = ['-t', '2', '-c', values.connections, '-d', `${duration}s`, ...target.headers.flatMap((h) => ['-H', h]), target.url];
  const before = target.pid ? cpuMs(target.pid) : 0;
  const { stdout } = await promisify(execFile)('wrk', args, { encoding: 'utf8' });
  const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0');
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), cpu: target.pid ? ((cpuMs(target.pid) - before) * 1000) / requests : NaN, errors };
}

const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];
const started = [];
try {
  const none = await start('none', configs.none);
  started.push(none);
  const targets = [{ name: 'direct', url: none.directUrl, headers: [] }, none];
  started.push(await start('shaped', configs.shaped), await start('replicas', configs.replicas));
  targets.push(started[1], started[2]);
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

  for (const target of targets) await wrk(target, 2); // warm-up: JIT, pools
  const runs = new Map(targets.map((target) => [target.name, []]));
  for (let round = 0; round < Number(values.rounds); round++) for (const target of targets) runs.get(target.name).push(await wrk(target));
  const result = new Map(
    [...runs].map(([name, list]) => [
      name,
      { rps: median(list.map((r) => r.rps)), cpu: median(list.map((r) => r.cpu)), errors: list.reduce((s, r) => s + r.errors, 0) },
    ]),
  );
  const base = result.get('none');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `\nwrk -t2 -c${values.connections} -d${values.duration}s, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}; load average at the end ${load}\n`,
  );
  console.log('| variant | req/s | vs none | µs CPU/req (proxy) | errors |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, r] of result) {
    console.log(
      `| ${name} | ${Math.round(r.rps)} | ${name === 'direct' ? '' : (r.rps / base.rps).toFixed(2)} | ${Number.isFinite(r.cpu) ? r.cpu.toFixed(1) : ''} | ${r.errors} |`,
    );
  }
} finally {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
}
