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
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { bodyServices, flags, freePort, interleavedMedians, tableHeader, tableRow, today, up, workDir, wrk } from './lib.mjs';

const values = flags({ duration: '5', rounds: '3', page: false, 'no-subscriber': false, aa: false });
const work = workDir('dyc-bench-dashboard-');

async function emulator(name, args) {
  const config = path.join(work, `${name}.json`);
  const proxyPort = await freePort();
  const dashboardPort = await freePort();
  writeFileSync(
    config,
    JSON.stringify({
      services: bodyServices(),
      proxy: { port: proxyPort },
      dns: { port: await freePort() },
      entry: { port: await freePort() },
      dashboard: { port: dashboardPort },
    }),
  );
  const started = await up(config, { log: path.join(work, `${name}.log`), args });
  return { name, ...started, proxyPort, dashboardUrl: `http://127.0.0.1:${dashboardPort}` };
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

// wrk -t2 -c32 without --latency; the errors counted are the non-2xx answers.
const measure = (target, body, duration = values.duration) =>
  wrk(
    { url: `http://127.0.0.1:${target.proxyPort}/${body}`, headers: [`Host: caller-${body}.inner-call.dyc.ivolces.com`], pids: [target.pid] },
    { connections: 32, duration, latency: false },
  );

try {
  console.log(
    `\nwrk -t2 -c32 -d${values.duration}s, keep-alive, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${today()}` +
      (values.page ? '; chromium shows the Calls view during the dashboard runs' : '') +
      '\n',
  );
  tableHeader([
    'body',
    '--no-dashboard req/s',
    'dashboard + live stream req/s',
    'ratio',
    'µs CPU/req without',
    'µs CPU/req with',
    'CPU ratio (without/with)',
    'stream events received',
    'errors',
  ]);
  for (const body of ['small', 'large']) {
    await measure(baseline, body, 2); // warm-up: JIT, pools
    await measure(dashboard, body, 2);
    const before = stream.events;
    const [a, b] = await interleavedMedians([baseline, dashboard], values.rounds, (target) => measure(target, body));
    tableRow([
      body === 'small' ? '13 B' : '64 KB',
      Math.round(a.rps),
      Math.round(b.rps),
      (b.rps / a.rps).toFixed(2),
      a.cpu.total.toFixed(0),
      b.cpu.total.toFixed(0),
      (a.cpu.total / b.cpu.total).toFixed(2),
      stream.events - before,
      a.non2xx + b.non2xx,
    ]);
  }
} finally {
  subscriber.destroy();
  await browser?.close();
  await Promise.all([baseline.stop(), dashboard.stop()]);
  rmSync(work, { recursive: true, force: true });
}
