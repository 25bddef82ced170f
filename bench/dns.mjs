#!/usr/bin/env node
// DNS benchmark: queries/s, latency and lost queries with dnsperf, for the emulator's
// DNS server and for dnsmasq (no cache, so both do the same work) on this machine in one
// run, for inner-call names (answered locally) and for forwarded names (relayed to an
// upstream dnsmasq that the script starts on loopback). Then the emulator at a fixed
// quarter of dnsmasq's rate: no query may be lost there.
//
// Usage: node bench/dns.mjs [--seconds 5]   (needs dnsperf and dnsmasq: apt-get install dnsperf dnsmasq-base)
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exec, flags, freePort, quantile, repoDir as repo, sleep, tableHeader, tableRow, today, workDir } from './lib.mjs';

const values = flags({ seconds: '5' });
const work = workDir('dyc-dns-bench-');
const children = [];

function start(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}
const dnsmasq = (port, extra) =>
  start('dnsmasq', [
    '--keep-in-foreground',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--pid-file=',
    '--cache-size=0',
    ...extra,
  ]);

try {
  const [upstreamPort, oursPort, dnsmasqPort] = [await freePort(), await freePort(), await freePort()];
  // The upstream both forward to: authoritative-style answers for *.example.test.
  dnsmasq(upstreamPort, ['--address=/example.test/192.0.2.7']);
  // dnsmasq doing the emulator's job: inner-call names locally, the rest upstream.
  dnsmasq(dnsmasqPort, [`--server=127.0.0.1#${upstreamPort}`, '--address=/inner-call.dyc.ivolces.com/127.0.0.1', '--address=/dycloud.service/127.0.0.1']);
  // The emulator's DNS server in its own process, as `emulator up` runs it.
  start(process.execPath, [
    '-e',
    `import(${JSON.stringify(path.join(repo, 'dist/dns/server.js'))}).then((m) => m.startDnsServer({ host: '127.0.0.1', port: ${oursPort}, answerV4: '127.0.0.1', upstream: [{ host: '127.0.0.1', port: ${upstreamPort} }] }))`,
  ]);
  await sleep(1000);

  const innerFile = path.join(work, 'inner.txt');
  const forwardFile = path.join(work, 'forward.txt');
  writeFileSync(
    innerFile,
    `${['gw01-orders.inner-call.dyc.ivolces.com A', 'orders-users.inner-call.dyc.ivolces.com A', 'gw01-users.dycloud.service A', 'gw01-orders.inner-call.dyc.ivolces.com AAAA'].join('\n')}\n`,
  );
  writeFileSync(forwardFile, `${Array.from({ length: 50 }, (_, i) => `host${i}.example.test A`).join('\n')}\n`);

  async function dnsperf(port, file, rate) {
    const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', values.seconds, '-c', '4', '-q', '200', '-v'];
    if (rate) args.push('-Q', String(rate));
    const { stdout } = await exec('dnsperf', args, { maxBuffer: 512 * 1024 * 1024 });
    const latencies = [];
    for (const match of stdout.matchAll(/ NOERROR \S+ \S+ ([\d.]+)$/gm)) latencies.push(Number(match[1]) * 1000);
    return {
      qps: Number(/Queries per second:\s+([\d.]+)/.exec(stdout)?.[1]),
      lost: Number(/Queries lost:\s+(\d+)/.exec(stdout)?.[1]),
      sent: Number(/Queries sent:\s+(\d+)/.exec(stdout)?.[1]),
      avg: Number(/Average Latency \(s\):\s+([\d.]+)/.exec(stdout)?.[1]) * 1000,
      p99: quantile(latencies, 0.99) ?? NaN,
    };
  }

  const rows = [];
  for (const [kind, file] of [
    ['inner-call names', innerFile],
    ['forwarded names', forwardFile],
  ]) {
    const ours = await dnsperf(oursPort, file);
    const theirs = await dnsperf(dnsmasqPort, file);
    const quarter = Math.floor(theirs.qps / 4);
    const capped = await dnsperf(oursPort, file, quarter);
    rows.push([kind, ours, theirs, quarter, capped]);
  }
  console.log(`\ndnsperf -c4 -q200 -l${values.seconds} over UDP, dnsmasq 2.90 with --cache-size=0, Node ${process.version}, ${today()}\n`);
  tableHeader(['names', 'server', 'queries/s', 'avg ms', 'p99 ms', 'lost', 'qps vs dnsmasq'], 2);
  const f = (n) => n.toFixed(2);
  for (const [kind, ours, theirs, quarter, capped] of rows) {
    const row = (server, r, ratio) => tableRow([kind, server, Math.round(r.qps), f(r.avg), f(r.p99), `${r.lost} of ${r.sent}`, ratio]);
    row('emulator', ours, f(ours.qps / theirs.qps));
    row('dnsmasq', theirs, '1.00');
    row(`emulator at ${quarter}/s (¼ of dnsmasq)`, capped, '');
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
