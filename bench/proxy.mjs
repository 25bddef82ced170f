#!/usr/bin/env node
// Proxy benchmark: requests/s and latency of the same target reached (1) directly,
// (2) through the emulator's routing proxy, (3) through nginx (one worker, upstream
// keep-alive), all measured with wrk in one run on this machine.
//
// Usage: node bench/proxy.mjs [--duration 10] [--connections 32]
// Needs wrk and nginx (Debian: wrk nginx-light) and a built emulator (npm install).
import { spawn, execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../dist/util/net.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' } } });
const here = path.dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'dyc-bench-'));
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((candidate) => {
  try {
    execFileSync(candidate, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!NGINX) throw new Error('nginx not found: apt-get install nginx-light');

// The emulator runs as users run it: `emulator up`, in its own process.
const proxyPort = await freePort();
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: {
      caller: { dir: here, command: 'node target.cjs', allow: ['target'] },
      target: { dir: here, command: 'node target.cjs' },
    },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const emulator = spawn(process.execPath, [path.join(here, '../bin/emulator.js'), 'up', '--no-watch', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  let out = '';
  emulator.stdout.on('data', (chunk) => {
    out += chunk;
    if (/services healthy/.test(out)) resolve();
  });
  emulator.once('exit', () => reject(new Error(`emulator up failed:\n${out}`)));
});
emulator.stdout.resume();
const info = await (await fetch(`http://127.0.0.1:${proxyPort}/_emulator/info`)).json();
const targetUrl = new URL(info.services.find((service) => service.name === 'target').url);

const nginxPort = await freePort();
mkdirSync(path.join(work, 'nginx'));
writeFileSync(
  path.join(work, 'nginx.conf'),
  `worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${work}/nginx;
  proxy_temp_path ${work}/nginx;
  upstream target { server 127.0.0.1:${targetUrl.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://target; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
);
const nginx = spawn(NGINX, ['-c', path.join(work, 'nginx.conf'), '-p', work], { stdio: 'inherit' });
await new Promise((resolve) => setTimeout(resolve, 500));

async function wrk(url, headers = []) {
  const args = ['-t', '2', '-c', values.connections, '-d', `${values.duration}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  const { stdout: out } = await promisify(execFile)('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  return { rps, p50: pct(50), p99: pct(99), errors: Number(errors) };
}

const rows = [];
try {
  // Warm up every path once (JIT, keep-alive pools).
  await wrk(`http://127.0.0.1:${targetUrl.port}/`);
  await wrk(`http://127.0.0.1:${proxyPort}/`, ['Host: caller-target.inner-call.dyc.ivolces.com']);
  const direct = await wrk(`http://127.0.0.1:${targetUrl.port}/`);
  const proxied = await wrk(`http://127.0.0.1:${proxyPort}/`, ['Host: caller-target.inner-call.dyc.ivolces.com']);
  const viaNginx = await wrk(`http://127.0.0.1:${nginxPort}/`);
  rows.push(['direct to the target', direct], ['emulator proxy', proxied], ['nginx (1 worker, keep-alive)', viaNginx]);
  const fmt = (n) => n.toFixed(2);
  console.log(`\nwrk -t2 -c${values.connections} -d${values.duration}s, 13-byte response, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| path | req/s | p50 ms | p99 ms | non-2xx | req/s vs direct | req/s vs nginx |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of rows) {
    console.log(`| ${name} | ${Math.round(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${fmt(r.rps / direct.rps)} | ${fmt(r.rps / viaNginx.rps)} |`);
  }
} finally {
  nginx.kill('SIGTERM');
  emulator.kill('SIGINT');
  await new Promise((resolve) => emulator.once('exit', resolve));
  rmSync(work, { recursive: true, force: true });
}
