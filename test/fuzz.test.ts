// Bad input: a seeded mutation fuzzer ("dyc-fuzz": mulberry32 PRNG, byte
// flips, truncation, splices, random headers and labels) against the DNS server (UDP
// and TCP) and the proxy's request parsing (request lines, Host headers). Between
// batches, well-formed queries and requests must still be answered at once.
// Replay a run with FUZZ_SEED=<seed> (printed in the test names).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { innerCallLabel, loadConfig, silentLogger, startDnsServer, startProxy } from './internals.js';
import { bindPair, frame } from './dns-helpers.js';
import { ECHO_DIR, writeConfig } from './helpers.js';

const LOCAL = '127.0.0.1';
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);

/** mulberry32, and the mutators of dyc-fuzz on top of it. */
function fuzzer(seed: number) {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (length: number): Buffer => {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = int(256);
    return out;
  };
  /** One to four edits: flip a bit, set a byte, insert, delete, duplicate a run, truncate. */
  const mutate = (input: Buffer): Buffer => {
    let buf = Buffer.from(input);
    for (let n = 1 + int(4); n > 0; n--) {
      const at = int(buf.length + 1);
      switch (int(6)) {
        case 0:
          if (buf.length > 0) buf[at % buf.length]! ^= 1 << int(8);
          break;
        case 1:
          if (buf.length > 0) buf[at % buf.length] = pick([0, 0xff, 0x7f, 0x80, 0xc0, 0x2e, 0x3a, 0x0a, 0x0d, 0x20, int(256)]);
          break;
        case 2:
          buf = Buffer.concat([buf.subarray(0, at), bytes(1 + int(8)), buf.subarray(at)]);
          break;
        case 3:
          buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + int(8))]);
          break;
        case 4: {
          const len = 1 + int(16);
          buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at, at + len), buf.subarray(at)]);
          break;
        }
        default:
          buf = buf.subarray(0, at);
      }
    }
    return buf;
  };
  return { random, int, pick, bytes, mutate };
}

// ── DNS ────────────────────────────────────────────────────────────────────────

function dnsQuery(name: string, type: number, id: number): Buffer {
  const labels = name.split('.').filter((label) => label !== '');
  const parts = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const label of labels) parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  parts.push(Buffer.from([0, type >> 8, type & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

/** A fake resolver on UDP and TCP that echoes each query back as an empty answer. */
async function echoResolver(t: TestContext): Promise<number> {
  const answer = (query: Buffer): Buffer | undefined => {
    if (query.length < 12) return undefined;
    const reply = Buffer.from(query);
    reply[2] = reply[2]! | 0x80;
    return reply;
  };
  const resolver = await bindPair(
    (message, remote, udp) => {
      const reply = answer(message);
      if (reply) udp.send(reply, remote.port, remote.address);
    },
    (socket) => {
      socket.on('error', () => {});
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const reply = answer(pending.subarray(2, 2 + pending.readUInt16BE(0)));
          pending = pending.subarray(2 + pending.readUInt16BE(0));
          if (reply) socket.write(frame(reply));
        }
      });
    },
  );
  t.after(() => resolver.close());
  return resolver.port;
}

/** Asks a well-formed inner-call A query over UDP (retrying: a flood may fill buffers); returns ms taken. */
async function udpProbe(port: number, id: number): Promise<number> {
  const started = performance.now();
  const query = dnsQuery('gw-01-orders.inner-call.dyc.ivolces.com', 1, id);
  for (let attempt = 0; attempt < 5; attempt++) {
    const reply = await new Promise<Buffer | undefined>((resolve) => {
      const socket = dgram.createSocket('udp4');
      const timer = setTimeout(() => done(undefined), 400);
      const done = (value: Buffer | undefined): void => {
        clearTimeout(timer);
        socket.close();
        resolve(value);
      };
      socket.on('message', (message) => message.readUInt16BE(0) === id && done(message));
      socket.send(query, port, LOCAL);
    });
    if (reply !== undefined) {
      assert.equal(reply[3]! & 0x0f, 0, 'NOERROR');
      assert.equal(reply.readUInt16BE(6), 1, 'one answer');
      assert.deepEqual([...reply.subarray(-4)], [127, 0, 0, 9], 'the A record');
      return performance.now() - started;
    }
  }
  assert.fail(`no answer to a well-formed UDP query in 5 tries (seed ${SEED})`);
}

