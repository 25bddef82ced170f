// What the bench scripts share: flags, an emulator started as users run it, wrk run and
// read, the CPU time of processes, medians and the markdown tables the figures go in.
// The scripts import the built emulator (dist/): `npm run build` first.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

import { freePort } from '../dist/util/net.js';

export { freePort };

/** This folder (bench/: target.cjs, fixed-rate.lua) and the repository's root. */
export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const repoDir = path.join(benchDir, '..');
/** The CLI, run as `node bin/emulator.js …`. */
export const cli = path.join(repoDir, 'bin/emulator.js');

/** A service that runs bench/target.cjs, which answers every request with `bytes` bytes (13 by default). */
export const targetService = (bytes) => ({ dir: benchDir, command: 'node target.cjs', ...(bytes === undefined ? {} : { env: { BODY_BYTES: String(bytes) } }) });

/** The two bodies the proxy benches send, by path: /small and /large. */
export const BODIES = { small: 13, large: 64 * 1024 };

/** Services `small` and `large` (bench/target.cjs with those bodies) and a `caller` allowed to call both. */
export const bodyServices = () => ({
  caller: { ...targetService(BODIES.small), allow: ['small', 'large'] },
  small: targetService(BODIES.small),
  large: targetService(BODIES.large),
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const exec = promisify(execFile);

/**
 * The script's --flags. `defaults` names each flag with its default: a string (the value
 * stays a string), a boolean (a switch), or null (a string with no default).
 */
export function flags(defaults) {
  const options = {};
  for (const [name, value] of Object.entries(defaults)) {
    options[name] = value === null ? { type: 'string' } : { type: typeof value === 'boolean' ? 'boolean' : 'string', default: value };
  }
  return parseArgs({ options }).values;
}

/** A new temporary folder for one run. */
export const workDir = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));

/** Today as YYYY-MM-DD, for the line above a table. */
export const today = () => new Date().toISOString().slice(0, 10);

/** The lower median (of an even count, the lower of the two middle values). */
export const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];

/** The value at fraction `q` of the sorted list (0.5: the median, the upper one of an even count; 0.9: p90). */
export const quantile = (numbers, q) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length * q)];

/** A figure with `digits` decimals, or – when there is none. */
export const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** Prints a markdown table's header: the first `left` columns left-aligned (Infinity: all), the rest (figures) right-aligned. */
export function tableHeader(cells, left = 1) {
  console.log(`|${cells.map((cell) => (cell === '' ? ' ' : ` ${cell} `)).join('|')}|`);
  console.log(`|${cells.map((_, i) => (i < left ? '---' : '---:')).join('|')}|`);
}

/** Prints a markdown table row. */
export const tableRow = (cells) => console.log(`| ${cells.join(' | ')} |`);

/** What `emulator up` prints once every service is healthy ("The service is" for one). */
const HEALTHY = /(All \d+ services|The service is) healthy/;

/**
 * Starts `emulator up --no-watch --config <config>` in a process of its own, as users run
 * it, and resolves once its services are healthy. Its output (a line per call) goes to the
 * file `log`, not to a pipe this script would have to drain on the same cores.
 * `nodeFlags` go to node before the CLI (e.g. --cpu-prof), `args` after `up`; `checkout`:
 * another checkout whose build to run (bench/proxy-ab.mjs).
 */
