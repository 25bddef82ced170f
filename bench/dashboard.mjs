#!/usr/bin/env node
// What the dashboard costs the proxy. The same config runs twice, as users run it
// (`emulator up` in its own process, call lines to a file):
//   - baseline: `emulator up --no-dashboard`;
//   - dashboard: `emulator up` with the dashboard, and a client subscribed to its live
//     stream (GET /_emulator/events, read to the end, as the page's EventSource does);
//   - page (optional, --page): the same plus Debian's chromium showing the Calls view
//     (it shares the machine's cores with wrk and the proxy: a machine figure, not a proxy one).
// wrk -t2 keep-alive against each in turn (A B A B …), 13-byte and 64 KB bodies; each figure
// is the median of the rounds. The target: dashboard/baseline ≥ 0.9.
//
// Usage: node bench/dashboard.mjs [--duration 5] [--rounds 3] [--page]
// Needs wrk and a built emulator (npm install).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, openSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    page: { type: 'boolean', default: false },
    'no-subscriber': { type: 'boolean', default: false },
    aa: { type: 'boolean', default: false },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-dashboard-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const service = (bytes) => ({ dir: here, command: 'node target.cjs', env: { BODY_BYTES: String(bytes) } });

async function emulator(name, args) {
  const config = path.join(work, `${name}.json`);
  const proxyPort = await freePort();
  const dashboardPort = await freePort();
  writeFileSync(
    config,
    JSON.stringify({
      services: { caller: { ...service(13), allow: ['small', 'large'] }, small: service(13), large: service(64 * 1024) },
      proxy: { port: proxyPort },
      dns: { port: await freePort() },
      entry: { port: await freePort() },
      dashboard: { port: dashboardPort },
    }),
  );
  const log = path.join(work, `${name}.log`);
  const child = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config, ...args], {
    stdio: ['ignore', openSync(log, 'w'), 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let waited = 0; !/services healthy/.test(readFileSync(log, 'utf8')); waited += 100) {
    if (child.exitCode !== null || waited > 30_000) throw new Error(`emulator up failed:\n${readFileSync(log, 'utf8')}`);
    await sleep(100);
  }
  return { name, child, exited, proxyPort, dashboardUrl: `http://127.0.0.1:${dashboardPort}` };
}

const baseline = await emulator('baseline', ['--no-dashboard']);
// --aa: both without the dashboard, to see how much two identical processes differ on this machine.
const dashboard = await emulator('dashboard', values.aa ? ['--no-dashboard'] : []);

// The subscribed client: reads every event, counts them.
const stream = { events: 0, bytes: 0 };
const subscriber = http.get(`${dashboard.dashboardUrl}/_emulator/${values['no-subscriber'] ? 'info' : 'events'}`, (res) => {
  res.on('data', (chunk) => {
    stream.bytes += chunk.length;
    stream.events += chunk.toString().split('\n\n').length - 1;
  });
});
subscriber.on('error', () => {});

let browser;
if (values.page) {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage();
  await page.goto(`${dashboard.dashboardUrl}/#/calls`);
}

/** user+system CPU ms of a process so far (/proc, USER_HZ 100). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function wrk(target, body, duration = values.duration) {
  const url = `http://127.0.0.1:${target.proxyPort}/${body}`;
  const cpuBefore = cpuMs(target.child.pid);
  const { stdout } = await promisify(execFile)(
    'wrk',
    ['-t', '2', '-c', '32', '-d', `${duration}s`, '-H', `Host: caller-${body}.inner-call.dyc.ivolces.com`, url],
    { encoding: 'utf8' },
  );
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0');
  const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), errors, cpuPerRequest: ((cpuMs(target.child.pid) - cpuBefore) * 1000) / requests };
}

const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor((numbers.length - 1) / 2)];
try {
  console.log(
    `\nwrk -t2 -c32 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${new Date().toISOString().slice(0, 10)}` +
      (values.page ? '; chromium shows the Calls view during the dashboard runs' : '') +
      '\n',
  );
  console.log(
    `| body | --no-dashboard req/s | dashboard + live stream req/s | ratio | µs CPU/req without | µs CPU/req with | CPU ratio (without/with) | stream events received | errors |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const body of ['small', 'large']) {
    await wrk(baseline, body, 2); // warm-up: JIT, pools
    await wrk(dashboard, body, 2);
    const runs = { baseline: [], dashboard: [] };
    const cpu = { baseline: [], dashboard: [] };
    let errors = 0;
    const before = stream.events;
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const target of [baseline, dashboard]) {
        const result = await wrk(target, body);
        runs[target.name].push(result.rps);
        cpu[target.name].push(result.cpuPerRequest);
        errors += result.errors;
      }
    }
    const [a, b] = [median(runs.baseline), median(runs.dashboard)];
    const [ca, cb] = [median(cpu.baseline), median(cpu.dashboard)];
    console.log(
      `| ${body === 'small' ? '13 B' : '64 KB'} | ${Math.round(a)} | ${Math.round(b)} | ${(b / a).toFixed(2)} | ${ca.toFixed(0)} | ${cb.toFixed(0)} | ${(ca / cb).toFixed(2)} | ${stream.events - before} | ${errors} |`,
    );
  }
} finally {
  subscriber.destroy();
  await browser?.close();
  baseline.child.kill('SIGINT');
  dashboard.child.kill('SIGINT');
  await Promise.all([baseline.exited, dashboard.exited]);
  rmSync(work, { recursive: true, force: true });
}