async function tcpProbe(port: number, id: number): Promise<void> {
  const query = dnsQuery('a-b.dycloud.service', 1, id);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(port, LOCAL, () => socket.write(frame(query)));
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`no TCP answer within 2 s (seed ${SEED})`)), 2000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.subarray(2));
      }
    });
    socket.on('error', reject);
  });
  assert.equal(reply.readUInt16BE(0), id);
  assert.deepEqual([...reply.subarray(-4)], [127, 0, 0, 9]);
}

test(`dyc-fuzz: 100,000 random and mutated DNS packets over UDP and TCP (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, async (t) => {
  const upstream = await echoResolver(t);
  const warnings: string[] = [];
  const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
  const server = await startDnsServer({
    host: LOCAL,
    port: 0,
    answerV4: '127.0.0.9',
    answerV6: 'fd00::9',
    upstream: [{ host: LOCAL, port: upstream }],
    logger,
  });
  t.after(() => server.stop());
  const f = fuzzer(SEED);
  const names = [
    'a-b.dycloud.service',
    'gw-01-orders.inner-call.dyc.ivolces.com',
    'x.inner-call.dyc.ivolces.com',
    'example.test',
    'inner-call.dyc.ivolces.com',
    'A-B.DYCLOUD.SERVICE.',
    '',
  ];
  const seedPacket = (): Buffer => dnsQuery(f.pick(names), f.pick([1, 28, 5, 15, 16, 255, 0, 65535]), f.int(0x10000));
  const packet = (): Buffer => {
    switch (f.int(8)) {
      case 0:
        return f.bytes(f.int(48));
      case 1:
        return f.bytes(f.int(600));
      case 2: {
        // A header with hostile counts and flags, then random bytes.
        const header = f.bytes(12);
        if (f.int(2)) header[2] = header[2]! & 0x7f;
        return Buffer.concat([header, f.bytes(f.int(300))]);
      }
      case 3: {
        // Names from random labels and pointers.
        const parts = Array.from({ length: 1 + f.int(10) }, () =>
          f.int(3) === 0 ? Buffer.from([0xc0 | f.int(64), f.int(256)]) : Buffer.concat([Buffer.from([f.int(70)]), f.bytes(f.int(70))]),
        );
        return Buffer.concat([Buffer.from([f.int(256), f.int(256), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...parts, f.bytes(f.int(6))]);
      }
      case 4:
        // Two packets spliced.
        return Buffer.concat([seedPacket().subarray(0, f.int(40)), seedPacket().subarray(f.int(30))]);
      default:
        return f.mutate(f.int(4) === 0 ? f.mutate(seedPacket()) : seedPacket());
    }
  };

  const UDP_PACKETS = 80_000;
  const TCP_MESSAGES = 20_000;
  const client = dgram.createSocket('udp4');
  let replies = 0;
  client.on('message', () => replies++);
  await new Promise<void>((resolve) => client.bind(0, LOCAL, resolve));
  t.after(() => client.close());
  let slowest = 0;
  const started = performance.now();
  for (let i = 0; i < UDP_PACKETS; i++) {
    client.send(packet(), server.port, LOCAL);
    if (i % 200 === 199) await new Promise((next) => setImmediate(next));
    if (i % 10_000 === 9_999) slowest = Math.max(slowest, await udpProbe(server.port, i & 0xffff));
  }

  // TCP: 100 connections, each a stream of framed fuzz, unframed garbage and split frames;
  // a fresh connection's well-formed query is answered between batches.
  let sent = 0;
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const socket = net.connect(server.port, LOCAL);
        socket.on('error', () => {});
        socket.on('data', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        for (let n = 0; n < TCP_MESSAGES / 100; n++, sent++) {
          const kind = f.int(10);
          const message = kind === 0 ? f.bytes(1 + f.int(100)) : kind === 1 ? frame(packet()).subarray(0, f.int(40)) : frame(packet());
          socket.write(message);
          if (n % 20 === 19) await new Promise((next) => setImmediate(next));
        }
        if (f.int(2)) socket.destroy();
        else socket.end();
      }),
    );
    await tcpProbe(server.port, batch);
  }
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(
    `${UDP_PACKETS} UDP packets, ${sent} TCP messages in ${seconds.toFixed(1)} s; ${replies} UDP replies; slowest probe ${slowest.toFixed(0)} ms; ${warnings.length} warnings`,
  );
  assert.ok(replies > UDP_PACKETS / 10, `the server answered the flood (${replies} replies)`);
  await udpProbe(server.port, 0x4242);
  await tcpProbe(server.port, 0x4343);
  assert.ok(warnings.length < 50, `warnings are throttled (${warnings.length}): ${warnings.slice(0, 3).join(' | ')}`);
});

// ── proxy ──────────────────────────────────────────────────────────────────────

test(`dyc-fuzz: random and malformed request lines and Host headers against the proxy (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, async (t) => {
  const target = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('target'));
    req.on('error', () => {});
  });
  await new Promise<void>((resolve) => target.listen(0, LOCAL, resolve));
  t.after(() => {
    target.closeAllConnections();
    target.close();
  });
  const targetPort = (target.address() as net.AddressInfo).port;
  const config = loadConfig(
    writeConfig(t, {
      services: { a: { dir: ECHO_DIR, command: 'x', id: 'gw-01', allow: ['b'] }, b: { dir: ECHO_DIR, command: 'x' } },
      proxy: { callTimeout: 2 },
    }),
  );
  const proxy = await startProxy({
    host: LOCAL,
    port: 0,
    logger: silentLogger,
    headersTimeoutMs: 2000,
    directory: { config: () => config, upstream: () => ({ state: 'ready', host: LOCAL, port: targetPort }) },
  });
  t.after(() => proxy.stop());
  const egress = await proxy.openEgress('a');

  const f = fuzzer(SEED ^ 0x9e3779b9);
  const hosts = [
    'gw-01-b.inner-call.dyc.ivolces.com',
    'gw-01-b.dycloud.service',
    'b-gw-01.inner-call.dyc.ivolces.com',
    'gw-01-b.inner-call.dyc.ivolces.com:80',
    'gw-01-b.inner-call.dyc.ivolces.com:8000',
    'a-b..inner-call.dyc.ivolces.com',
    '-b.dycloud.service',
    'x.inner-call.dyc.ivolces.com',
    '[::1]:80',
    '',
    'localhost',
    'gw-01-zz.dycloud.service',
    'GW-01-B.INNER-CALL.DYC.IVOLCES.COM.',
  ];
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'get', 'G€T', 'PROPFIND', ''];
  const paths = [
    '/',
    '/echo?a=1',
    '*',
    '//x',
    '/%00',
    '/../../etc/passwd',
    'http://gw-01-b.inner-call.dyc.ivolces.com/x',
    'HTTP://GW-01-B.DYCLOUD.SERVICE',
    'gw-01-b.inner-call.dyc.ivolces.com:80',
    'gw-01-b.inner-call.dyc.ivolces.com:443',
    `http://127.0.0.1:${targetPort}/`,
    `/${'p'.repeat(9000)}`,
  ];
  const versions = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 extra', ''];
  const text = (): string => f.bytes(f.int(30)).toString('latin1');
  const seedRequest = (): Buffer => {
    const headers = [`Host: ${f.pick(hosts)}`];
    for (let n = f.int(4); n > 0; n--)
      headers.push(
        f.pick([
          'Content-Length: 5',
          'Transfer-Encoding: chunked',
          'Connection: keep-alive, x-a',
          'Expect: 100-continue',
          'Upgrade: websocket',
          `X-F: ${text()}`,
          `Host: ${f.pick(hosts)}`,
          'Proxy-Connection: close',
          'Content-Length: -1',
        ]),
      );
    const body = f.pick(['', 'hello', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n']);
    return Buffer.from(`${f.pick(methods)} ${f.pick(paths)} ${f.pick(versions)}\r\n${headers.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  };
  const requestBytes = (): Buffer => {
    const kind = f.int(6);
    if (kind === 0) return f.bytes(f.int(200));
    if (kind === 1) return Buffer.from(`GET / HTTP/1.1\r\nHost: ${f.bytes(1 + f.int(60)).toString('latin1')}\r\n\r\n`, 'latin1');
    return f.int(3) === 0 ? seedRequest() : f.mutate(seedRequest());
  };
  /**
   * The fuzzer may write any host into an absolute-form target or a CONNECT, and the
   * proxy passes other hosts through: only inner-call names and this machine's own
   * ports are let through, so no packet leaves 127.0.0.1 (not even a DNS lookup).
   */
  const stays = (data: Buffer): boolean => {
    // Every line, not just the first: a pipelined second request is parsed too.
    const all = data.toString('latin1');
    const safe = (authority: string): boolean =>
      innerCallLabel(authority) !== undefined || new RegExp(`^127\\.0\\.0\\.1:(${targetPort}|${proxy.port}|${egress})$`).test(authority);
    for (const match of all.matchAll(/https?:\/\/([^/?#]*)/gi)) if (!safe(match[1]!)) return false;
    for (const line of all.split('\n')) {
      if (!/connect\s/i.test(line)) continue;
      for (const token of line.split(/\s+/)) if (!/^(connect|http\/.*|)$/i.test(token) && !safe(token)) return false;
    }
    return true;
  };

  const CASES = 100_000;
  const CONCURRENCY = 64;
  let next = 0;
  let answered = 0;
  let closedSilently = 0;
  let skipped = 0;
  const oneCase = (port: number, data: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, LOCAL, () => socket.end(data));
      let reply = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer or close within 5 s for ${JSON.stringify(data.toString('latin1').slice(0, 200))} (seed ${SEED})`));
      }, 5000);
      socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        if (reply === '') closedSilently++;
        else {
          assert.match(reply, /^HTTP\/1\.[01] \d{3} /, `a malformed response to ${JSON.stringify(data.toString('latin1').slice(0, 200))}`);
          answered++;
        }
        resolve();
      });
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CASES) {
        const n = next++;
        let data = requestBytes();
        for (let tries = 0; !stays(data); tries++) {
          skipped++;
          data = tries > 5 ? seedRequest() : requestBytes();
          if (tries > 20) data = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        }
        await oneCase(n % 2 ? proxy.port : egress, data);
        if (n % 5000 === 0) {
          const ok = await fetchOk(proxy.port, 'gw-01-b.inner-call.dyc.ivolces.com');
          assert.ok(ok, `a well-formed call failed during the fuzz (seed ${SEED})`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(
    `${CASES} requests in ${seconds.toFixed(1)} s: ${answered} answered, ${closedSilently} closed without a reply, ${skipped} regenerated to stay local`,
  );
  assert.ok(answered > CASES / 2, `most got an HTTP answer (${answered})`);
  assert.ok(await fetchOk(proxy.port, 'gw-01-b.inner-call.dyc.ivolces.com'));
  assert.ok(await fetchOk(egress, 'gw-01-b.dycloud.service'));
});

function fetchOk(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: LOCAL, port, path: '/ok', headers: { host }, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && body === 'target'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

// ── Response heads: the proxy against llhttp ──────────────────────────────────

/** What an HTTP client made of a response: refused before a response, or the response and whether its body ended cleanly. */
type Outcome = ({ kind: 'refused'; why: string } | { kind: 'response'; status: number; headers: string[]; body: string; complete: boolean }) & {
  /** A 1xx came first. */
  interim: boolean;
};

/** GETs `path` with Node's client (llhttp, strict) on a fresh connection; headers end to end (no hop-by-hop), lower case. */
function clientOutcome(port: number, path: string, host: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (!settled) resolve(outcome);
      settled = true;
    };
    let responded = false;
    let interim = false;
    const req = http.get({ host: LOCAL, port, path, headers: { host }, agent: false, timeout: 5000 }, (res) => {
      responded = true;
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      const done = (complete: boolean): void => {
        const named = new Set((res.headers.connection ?? '').split(',').map((option) => option.trim().toLowerCase()));
        const headers: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i]!.toLowerCase();
          if (!HOP_BY_HOP_NAMES.has(name) && !named.has(name)) headers.push(`${name}: ${res.rawHeaders[i + 1]}`);
        }
        settle({ kind: 'response', status: res.statusCode!, headers, body, complete, interim });
      };
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
      res.on('aborted', () => done(false));
      res.on('close', () => done(res.complete));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // An error after the response (bytes after a body that has ended) ends that response: its events say how.
    req.on('error', (error) => responded || settle({ kind: 'refused', why: error.message, interim }));
    req.on('information', () => (interim = true));
  });
}
const HOP_BY_HOP_NAMES = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