export async function up(config, { log = path.join(path.dirname(config), 'emulator.log'), args = [], nodeFlags = [], checkout = repoDir } = {}) {
  const child = spawn(process.execPath, [...nodeFlags, path.join(checkout, 'bin/emulator.js'), 'up', '--no-watch', '--config', config, ...args], {
    stdio: ['ignore', openSync(log, 'w'), 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let waited = 0; !HEALTHY.test(readFileSync(log, 'utf8')); waited += 100) {
    if (child.exitCode !== null || waited > 30_000) throw new Error(`emulator up (${checkout}) failed:\n${readFileSync(log, 'utf8')}`);
    await sleep(100);
  }
  return {
    child,
    pid: child.pid,
    log,
    exited,
    stop: () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/**
 * Writes a config of the body services (bodyServices) into `work`, every port a free one
 * (proxy, DNS, entry, dashboard: two emulators can run at once). Resolves to its path and
 * the proxy's port.
 */
export async function bodyConfig(work) {
  const proxyPort = await freePort();
  const ports = { proxy: { port: proxyPort }, dns: { port: await freePort() }, entry: { port: await freePort() }, dashboard: { port: await freePort() } };
  const config = path.join(work, 'emulator.config.json');
  writeFileSync(config, JSON.stringify({ services: bodyServices(), ...ports }));
  return { config, proxyPort };
}

/** The bare pipe: a `net` server per [listenPort, targetPort] that pipes each client connection to its own upstream one, no parsing. */
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

/**
 * Starts the bare pipe (the floor of any JavaScript data path) in a process of its own,
 * whose CPU is measured like the others', for each [listenPort, targetPort] pair.
 */
export async function startPipe(pairs) {
  const child = spawn(process.execPath, ['-e', PIPE, JSON.stringify(pairs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await once(child.stdout, 'data');
  return {
    pid: child.pid,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Starts an emulator through the programmatic API, in a process of its own: its default
 * logger prints nothing (the call trace still records). `dist`: the build to run (another
 * checkout's, for a baseline). Resolves to its proxy URL, pid and a stop function.
 */
export async function startQuiet(config, dist = path.join(repoDir, 'dist')) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { startEmulator } from ${JSON.stringify(path.join(dist, 'index.js'))};
       const emu = await startEmulator({ config: ${JSON.stringify(config)} });
       console.log(emu.proxyUrl);
       process.on('SIGTERM', () => emu.stop().then(() => process.exit(0)));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const proxyUrl = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(String(chunk).trim()));
    child.once('exit', () => reject(new Error(`the programmatic emulator (${config}) did not start`)));
  });
  return {
    child,
    pid: child.pid,
    proxyUrl,
    exited,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Each service's own URL by name, from the emulator's /_emulator/info: the instance itself,
 * not its published port (a forwarding Node http server of its own), so that "direct" is
 * direct; a service with no instance (`url`) gives its URL.
 */
export async function instanceUrls(proxyUrl) {
  const info = await (await fetch(`${proxyUrl}/_emulator/info`)).json();
  return Object.fromEntries(info.services.map((service) => [service.name, service.instanceUrl ?? service.url]));
}

/**
 * `emulator up` (with the file watcher off) of `config` until its services are healthy; then
 * Ctrl-C, not timed. Resolves to the ms it took. With `stderr: 'pipe'`, failures show stderr too.
 */
export async function timeUp(config, { env = process.env, stderr = 'inherit' } = {}) {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'up', '--no-watch', '--config', config], { stdio: ['ignore', 'pipe', stderr], env });
  let out = '';
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (HEALTHY.test(out)) resolve();
    });
    child.stderr?.on('data', (chunk) => (out += chunk));
    child.once('exit', () => reject(new Error(`emulator up failed:\n${out}`)));
  });
  const elapsed = performance.now() - started;
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  return elapsed;
}

/** Stops processes (SIGTERM) and resolves once all have exited. */
export function stopAll(children) {
  return Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Whether GET /v1/ping on 127.0.0.1:`port` answers 200 (a new connection each time). */
export const ping = (port) =>
  new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v1/ping', agent: false }, (res) => resolve(res.resume() && res.statusCode === 200))
      .on('error', () => resolve(false));
  });

/** A row of start-up times: median, min and max in ms, and the median against `reference`'s median. */
export function timesRow(label, times, reference) {
  const middle = quantile(times, 0.5);
  tableRow([label, Math.round(middle), Math.round(Math.min(...times)), Math.round(Math.max(...times)), (middle / quantile(reference, 0.5)).toFixed(2)]);
}

/** User and system CPU ms that the processes `pids` have used so far (/proc/<pid>/stat, USER_HZ 100). */
export function cpuMs(pids) {
  const total = { user: 0, system: 0 };
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    total.user += Number(fields[11]) * 10;
    total.system += Number(fields[12]) * 10;
  }
  return total;
}

/**
 * Runs wrk (keep-alive, 2 threads) against `target` ({ url, headers, pids }) and reads its
 * report: requests/s, p50 and p99 in ms (with `latency`), errors (non-2xx answers and socket
 * errors, and the non-2xx alone), and, when the target names the processes on its path
 * (`pids`), their CPU µs per request (user, system, total). With `rate`: one thread paced
 * at about that many requests/s (bench/fixed-rate.lua).
 */
export async function wrk(target, { connections, duration, latency = true, rate }) {
  const args = ['-t', rate ? '1' : '2', '-c', String(connections), '-d', `${duration}s`];
  if (latency) args.push('--latency');
  args.push(...(target.headers ?? []).flatMap((header) => ['-H', header]));
  if (rate) args.push('-s', path.join(benchDir, 'fixed-rate.lua'));
  // `target.hosts`: each request to the next of these Hosts (bench/rotate-hosts.lua).
  else if (target.hosts) args.push('-s', path.join(benchDir, 'rotate-hosts.lua'));
  const pids = target.pids ?? [];
  const before = cpuMs(pids);
  const { stdout: out } = await exec('wrk', [...args, target.url], {
    encoding: 'utf8',
    env: rate
      ? { ...process.env, RATE: String(rate), CONNECTIONS: String(connections) }
      : target.hosts
        ? { ...process.env, HOSTS: target.hosts.join(',') }
        : process.env,
  });
  const after = cpuMs(pids);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const percentile = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0');
  const socketErrors =
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(out)
      ?.slice(1)
      .reduce((a, b) => a + Number(b), 0) ?? 0;
  const perRequest = (ms) => (ms * 1000) / requests;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    requests,
    p50: percentile(50),
    p99: percentile(99),
    errors: non2xx + socketErrors,
    non2xx,
    cpu:
      pids.length === 0
        ? undefined
        : {
            user: perRequest(after.user - before.user),
            system: perRequest(after.system - before.system),
            total: perRequest(after.user + after.system - before.user - before.system),
          },
  };
}

/**
 * Measures every target `rounds` times, in turn (A B C A B C …), so that a slow moment of
 * this shared machine hits all of them alike. Resolves to each target's list of results.
 */
export async function interleaved(targets, rounds, measure) {
  const runs = targets.map(() => []);
  for (let round = 0; round < Number(rounds); round++) {
    for (const [i, target] of targets.entries()) runs[i].push(await measure(target));
  }
  return runs;
}

/** `interleaved` wrk runs, each target's results summarized. */
export const interleavedMedians = async (targets, rounds, measure) => (await interleaved(targets, rounds, measure)).map(summarize);

/** One target's wrk results over the rounds: the median of each figure, the errors summed. */
export function summarize(results) {
  const of = (figure) => median(results.map(figure));
  return {
    rps: of((r) => r.rps),
    p50: of((r) => r.p50),
    p99: of((r) => r.p99),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    cpu: results[0].cpu && { user: of((r) => r.cpu.user), system: of((r) => r.cpu.system), total: of((r) => r.cpu.total) },
  };
}
