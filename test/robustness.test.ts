// Robustness: slow and hostile clients, faulty targets, and what a service
// can reach through the proxy. Real sockets everywhere; faulty targets are raw TCP
// servers in this process, so each misbehaviour is exact.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { CLI, echoService, emulatorFor, innerCall, request, sleep, startProcess, writeConfig } from './helpers.js';
import { errorOf, get, goodTarget, listenOn, LOCAL, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';
import { freePort } from './internals.js';

describe('slow and hostile clients', () => {
  test('1,000 idle connections and 100 slowloris clients do not stop other calls', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const port = Number(new URL(emu.proxyUrl).port);
    const sockets: net.Socket[] = [];
    t.after(() => sockets.forEach((socket) => socket.destroy()));
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, LOCAL, () => resolve(socket));
        socket.on('error', reject);
        sockets.push(socket);
      });
    for (let i = 0; i < 1000; i += 100) await Promise.all(Array.from({ length: 100 }, open));
    const slow = await Promise.all(Array.from({ length: 100 }, open));
    for (const socket of slow) socket.write('GET /echo HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com\r\n');
    const trickle = setInterval(() => slow.forEach((socket, i) => socket.write(`X-Slow-${i}: ${'y'.repeat(10)}\r\n`)), 50);
    t.after(() => clearInterval(trickle));

    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      const reply = await innerCall(emu, 'a', 'b', `/echo?i=${i}`);
      latencies.push(performance.now() - started);
      assert.equal(reply.status, 200);
    }
    clearInterval(trickle);
    latencies.sort((x, y) => x - y);
    assert.ok(latencies.at(-1)! < 1000, `slowest call took ${latencies.at(-1)!.toFixed(0)} ms; median ${latencies[25]!.toFixed(1)} ms`);
    assert.equal(sockets.filter((socket) => socket.destroyed).length, 0, 'nothing was dropped before its timeout');
  });

  test('header timeout (slowloris) and keep-alive idle timeout, on the main and egress ports', async (t) => {
    const target = await goodTarget(t);
    const proxy = await proxyFor(t, { a: target, b: target, c: target }, { headersTimeoutMs: 600, keepAliveTimeoutMs: 400, callerByAddress: () => undefined });
    const egress = await proxy.openEgress('a');
    const router = await proxy.openRouterListener(LOCAL);
    const entries: [string, number, string][] = [
      ['main port', proxy.port, ''],
      ['egress port', egress, ''],
      ['CONNECT tunnel', proxy.port, 'CONNECT a-b.inner-call.dyc.ivolces.com:80 HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com:80\r\n\r\n'],
      ['docker router listener', router.port, 'PROXY TCP4 172.30.0.9 172.30.0.2 40000 80\r\n'],
    ];
    // All four at once: each waits for timeouts of its own.
    await Promise.all(
      entries.map(async ([what, port, preamble]) => {
        // Slowloris: a header line every 100 ms, never the blank line.
        const slow = await new Promise<{ ms: number; text: string }>((resolve) => {
          const started = Date.now();
          let text = '';
          const socket = net.connect(port, LOCAL, () => socket.write(`${preamble}GET / HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com\r\n`));
          const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
          socket.on('data', (chunk) => (text += chunk));
          socket.on('error', () => {});
          socket.on('close', () => {
            clearInterval(timer);
            resolve({ ms: Date.now() - started, text });
          });
        });
        assert.ok(slow.ms >= 500 && slow.ms < 3000, `${what}: slowloris closed after ${slow.ms} ms`);
        assert.match(slow.text, /HTTP\/1\.1 408/, `${what}: 408 Request Timeout`);
        // Idle keep-alive: a finished request, then silence.
        const idle = await rawExchange(port, `${preamble}GET / HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com\r\n\r\n`, 5000);
        assert.equal(idle.timedOut, false, `${what}: idle connection closed`);
        assert.match(idle.text, /HTTP\/1\.1 200[\s\S]*good \//, what);
        assert.ok(idle.ms >= 350 && idle.ms < 3000, `${what}: idle keep-alive closed after ${idle.ms} ms`);
      }),
    );
  });

  test('oversized request headers get 431, and the proxy keeps serving', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const egressPort = Number(new URL(String((await request(emu.url('a'), { path: '/env' })).json().HTTP_PROXY)).port);
    for (const port of [Number(new URL(emu.proxyUrl).port), egressPort]) {
      for (const headers of [`X-Big: ${'x'.repeat(20_000)}\r\n`, Array.from({ length: 5000 }, (_, i) => `X-H${i}: v\r\n`).join('')]) {
        const reply = await rawExchange(port, get('a-b.inner-call.dyc.ivolces.com', '/echo', headers));
        assert.equal(statusOf(reply.text), 431, reply.text.slice(0, 200));
      }
    }
    assert.equal((await innerCall(emu, 'a', 'b')).status, 200);
  });

  test('a 1 GB streamed upload passes with bounded memory in the emulator process', async (t) => {
    const [proxyPort, dnsPort] = [await freePort(), await freePort()];
    const file = writeConfig(t, {
      services: { a: echoService({ allow: ['b'] }), b: echoService() },
      proxy: { port: proxyPort },
      dns: { port: dnsPort },
      entry: { port: await freePort() },
    });
    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/All 2 services healthy/);
    const peakRss = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${up.child.pid}/status`, 'utf8'))![1]) / 1024;
    const baseline = peakRss();
    const size = 1024 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 3);
    const expected = createHash('sha256');
    for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk);
    const started = performance.now();
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = http.request(
        { host: LOCAL, port: proxyPort, method: 'POST', path: '/upload', headers: { host: 'a-b.inner-call.dyc.ivolces.com', 'content-length': size } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(JSON.parse(text)));
        },
      );
      req.on('error', reject);
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(reply.bytes, size);
    assert.equal(reply.sha256, expected.digest('hex'));
    const growth = peakRss() - baseline;
    t.diagnostic(`1 GB in ${seconds.toFixed(1)} s; emulator peak RSS ${baseline.toFixed(0)} → ${(baseline + growth).toFixed(0)} MB`);
    assert.ok(growth < 100, `the emulator's peak RSS grew by ${growth.toFixed(1)} MB while streaming 1 GB`);
    up.child.kill('SIGINT');
    assert.equal((await up.exited).code, 130);
  });

  test('a client that disconnects mid-request aborts the upstream request', async (t) => {
    const seen: string[] = [];
    const target = await listenOn(
      t,
      http.createServer((req, res) => {
        seen.push(`start ${req.url}`);
        res.on('close', () => seen.push(`${res.writableFinished ? 'finished' : 'aborted'} ${req.url}`));
        if (req.url === '/download') {
          const piece = Buffer.alloc(64 * 1024, 1);
          res.writeHead(200);
          const pump = (): void => {
            while (!res.destroyed && res.write(piece));
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
        } else req.on('end', () => res.end('late')); // /upload and /hang answer only after the whole body
        req.resume();
      }),
    );
    const proxy = await proxyFor(t, { a: target, b: target, c: target });
    const waitFor = async (line: string): Promise<void> => {
      for (const deadline = Date.now() + 3000; !seen.includes(line); await sleep(10))
        assert.ok(Date.now() < deadline, `target never saw "${line}": ${seen.join(', ')}`);
    };
    const host = 'a-b.inner-call.dyc.ivolces.com';
    // Mid-upload: 10 MB promised, 256 KB sent.
    const upload = net.connect(proxy.port, LOCAL, () =>
      upload.write(Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 10485760\r\n\r\n`), Buffer.alloc(256 * 1024)])),
    );
    upload.on('error', () => {});
    await waitFor('start /upload');
    upload.destroy();
    await waitFor('aborted /upload');
    // Waiting for the response.
    const hang = net.connect(proxy.port, LOCAL, () => hang.write(`POST /hang HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`));
    hang.on('error', () => {});
    await waitFor('start /hang');
    hang.destroy();
    await waitFor('aborted /hang');
    // Mid-download.
    const download = net.connect(proxy.port, LOCAL, () => download.write(get(host, '/download')));
    download.on('error', () => {});
    await new Promise((resolve) => download.once('data', resolve));
    download.destroy();
    await waitFor('aborted /download');
  });
});

describe('faulty targets', () => {
  /** A raw TCP target that misbehaves according to the request path. */
  async function faultyTarget(t: TestContext): Promise<number> {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      let head = '';
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const path = head.split(' ')[1] ?? '';
        head = '';
        if (path.startsWith('/reset')) socket.resetAndDestroy();
        else if (path.startsWith('/close')) socket.end();
        else if (path.startsWith('/garbage')) socket.end(Buffer.from('\x00\xff\x13garbage, not HTTP at all\r\n\r\n\x07'.repeat(8), 'latin1'));
        else if (path.startsWith('/bad-status')) socket.end('HTTP/1.1 2x0 Maybe\r\nContent-Length: 2\r\n\r\nok');
        else if (path.startsWith('/bad-length')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello');
        else if (path.startsWith('/half')) {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'h'.repeat(500)}`);
          setTimeout(() => socket.destroy(), 20);
        } else if (path.startsWith('/never')) {
          // Reads, never answers.
        } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    return listenOn(t, server);
  }

  const cases: [string, number, string][] = [
    ['/reset', 502, 'upstream_error'],
    ['/close', 502, 'upstream_error'],
    ['/garbage', 502, 'upstream_error'],
    ['/bad-status', 502, 'upstream_error'],
    ['/bad-length', 502, 'upstream_error'],
    ['/never', 504, 'upstream_timeout'],
  ];

  test('each fault gets its proxy error; a body cut short is a cut connection', async (t) => {
    const proxy = await proxyFor(t, { a: 0, b: await faultyTarget(t), c: await goodTarget(t) }, { callTimeout: 0.5 });
    for (const [path, status, code] of cases) {
      const reply = await rawExchange(proxy.port, get('a-b.inner-call.dyc.ivolces.com', path));
      assert.equal(statusOf(reply.text), status, `${path}: ${reply.text.slice(0, 300)}`);
      assert.equal(errorOf(reply.text), code, path);
      const body = JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      assert.deepEqual([body.error, body.from, body.to], [code, 'a', 'b'], path);
    }
    const half = await rawExchange(proxy.port, get('a-b.inner-call.dyc.ivolces.com', '/half'));
    assert.equal(statusOf(half.text), 200);
    assert.ok(half.text.length < half.text.indexOf('\r\n\r\n') + 4 + 1000, 'the caller got less than Content-Length and a closed connection');
    assert.equal((await rawExchange(proxy.port, get('a-c.inner-call.dyc.ivolces.com'))).text.endsWith('good /x'), true);
  });

  test('the proxy keeps serving others while targets fail, concurrently', async (t) => {
    // A call timeout long enough for a loaded machine to serve every good call before it.
    const proxy = await proxyFor(t, { a: 0, b: await faultyTarget(t), c: await goodTarget(t) }, { callTimeout: 3 });
    const started = performance.now();
    const timedOutAt: number[] = [];
    const faulty = Array.from({ length: 120 }, (_, i) => cases[i % cases.length]!).map(async ([path, status, code]) => {
      const reply = await rawExchange(proxy.port, get('a-b.inner-call.dyc.ivolces.com', path));
      assert.equal(statusOf(reply.text), status, path);
      assert.equal(errorOf(reply.text), code, path);
      if (code === 'upstream_timeout') timedOutAt.push(performance.now() - started);
    });
    const halves = Array.from({ length: 20 }, async () => {
      const reply = await rawExchange(proxy.port, get('a-b.inner-call.dyc.ivolces.com', '/half'));
      assert.ok(!reply.timedOut && reply.text.length < reply.text.indexOf('\r\n\r\n') + 1004);
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    t.after(() => agent.destroy());
    const good = Array.from({ length: 400 }, async (_, i) => {
      const reply = await request(proxy.url, { path: `/ok/${i}`, headers: { host: 'a-c.inner-call.dyc.ivolces.com' }, agent });
      assert.equal(reply.status, 200);
      assert.equal(reply.body, `good /ok/${i}`);
      return performance.now() - started;
    });
    const goodDoneAt = await Promise.all(good);
    await Promise.all([...faulty, ...halves]);
    // None of the good calls waited for the call timeout of /never: all were answered before the first 504.
    assert.equal(timedOutAt.length, 20);
    assert.ok(
      Math.max(...goodDoneAt) < Math.min(...timedOutAt),
      `last good call at ${Math.max(...goodDoneAt).toFixed(0)} ms, first timeout at ${Math.min(...timedOutAt).toFixed(0)} ms`,
    );
  });
});

describe('security', () => {
  /** Listening sockets (TCP, and unconnected UDP) of a process, from /proc. */
  function listeningSockets(pid: number): { proto: string; address: string; port: number }[] {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
    const out: { proto: string; address: string; port: number }[] = [];
    for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
      for (const line of readFileSync(`/proc/${pid}/net/${proto}`, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 10 || !inodes.has(fields[9]!)) continue;
        const [localHex, localPort] = fields[1]!.split(':') as [string, string];
        const remote = fields[2]!;
        const listening = proto.startsWith('tcp') ? fields[3] === '0A' : /^0+:0000$/.test(remote);
        if (!listening) continue;
        const address =
          localHex.length === 8
            ? [3, 2, 1, 0].map((i) => parseInt(localHex.slice(i * 2, i * 2 + 2), 16)).join('.')
            : localHex === '00000000000000000000000000000000'
              ? '::'
              : localHex === '00000000000000000000000001000000'
                ? '::1'
                : localHex;
        out.push({ proto, address, port: parseInt(localPort, 16) });
      }
    }
    return out;
  }

  test('the proxy, egress ports and DNS listen on loopback only', async (t) => {
    const [proxyPort, dnsPort] = [await freePort(), await freePort()];
    const file = writeConfig(t, {
      services: { a: echoService({ allow: ['b'] }), b: echoService() },
      proxy: { port: proxyPort },
      dns: { port: dnsPort },
      entry: { port: await freePort() },
    });
    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/All 2 services healthy/);
    const sockets = listeningSockets(up.child.pid!);
    const described = sockets.map((s) => `${s.proto} ${s.address}:${s.port}`).join(', ');
    assert.ok(
      sockets.some((s) => s.proto === 'tcp' && s.port === proxyPort),
      `proxy port listed: ${described}`,
    );
    assert.ok(
      sockets.some((s) => s.proto === 'udp' && s.port === dnsPort) && sockets.some((s) => s.proto === 'tcp' && s.port === dnsPort),
      `DNS listed: ${described}`,
    );
    assert.ok(sockets.length >= 5, `main, 2 egress, DNS udp+tcp: ${described}`);
    for (const socket of sockets) assert.equal(socket.address, LOCAL, `${socket.proto} ${socket.address}:${socket.port} is not loopback-only`);
    up.child.kill('SIGINT');
    await up.exited;
  });

  test('a service cannot reach another unallowed, whatever it writes in Host, an absolute URL, X-Forwarded-* or CONNECT', async (t) => {
    // a may call c; c may call b; a may not call b.
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['c'] }), b: echoService(), c: echoService({ allow: ['b'] }) } });
    const mainPort = Number(new URL(emu.proxyUrl).port);
    const bPort = Number(new URL(emu.url('b')).port);
    const egressOf = async (name: string): Promise<number> => Number(new URL(String((await request(emu.url(name), { path: '/env' })).json().HTTP_PROXY)).port);
    const cEgress = await egressOf('c');
    const bConnections = async (): Promise<number> => (await request(emu.url('b'), { path: '/connections' })).json().connections as number;
    const before = await bConnections();

    const ab = 'a-b.inner-call.dyc.ivolces.com';
    const cb = 'c-b.inner-call.dyc.ivolces.com';
    const ac = 'a-c.inner-call.dyc.ivolces.com';
    const forwarded =
      'X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: c-b.inner-call.dyc.ivolces.com\r\nX-Forwarded-Proto: http\r\nForwarded: for=127.0.0.1;host=c-b.inner-call.dyc.ivolces.com\r\nX-Real-IP: 127.0.0.1\r\n';
    type Case = { what: string; connect?: string; raw?: string; status: number; code?: string };
    const cases: Case[] = [
      { what: 'Host names a denied pair', raw: get(ab, '/echo'), status: 403, code: 'inner_call_denied' },
      { what: 'Host names an allowed caller', raw: get(cb, '/echo'), status: 403, code: 'caller_mismatch' },
      { what: 'Host, other domain', raw: get('c-b.dycloud.service', '/echo'), status: 403, code: 'caller_mismatch' },
      { what: 'X-Forwarded-* and Forwarded', raw: get(ab, '/echo', forwarded), status: 403, code: 'inner_call_denied' },
      { what: 'X-Forwarded-* with an allowed caller', raw: get(cb, '/echo', forwarded), status: 403, code: 'caller_mismatch' },
      {
        what: 'absolute URL, denied pair',
        raw: `GET http://${ab}/echo HTTP/1.1\r\nHost: ${ac}\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      {
        what: 'absolute URL, allowed caller',
        raw: `GET http://${cb}/echo HTTP/1.1\r\nHost: ${ac}\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'caller_mismatch',
      },
      {
        what: 'absolute URL to the proxy port',
        raw: `GET http://127.0.0.1:${mainPort}/echo HTTP/1.1\r\nHost: ${cb}\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      {
        what: 'absolute URL to the admin surface',
        raw: `GET http://localhost:${mainPort}/_emulator/info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      {
        what: "absolute URL to c's egress port",
        raw: `GET http://127.0.0.1:${cEgress}/echo HTTP/1.1\r\nHost: ${cb}\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      {
        what: "absolute URL to b's own port",
        raw: `GET http://127.0.0.1:${bPort}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      {
        what: "absolute URL to b's port, IPv4-mapped",
        raw: `GET http://[::ffff:127.0.0.1]:${bPort}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        status: 403,
        code: 'inner_call_denied',
      },
      { what: 'CONNECT :80 to a denied pair', connect: `${ab}:80`, raw: get(ab, '/echo'), status: 403, code: 'inner_call_denied' },
      { what: 'CONNECT :80 as an allowed caller', connect: `${cb}:80`, raw: get(cb, '/echo'), status: 403, code: 'caller_mismatch' },
      { what: 'CONNECT to an allowed pair, another Host inside', connect: `${ac}:80`, raw: get(cb, '/echo'), status: 403, code: 'caller_mismatch' },
      { what: 'CONNECT :443', connect: `${ab}:443`, status: 400, code: 'https_not_supported' },
      { what: 'CONNECT to the proxy port', connect: `127.0.0.1:${mainPort}`, status: 403, code: 'inner_call_denied' },
      { what: "CONNECT to c's egress port", connect: `localhost:${cEgress}`, status: 403, code: 'inner_call_denied' },
      { what: "CONNECT to b's own port", connect: `127.0.0.1:${bPort}`, status: 403, code: 'inner_call_denied' },
      { what: 'the admin path on the egress port', raw: get('localhost', '/_emulator/info'), status: 400, code: 'bad_inner_call_host' },
      { what: 'the admin path, no Host', raw: 'GET /_emulator/calls HTTP/1.0\r\n\r\n', status: 400, code: 'bad_inner_call_host' },
      { what: 'allowed: a → c', raw: get(ac, '/echo', forwarded), status: 200 },
    ];
    // Runs in a's environment (a child of service a, through its HTTP_PROXY), as raw sockets.
    const client = `
const net = require('node:net');
const proxy = new URL(process.env.HTTP_PROXY);
const cases = JSON.parse(process.argv[1]);
const run = (c) => new Promise((resolve) => {
  const socket = net.connect(Number(proxy.port), proxy.hostname);
  let text = '', tunnelled = !c.connect;
  socket.on('connect', () => socket.write(c.connect ? 'CONNECT ' + c.connect + ' HTTP/1.1\\r\\nHost: ' + c.connect + '\\r\\n\\r\\n' : c.raw));
  socket.on('data', (d) => {
    text += d.toString('latin1');
    if (!tunnelled && text.includes('\\r\\n\\r\\n') && text.startsWith('HTTP/1.1 200')) { tunnelled = true; text = ''; socket.write(c.raw); }
  });
  socket.on('error', (e) => (text += ' ERROR ' + e.code));
  socket.on('close', () => resolve(text));
  setTimeout(() => socket.destroy(), 5000);
});
(async () => { const out = []; for (const c of cases) out.push(await run(c)); console.log(JSON.stringify(out)); })();`;
    const ran = (
      await request(emu.url('a'), { method: 'POST', path: '/run', body: JSON.stringify([process.execPath, '-e', client, JSON.stringify(cases)]) })
    ).json() as {
      code: number;
      stdout: string;
      stderr: string;
    };
    assert.equal(ran.code, 0, ran.stderr);
    const replies = JSON.parse(ran.stdout) as string[];
    cases.forEach((c, i) => {
      const text = replies[i]!;
      assert.equal(statusOf(text), c.status, `${c.what}: ${text.slice(0, 400)}`);
      if (c.code !== undefined) assert.equal(errorOf(text), c.code, c.what);
    });
    assert.match(replies.at(-1)!, /"name":"c"/);
    assert.equal(await bConnections(), before + 1, 'b saw no connection but the /connections probe');
    assert.ok(!emu.calls().some((call) => call.to === 'b' && call.status === 200), 'no call reached b');
  });

  test('the docker router listener: no admin, no loops, no PROXY line straight from a service container', async (t) => {
    const target = await goodTarget(t);
    // 127.0.0.1 plays a service container that connects to the listener itself.
    const proxy = await proxyFor(
      t,
      { a: target, b: target, c: target },
      { callerByAddress: (address) => (address === '172.30.0.5' ? 'a' : address === LOCAL ? 'b' : undefined) },
    );
    const router = await proxy.openRouterListener(LOCAL);
    const routerless = await proxyFor(t, { a: target, b: target, c: target }, { callerByAddress: (address) => (address === '172.30.0.5' ? 'a' : undefined) });
    const listener = await routerless.openRouterListener(LOCAL);
    const line = 'PROXY TCP4 172.30.0.5 172.30.0.2 40000 80\r\n';
    assert.equal(
      (await rawExchange(router.port, `${line}${get('a-b.inner-call.dyc.ivolces.com')}`)).text,
      '',
      'a direct connection from a service container is dropped',
    );
    const ok = await rawExchange(listener.port, `${line}${get('a-b.inner-call.dyc.ivolces.com')}`);
    assert.equal(statusOf(ok.text), 200);
    const admin = await rawExchange(listener.port, `${line}${get('x', '/_emulator/info')}`);
    assert.equal(statusOf(admin.text), 400);
    for (const raw of [
      `GET http://127.0.0.1:${routerless.port}/_emulator/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `CONNECT 127.0.0.1:${routerless.port} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET http://127.0.0.1:${listener.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ]) {
      const reply = await rawExchange(listener.port, `${line}${raw}`);
      assert.equal(statusOf(reply.text), 403, reply.text.slice(0, 300));
      assert.equal(errorOf(reply.text), 'inner_call_denied');
    }
  });
});