test(`dyc-fuzz: random and mutated response heads: the proxy forwards what llhttp accepts as llhttp reads it, and never what it refuses (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, async (t) => {
  const f = fuzzer(SEED ^ 0x85ebca6b);
  const statusLines = [
    'HTTP/1.1 200 OK',
    'HTTP/1.0 200 OK',
    'HTTP/1.1 204 No Content',
    'HTTP/1.1 304 Not Modified',
    'HTTP/1.1 404 Not Found',
    'HTTP/1.1 200',
    'HTTP/1.1 599 Odd one',
    'HTTP/1.1 200 Fine\tthanks',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK',
  ];
  const headerLines = [
    'Content-Type: text/plain',
    'content-length:5',
    'Content-Length: 5',
    'Content-Length:  5  ',
    'Content-Length: 6',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: gzip, chunked',
    'Connection: close',
    'Connection: keep-alive',
    'Connection: Keep-Alive, X-Drop',
    'X-Drop: dropped when named',
    'Keep-Alive: timeout=5',
    'Trailer: x-t',
    'Proxy-Connection: keep-alive',
    'X-Emulator-Error: stub_not_matched',
    'X-Spaced:   padded value\t ',
    'Set-Cookie: a=1',
    'Set-Cookie: b=2',
    'X-Empty:',
  ];
  const response = (): Buffer => {
    const lines = [f.pick(statusLines)];
    for (let n = f.int(6); n > 0; n--) lines.push(f.pick(headerLines));
    const chunked = lines.some((line) => /chunked/i.test(line));
    const body = chunked ? f.pick(['5\r\nhello\r\n0\r\n\r\n', '5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n', '0\r\n\r\n']) : f.pick(['hello', '', 'hello, world']);
    const bytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
    return f.int(3) === 0 ? bytes : f.mutate(bytes);
  };
  const CASES = 3000;
  const cases = Array.from({ length: CASES }, response);
  // Every third case arrives in two pieces, split within its first head: the proxy must wait
  // for the rest of the head. (Not later: bytes past a complete response that come late
  // reach whichever call has the pooled connection by then, with or without this proxy.)
  const splits = cases.map((bytes) => {
    const headEnd = bytes.indexOf('\r\n\r\n');
    return f.int(3) === 0 ? 1 + f.int((headEnd === -1 ? bytes.length : Math.min(bytes.length, headEnd + 4)) - 1) : 0;
  });
  // The target answers /case/N with case N's bytes as they are, then closes.
  const target = net.createServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const match = /^GET \/case\/(\d+) /.exec(head);
      if (!match || !head.includes('\r\n\r\n')) return;
      const bytes = cases[Number(match[1])]!;
      const split = splits[Number(match[1])]!;
      if (split === 0) return void socket.end(bytes);
      socket.write(bytes.subarray(0, split));
      setTimeout(() => socket.end(bytes.subarray(split)), 5);
    });
  });
  await new Promise<void>((resolve) => target.listen(0, LOCAL, resolve));
  t.after(() => target.close());
  const targetPort = (target.address() as net.AddressInfo).port;
  const config = loadConfig(
    writeConfig(t, { services: { a: { dir: ECHO_DIR, command: 'x', allow: ['b'] }, b: { dir: ECHO_DIR, command: 'x' } }, proxy: { callTimeout: 5 } }),
  );
  const proxy = await startProxy({
    host: LOCAL,
    port: 0,
    logger: silentLogger,
    directory: { config: () => config, upstream: () => ({ state: 'ready', host: LOCAL, port: targetPort }) },
  });
  t.after(() => proxy.stop());

  const tally = { agreed: 0, bothRefused: 0, proxyStricter: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < CASES) {
        const n = next++;
        const path = `/case/${n}`;
        const [direct, proxied] = await Promise.all([
          clientOutcome(targetPort, path, 'target'),
          clientOutcome(proxy.port, path, 'a-b.inner-call.dyc.ivolces.com'),
        ]);
        const sent = JSON.stringify(cases[n]!.toString('latin1'));
        // The proxy's own refusal: a 502 of its own making.
        const refusedByProxy = proxied.kind === 'response' && proxied.status === 502 && proxied.headers.includes('x-emulator-error: upstream_error');
        const directBroken = direct.kind === 'refused' || !direct.complete;
        const proxiedBroken = refusedByProxy || proxied.kind === 'refused' || !proxied.complete;
        if (direct.kind === 'refused') {
          // Refused as a whole: a 502 of the proxy's, or a cut once a 1xx has gone out; never a head of the target's.
          assert.ok(
            refusedByProxy || (proxied.interim && proxiedBroken),
            `llhttp refused (${direct.why}) but the proxy forwarded ${JSON.stringify(proxied)} for ${sent} (seed ${SEED})`,
          );
          tally.bothRefused++;
        } else if (proxiedBroken && !directBroken) {
          // Stricter is allowed only as a clean 502, or as a cut once a 1xx has gone out (llhttp takes "\r\r" for a line end, for one).
          assert.ok(
            refusedByProxy || proxied.interim,
            `llhttp read a whole response but the proxy cut it: ${JSON.stringify(proxied)} for ${sent} (seed ${SEED})`,
          );
          tally.proxyStricter++;
        } else if (directBroken) {
          assert.ok(proxiedBroken, `a body llhttp found cut short came through whole: ${JSON.stringify(proxied)} for ${sent} (seed ${SEED})`);
          tally.bothRefused++;
        } else if (proxied.kind === 'response') {
          assert.equal(proxied.status, direct.status, `${sent} (seed ${SEED})`);
          assert.deepEqual(proxied.headers, direct.headers, `${sent} (seed ${SEED})`);
          assert.equal(proxied.body, direct.body, `${sent} (seed ${SEED})`);
          tally.agreed++;
        }
      }
    }),
  );
  t.diagnostic(
    `${CASES} responses: ${tally.agreed} forwarded as llhttp read them, ${tally.bothRefused} refused by both, ${tally.proxyStricter} refused by the proxy alone`,
  );
  assert.ok(tally.agreed > CASES / 4 && tally.bothRefused > CASES / 10, JSON.stringify(tally));
  assert.ok(tally.proxyStricter < CASES / 20, `the proxy refuses much that llhttp accepts: ${JSON.stringify(tally)}`);
});
