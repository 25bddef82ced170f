#!/usr/bin/env node
// What the dashboard adds to each call, measured in one process (so a busy machine
// affects both sides alike): recording N calls in the call trace (a) alone, as every
// emulator does, and (b) with the dashboard's live stream subscribed (the flush every
// 100 ms reads the new records back, serialises them and writes them to a client).
// Rounds alternate a/b; the figure is the median ns per call.
//
// Usage: node bench/dashboard-calls.mjs [--calls 500000] [--rounds 5]
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { LiveStream } from '../dist/dashboard/live.js';
import { CallTrace } from '../dist/logging/call-trace.js';
import { LogBuffer } from '../dist/logging/log-buffer.js';
import { flags, median, tableHeader, tableRow, today } from './lib.mjs';

const values = flags({ calls: '500000', rounds: '5' });
const N = Number(values.calls);
const record = (i) => ({
  from: 'gateway',
  to: 'orders',
  host: 'gw01-orders.inner-call.dyc.ivolces.com',
  method: 'GET',
  path: `/orders/${i}`,
  status: 200,
  error: undefined,
  durationMs: 1.2,
  time: Date.now(),
});

/** A response that discards what it is sent (the page's EventSource), counting bytes. */
function client() {
  const req = new EventEmitter();
  const res = {
    bytes: 0,
    writeHead() {},
    write(text) {
      this.bytes += text.length;
      return true;
    },
    end() {},
    socket: { setNoDelay() {} },
  };
  return { req, res };
}

async function run(withStream) {
  const trace = new CallTrace(1000);
  const stream = new LiveStream(trace, new LogBuffer());
  const { req, res } = client();
  if (withStream) stream.attach(req, res);
  const started = performance.now();
  // Calls arrive in bursts with the event loop turning between them, as on a proxy, so the flush timer runs.
  for (let i = 0; i < N; i += 1000) {
    for (let j = i; j < i + 1000; j++) trace.push(record(j));
    await new Promise((resolve) => setImmediate(resolve));
  }
  // The last flush is part of the cost.
  if (withStream) await new Promise((resolve) => setTimeout(resolve, 120));
  const elapsed = performance.now() - started - (withStream ? 120 : 0);
  req.emit('close');
  stream.stop();
  return { nsPerCall: (elapsed * 1e6) / N, bytes: res.bytes };
}

const a = [];
const b = [];
let bytes = 0;
await run(false);
await run(true); // warm-up
for (let round = 0; round < Number(values.rounds); round++) {
  a.push((await run(false)).nsPerCall);
  const result = await run(true);
  b.push(result.nsPerCall);
  bytes = result.bytes;
}
console.log(`\n${N} calls a round, median of ${values.rounds} alternating rounds; Node ${process.version}, ${today()}\n`);
tableHeader(['', 'ns per call (making the record and tracing it)', 'added by the live stream']);
tableRow(['call trace only', median(a).toFixed(0), '']);
tableRow(['call trace + live stream subscribed', median(b).toFixed(0), `${(median(b) - median(a)).toFixed(0)} ns`]);
console.log(`\n(the subscriber received ${(bytes / 1e6).toFixed(1)} MB in the last round: at most ${500} calls per 100 ms are sent)`);
