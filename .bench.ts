import dgram from 'node:dgram';
import { fork } from 'node:child_process';
import { startDnsServer } from './emulator/dns/server.ts';
if (process.argv[2] === 'client') {
  const port = Number(process.argv[3]); const name = process.argv[4];
  const { Packet } = (await import('dns2')).default;
  const p = new Packet(); p.header.id = 1; p.header.rd = 1; p.questions.push(new Packet.Question(name, 1, 1));
  const q = p.toBuffer();
  const s = dgram.createSocket('udp4'); let got = 0, sent = 0; const N = 200000, W = 200;
  const t0 = performance.now();
  let last = 0; s.on('message', () => { got++; last = performance.now(); if (sent < N) { sent++; s.send(q, port, '127.0.0.1'); } if (got === N - 0) { console.log(name, 'qps', Math.round(N / ((performance.now() - t0) / 1000))); process.exit(0); } });
  for (; sent < W; sent++) s.send(q, port, '127.0.0.1');
  setTimeout(() => { console.log(name, 'got', got, 'of', N, 'qps', Math.round(got / ((last - t0) / 1000))); process.exit(0); }, 20000);
} else {
  const up = await startDnsServer({ host: '127.0.0.1', port: 0, answerV4: '10.0.0.1', upstream: [] }); // acts as "upstream" answering inner-call names
  const s = await startDnsServer({ host: '127.0.0.1', port: 0, answerV4: '10.0.0.1', upstream: [{ host: '127.0.0.1', port: up.port }] });
  for (const name of ['gw-01-orders.inner-call.dyc.ivolces.com', 'example.test']) {
    await new Promise((r) => fork(new URL(import.meta.url).pathname, ['client', String(s.port), name], { execArgv: ['--import', 'tsx'] }).on('exit', r));
  }
  await s.stop(); await up.stop();
}
