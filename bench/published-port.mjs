#!/usr/bin/env node
// Published-port benchmark: what a service's stable direct URL (the published port,
// emulator/proxy/published-port.ts) costs against calling the instance's own port, with
// the routing proxy's inner-call path in the same run for scale. One `emulator up` in
// its own process; wrk, keep-alive, a 13-byte body; median of interleaved rounds.
//
// Usage: node bench/published-port.mjs [--duration 5] [--rounds 3] [--connections 32]
// Needs wrk and a built emulator.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { flags, freePort, instanceUrls, interleavedMedians, tableHeader, tableRow, targetService, today, up, workDir, wrk } from './lib.mjs';

const values = flags({ duration: '5', rounds: '3', connections: '32' });
const work = workDir('dyc-bench-published-');

const proxyPort = await freePort();
const publishedPort = await freePort();
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: {
      caller: { ...targetService(13), allow: ['small'] },
      small: { ...targetService(13), publishedPort },
    },
    proxy: { port: proxyPort },
    dns: { port: await freePort() },
  }),
);
const emulator = await up(config);
const instanceUrl = (await instanceUrls(`http://127.0.0.1:${proxyPort}`)).small;

const targets = [
  { name: 'instance port (direct)', url: `${instanceUrl}/`, headers: [] },
  { name: 'published port', url: `http://127.0.0.1:${publishedPort}/`, headers: [] },
  { name: 'proxy, inner call', url: `http://127.0.0.1:${proxyPort}/`, headers: ['Host: caller-small.inner-call.dyc.ivolces.com'] },
];

// The errors counted are the non-2xx answers.
const measure = (target) => wrk(target, { connections: values.connections, duration: values.duration });
try {
  for (const target of targets) await measure(target); // warm-up
  const results = await interleavedMedians(targets, values.rounds, measure);
  console.log(
    `\nwrk -t2 -c${values.connections} -d${values.duration}s, keep-alive, 13-byte body, median of ${values.rounds} interleaved rounds; Node ${process.version}, ${today()}\n`,
  );
  tableHeader(['path', 'req/s', 'vs direct', 'p50 ms', 'errors'], Infinity);
  for (const [i, r] of results.entries()) {
    tableRow([targets[i].name, Math.round(r.rps), `${(r.rps / results[0].rps).toFixed(2)}×`, r.p50.toFixed(2), r.non2xx]);
  }
} finally {
  await emulator.stop();
  rmSync(work, { recursive: true, force: true });
}
