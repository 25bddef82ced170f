import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import { EmulatorError } from '../emulator/errors.js';
import { startDnsServer, systemResolvers, type DnsServer, type DnsServerOptions } from '../emulator/dns/server.js';
import { bindPair, frame } from './dns-helpers.js';

const { Packet } = dns2;
type Packet = InstanceType<typeof Packet>;

const LOCALHOST = '127.0.0.1';
const PROXY_V4 = '127.0.0.9';
const PROXY_V6 = 'fd00::9';
const UPSTREAM_ANSWER = '192.0.2.7';
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const runFile = promisify(execFile);

// ── helpers ────────────────────────────────────────────────────────────────────

async function startServer(t: TestContext, options: Partial<DnsServerOptions> = {}): Promise<DnsServer> {
  const server = await startDnsServer({ host: LOCALHOST, port: 0, answerV4: PROXY_V4, answerV6: PROXY_V6, upstream: [], ...options });
  t.after(() => server.stop());
  return server;
}

let nextId = 1;
function makeQuery(name: string, type: number = Packet.TYPE.A, id = nextId++ & 0xffff): Buffer {
  const packet = new Packet();
  packet.header.id = id;
  packet.header.rd = 1;
  packet.questions.push(new Packet.Question(name, type, Packet.CLASS.IN));
  return packet.toBuffer();
}

/** Sends one datagram from a fresh socket; the first reply, or undefined after `timeoutMs`. */
function udpExchange(port: number, message: Buffer, timeoutMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (reply: Buffer | undefined): void => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    socket.on('message', (reply) => done(reply));
    socket.on('error', (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.send(message, port, LOCALHOST);
  });
}

async function udpAsk(port: number, message: Buffer, timeoutMs?: number): Promise<Buffer> {
  const reply = await udpExchange(port, message, timeoutMs);
  assert.ok(reply, 'no UDP reply');
  return reply;
}

/** Writes `chunks` on one connection and collects `expected` framed replies. */
function tcpExchange(port: number, chunks: Buffer[], expected: number, timeoutMs = 5000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, LOCALHOST);
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${replies.length} of ${expected} TCP replies within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.length >= expected) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        if (chunks.length > 1) await new Promise((next) => setTimeout(next, 1));
      }
    });
  });
}

async function tcpAsk(port: number, message: Buffer): Promise<Buffer> {
  const [reply] = await tcpExchange(port, [frame(message)], 1);
  return reply!;
}

function addresses(reply: Packet): string[] {
  return reply.answers.map((answer) => answer.address ?? '');
}

function assertAnswer(raw: Buffer, query: Buffer, type: number, address: string | undefined): Packet {
  const reply = Packet.parse(raw);
  assert.equal(reply.header.id, query.readUInt16BE(0), 'id echoed');
  assert.equal(reply.header.qr, 1);
  assert.equal(reply.header.rcode, RCODE.NOERROR);
  assert.equal(reply.header.aa, 1, 'authoritative');
  assert.equal(reply.header.rd, 1, 'RD echoed');
  // The question comes back byte for byte, case included.
  assert.deepEqual(raw.subarray(12, query.length), query.subarray(12));
  if (address === undefined) {
    assert.equal(reply.header.ancount, 0);
  } else {
    assert.equal(reply.header.ancount, 1);
    assert.equal(reply.answers[0]!.type, type);
    assert.equal(reply.answers[0]!.ttl, 5);
    assert.deepEqual(addresses(reply), [address]);
  }
  return reply;
}

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await runFile('dig', [`@${LOCALHOST}`, '-p', String(port), '+tries=1', '+time=5', ...args]);
  return stdout;
}

interface FakeUpstream {
  readonly port: number;
  /** Queries received, as raw bytes (TCP ones without the length). */
  readonly received: Buffer[];
}

/**
 * A resolver on 127.0.0.1 that answers example.test with 192.0.2.7 and anything else
 * with NXDOMAIN, or with `silent`, never answers.
 */
async function startFakeUpstream(t: TestContext, mode: 'answer' | 'silent' = 'answer'): Promise<FakeUpstream> {
  const received: Buffer[] = [];
  const answer = (message: Buffer): Buffer | undefined => {
    received.push(Buffer.from(message));
    if (mode === 'silent') return undefined;
    // dns2's parser is slow on hostile section counts (see docs/dns.md); the flood test sends some.
    if (
      message.length < 12 ||
      message.length > 512 ||
      message.readUInt16BE(4) !== 1 ||
      message.readUInt16BE(6) !== 0 ||
      message.readUInt16BE(8) !== 0 ||
      message.readUInt16BE(10) > 1
    )
      return undefined;
    const query = Packet.parse(message);
    const question = query.questions[0];
    if (question === undefined) return undefined;
    const response = Packet.createResponseFromRequest(query);
    response.header.ra = 1;
    if (question.name.toLowerCase() === 'example.test') {
      response.answers.push({
        name: question.name,
        type: Packet.TYPE.A,
        class: Packet.CLASS.IN,
        ttl: 60,
        address: UPSTREAM_ANSWER,
      } as Packet['answers'][number]);
    } else {
      response.header.rcode = RCODE.NXDOMAIN;
    }
    return response.toBuffer();
  };
  const pair = await bindPair(
    (message, remote, socket) => {
      const reply = answer(message);
      if (reply) socket.send(reply, remote.port, remote.address);
    },
    (socket) => {
      let pending = Buffer.alloc(0);
      socket.on('error', () => {});
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
  t.after(() => pair.close());
  return { port: pair.port, received };
}

/** A port with nothing listening on it, UDP or TCP (a moment ago). */
async function closedPort(): Promise<number> {
  const pair = await bindPair(
    () => {},
    () => {},
  );
  await pair.close();
  return pair.port;
}

/** mulberry32: small, seedable, good enough to make garbage reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// ── inner-call names ──────────────────────────────────────────────────────────

const INNER_NAMES = [
  'orders-users.inner-call.dyc.ivolces.com',
  'orders-users.dycloud.service',
  'gw-01-orders.inner-call.dyc.ivolces.com',
  'GW-01-Orders.Inner-Call.DYC.ivolces.COM',
  'a-b.DYCLOUD.service.',
];

test('A and AAAA for inner-call names over UDP, any case, ids with dashes', async (t) => {
  const server = await startServer(t);
  for (const name of INNER_NAMES) {
    const a = makeQuery(name, Packet.TYPE.A);
    assertAnswer(await udpAsk(server.port, a), a, Packet.TYPE.A, PROXY_V4);
    const aaaa = makeQuery(name, Packet.TYPE.AAAA);
    assertAnswer(await udpAsk(server.port, aaaa), aaaa, Packet.TYPE.AAAA, PROXY_V6);
  }
});

test('A and AAAA for inner-call names over TCP, several queries per connection, split at every byte', async (t) => {
  const server = await startServer(t);
  for (const name of INNER_NAMES) {
    const a = makeQuery(name, Packet.TYPE.A);
    assertAnswer(await tcpAsk(server.port, a), a, Packet.TYPE.A, PROXY_V4);
  }
  const queries = INNER_NAMES.flatMap((name) => [makeQuery(name, Packet.TYPE.A), makeQuery(name, Packet.TYPE.AAAA)]);
  // All in one write.
  const together = await tcpExchange(server.port, [Buffer.concat(queries.map(frame))], queries.length);
  // One byte per write.
  const bytes = Buffer.concat(queries.map(frame));
  const trickled = await tcpExchange(
    server.port,
    [...bytes].map((byte) => Buffer.of(byte)),
    queries.length,
    10_000,
  );
  for (const replies of [together, trickled]) {
    queries.forEach((query, i) => {
      const type = query.readUInt16BE(query.length - 4);
      assertAnswer(replies[i]!, query, type, type === Packet.TYPE.A ? PROXY_V4 : PROXY_V6);
    });
  }
});

test('AAAA without answerV6, other types and the bare domains: NOERROR without answers', async (t) => {
  const server = await startServer(t, { answerV6: undefined, ttl: 30 });
  const aaaa = makeQuery('orders-users.inner-call.dyc.ivolces.com', Packet.TYPE.AAAA);
  assertAnswer(await udpAsk(server.port, aaaa), aaaa, Packet.TYPE.AAAA, undefined);
  for (const type of [Packet.TYPE.MX, Packet.TYPE.TXT, Packet.TYPE.SOA]) {
    const query = makeQuery('orders-users.dycloud.service', type);
    assertAnswer(await udpAsk(server.port, query), query, type, undefined);
  }
  for (const name of ['inner-call.dyc.ivolces.com', 'dycloud.service']) {
    const query = makeQuery(name);
    assertAnswer(await udpAsk(server.port, query), query, Packet.TYPE.A, undefined);
  }
  const a = makeQuery('orders-users.dycloud.service');
  assert.equal(Packet.parse(await udpAsk(server.port, a)).answers[0]!.ttl, 30, 'ttl option');
});

test('an IPv4-mapped AAAA answer is encoded right', async (t) => {
  const server = await startServer(t, { answerV6: '::ffff:192.0.2.1' });
  const query = makeQuery('a-b.dycloud.service', Packet.TYPE.AAAA);
  const raw = await udpAsk(server.port, query);
  assert.equal(raw.subarray(raw.length - 16).toString('hex'), '00000000000000000000ffffc0000201');
});

test('NXDOMAIN for malformed inner-call names', async (t) => {
  const server = await startServer(t);
  const names = [
    'foo.inner-call.dyc.ivolces.com',
    'a-b.c.inner-call.dyc.ivolces.com',
    '-b.dycloud.service',
    'a-.dycloud.service',
    'x.a-b.inner-call.dyc.ivolces.com',
  ];
  for (const name of names) {
    for (const ask of [udpAsk, tcpAsk]) {
      const query = makeQuery(name);
      const reply = Packet.parse(await ask(server.port, query));
      assert.equal(reply.header.rcode, RCODE.NXDOMAIN, `${name} over ${ask.name}`);
      assert.equal(reply.header.aa, 1);
      assert.equal(reply.header.id, query.readUInt16BE(0));
      assert.equal(reply.answers.length, 0);
    }
  }
});

test('dig resolves inner-call names over UDP and TCP', async (t) => {
  const server = await startServer(t);
  const cases: [string[], string, string][] = [
    [['gw-01-orders.inner-call.dyc.ivolces.com', 'A'], 'NOERROR', PROXY_V4],
    [['orders-users.dycloud.service', 'A', '+tcp'], 'NOERROR', PROXY_V4],
    [['orders-users.inner-call.dyc.ivolces.com', 'AAAA'], 'NOERROR', PROXY_V6],
    [['ORDERS-users.dycloud.service', 'AAAA', '+tcp'], 'NOERROR', PROXY_V6],
    [['foo.inner-call.dyc.ivolces.com', 'A'], 'NXDOMAIN', ''],
  ];
  await Promise.all(
    cases.map(async ([args, status, address]) => {
      const output = await dig(server.port, ...args);
      assert.match(output, new RegExp(`status: ${status}`), output);
      if (address) assert.match(output, new RegExp(`IN\\s+A{1,4}\\s+${address.replaceAll('.', '\\.')}\\n`), output);
      assert.match(output, /flags: qr aa rd ra/, output);
    }),
  );
});

// ── forwarding ────────────────────────────────────────────────────────────────

test('other names are forwarded unchanged over UDP and TCP, answers relayed with the client id', async (t) => {
  const upstream = await startFakeUpstream(t);
  const server = await startServer(t, { upstream: [{ host: LOCALHOST, port: upstream.port }] });

  const udpQuery = makeQuery('example.test', Packet.TYPE.A, 0xbeef);
  const viaUdp = Packet.parse(await udpAsk(server.port, udpQuery));
  assert.equal(viaUdp.header.id, 0xbeef);
  assert.equal(viaUdp.header.rcode, RCODE.NOERROR);
  assert.deepEqual(addresses(viaUdp), [UPSTREAM_ANSWER]);
  // Raw bytes upstream: all but the id, which we replace to match answers.
  assert.deepEqual(upstream.received.at(-1)!.subarray(2), udpQuery.subarray(2));

  const tcpQuery = makeQuery('example.test', Packet.TYPE.A, 0xcafe);
  const viaTcp = Packet.parse(await tcpAsk(server.port, tcpQuery));
  assert.equal(viaTcp.header.id, 0xcafe);
  assert.deepEqual(addresses(viaTcp), [UPSTREAM_ANSWER]);
  assert.deepEqual(upstream.received.at(-1), tcpQuery);

  const missing = Packet.parse(await udpAsk(server.port, makeQuery('missing.test')));
  assert.equal(missing.header.rcode, RCODE.NXDOMAIN);
  assert.equal(missing.header.aa, 0);

  const output = await dig(server.port, 'example.test');
  assert.match(output, /status: NOERROR/, output);
  assert.match(output, /example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7/, output);
  const outputTcp = await dig(server.port, 'example.test', '+tcp');
  assert.match(outputTcp, /192\.0\.2\.7/, outputTcp);

  // Many at once over UDP: each answer goes back to its own client, with its own id.
  const many = await Promise.all(
    Array.from({ length: 200 }, (_, i) => udpAsk(server.port, makeQuery(i % 2 ? 'example.test' : 'missing.test', Packet.TYPE.A, 1000 + i))),
  );
  many.forEach((raw, i) => {
    const reply = Packet.parse(raw);
    assert.equal(reply.header.id, 1000 + i);
    assert.equal(reply.header.rcode, i % 2 ? RCODE.NOERROR : RCODE.NXDOMAIN);
  });
});

test('a TCP client that half-closes after its queries still gets every answer', async (t) => {
  const upstream = await startFakeUpstream(t);
  const server = await startServer(t, { upstream: [{ host: LOCALHOST, port: upstream.port }] });
  const queries = [makeQuery('example.test'), makeQuery('a-b.dycloud.service'), makeQuery('missing.test')];
  const socket = net.connect(server.port, LOCALHOST);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.end(Buffer.concat(queries.map(frame)));
  await new Promise((resolve) => socket.once('close', resolve));
  let rest = Buffer.concat(chunks);
  const ids: number[] = [];
  while (rest.length >= 2) {
    ids.push(rest.readUInt16BE(2));
    rest = rest.subarray(2 + rest.readUInt16BE(0));
  }
  assert.deepEqual(ids.sort(), queries.map((query) => query.readUInt16BE(0)).sort());
});

test('an upstream that never answers: SERVFAIL after the timeout; a dead first upstream: the second answers', async (t) => {
  const silent = await startFakeUpstream(t, 'silent');
  const live = await startFakeUpstream(t);
  const closed = await closedPort();
  const onlySilent = await startServer(t, { upstream: [{ host: LOCALHOST, port: silent.port }] });
  const silentFirst = await startServer(t, {
    upstream: [
      { host: LOCALHOST, port: silent.port },
      { host: LOCALHOST, port: live.port },
    ],
  });
  const closedFirst = await startServer(t, {
    upstream: [
      { host: LOCALHOST, port: closed },
      { host: LOCALHOST, port: live.port },
    ],
  });

  const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
    const started = performance.now();
    const value = await work;
    return [value, performance.now() - started];
  };
  const [servfailUdp, servfailTcp, secondUdp, secondTcp, refusedUdp, refusedTcp] = await Promise.all([
    timed(udpAsk(onlySilent.port, makeQuery('example.test'), 6000)),
    timed(tcpAsk(onlySilent.port, makeQuery('example.test'))),
    timed(udpAsk(silentFirst.port, makeQuery('example.test'), 6000)),
    timed(tcpAsk(silentFirst.port, makeQuery('example.test'))),
    timed(udpAsk(closedFirst.port, makeQuery('example.test'))),
    timed(tcpAsk(closedFirst.port, makeQuery('example.test'))),
  ]);
  for (const [raw, ms] of [servfailUdp, servfailTcp]) {
    const reply = Packet.parse(raw);
    assert.equal(reply.header.rcode, RCODE.SERVFAIL);
    assert.equal(reply.questions[0]!.name, 'example.test', 'SERVFAIL carries the question');
    assert.ok(ms > 1500 && ms < 4000, `SERVFAIL after ${ms} ms`);
  }
  for (const [raw, ms] of [secondUdp, secondTcp]) {
    assert.deepEqual(addresses(Packet.parse(raw)), [UPSTREAM_ANSWER]);
    assert.ok(ms > 1500 && ms < 4000, `second upstream after ${ms} ms`);
  }
  // A closed port refuses at once (ICMP port unreachable, TCP RST): no need to wait for the timeout.
  for (const [raw, ms] of [refusedUdp, refusedTcp]) {
    assert.deepEqual(addresses(Packet.parse(raw)), [UPSTREAM_ANSWER]);
    assert.ok(ms < 1000, `second upstream after ${ms} ms`);
  }
  assert.ok(silent.received.length >= 2, 'the silent upstream was asked');
});

test('no upstream: REFUSED for other names, inner-call names still answered', async (t) => {
  const server = await startServer(t, { upstream: [] });
  for (const ask of [udpAsk, tcpAsk]) {
    const reply = Packet.parse(await ask(server.port, makeQuery('example.test')));
    assert.equal(reply.header.rcode, RCODE.REFUSED);
  }
  const query = makeQuery('a-b.dycloud.service');
  assertAnswer(await udpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
});

// ── hostile input ─────────────────────────────────────────────────────────────

function header(id: number, flags: number, counts: [number, number, number, number]): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(flags, 2);
  counts.forEach((count, i) => out.writeUInt16BE(count, 4 + i * 2));
  return out;
}

test('malformed packets: FORMERR with the id when there is a header, silence otherwise', async (t) => {
  const upstream = await startFakeUpstream(t);
  const server = await startServer(t, { upstream: [{ host: LOCALHOST, port: upstream.port }] });
  const twoQuestions = Buffer.concat([makeQuery('a-b.dycloud.service', 1, 0x1113), makeQuery('c-d.dycloud.service').subarray(12)]);
  twoQuestions.writeUInt16BE(2, 4);
  const formerr: [string, Buffer][] = [
    ['header only', header(0x1111, 0x0100, [1, 0, 0, 0])],
    ['no question', header(0x1112, 0x0100, [0, 0, 0, 0])],
    ['two questions', twoQuestions],
    ['pointer loop in the name', Buffer.concat([header(0x1114, 0x0100, [1, 0, 0, 0]), Buffer.from('c00c00010001', 'hex')])],
    ['pointer chain', Buffer.concat([header(0x1115, 0x0100, [1, 0, 0, 0]), Buffer.from('0161c00c00010001', 'hex')])],
    ['reserved label type', Buffer.concat([header(0x1116, 0x0100, [1, 0, 0, 0]), Buffer.from('41610000010001', 'hex')])],
    ['label past the end', Buffer.concat([header(0x1117, 0x0100, [1, 0, 0, 0]), Buffer.from('3f6162', 'hex')])],
    [
      'name over 255 octets',
      Buffer.concat([
        header(0x1118, 0x0100, [1, 0, 0, 0]),
        ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.of(63), Buffer.alloc(63, 0x61)])),
        Buffer.from('0000010001', 'hex'),
      ]),
    ],
    ['truncated type', makeQuery('a-b.dycloud.service', 1, 0x1119).subarray(0, -3)],
    ['every count 0xffff', Buffer.concat([header(0x111a, 0x0100, [0xffff, 0xffff, 0xffff, 0xffff]), Buffer.alloc(500)])],
  ];
  for (const [what, packet] of formerr) {
    for (const transport of ['udp', 'tcp'] as const) {
      const started = performance.now();
      const raw = transport === 'udp' ? await udpAsk(server.port, packet) : await tcpAsk(server.port, packet);
      const reply = Packet.Header.parse(raw);
      assert.equal(reply.rcode, RCODE.FORMERR, `${what} over ${transport}`);
      assert.equal(reply.id, packet.readUInt16BE(0), `${what}: id echoed`);
      assert.equal(reply.qr, 1);
      assert.ok(performance.now() - started < 500, `${what}: answered quickly`);
    }
  }

  const update = header(0x2222, 0x2800, [1, 0, 0, 0]); // opcode 5, UPDATE
  assert.equal(Packet.Header.parse(await udpAsk(server.port, update)).rcode, RCODE.NOTIMP);

  // Sections after the question are not read: hostile counts there cost nothing.
  const big = makeQuery('a-b.dycloud.service', 1, 0x3333);
  big.writeUInt16BE(0xffff, 6);
  big.writeUInt16BE(0xffff, 8);
  big.writeUInt16BE(0xffff, 10);
  assert.deepEqual(addresses(Packet.parse(await udpAsk(server.port, Buffer.concat([big, Buffer.alloc(400, 0xc0)])))), [PROXY_V4]);

  const silence: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['11 bytes', Buffer.alloc(11, 0xff)],
    ['a response', header(0x4444, 0x8180, [1, 0, 0, 0])],
  ];
  for (const [what, packet] of silence) assert.equal(await udpExchange(server.port, packet, 300), undefined, `${what}: no reply`);
  assert.equal(upstream.received.length, 0, 'nothing malformed was forwarded');
});

const SEED = process.env.DNS_FLOOD_SEED ? Number(process.env.DNS_FLOOD_SEED) : Math.floor(Math.random() * 2 ** 32);

test(`flood of random and mutated packets over UDP and TCP (seed ${SEED}; replay with DNS_FLOOD_SEED=${SEED})`, async (t) => {
  const upstream = await startFakeUpstream(t);
  const warnings: string[] = [];
  const logger = { info() {}, warn: (message: string) => warnings.push(message), error() {}, service() {}, serviceEvent() {}, call() {} };
  const server = await startServer(t, { upstream: [{ host: LOCALHOST, port: upstream.port }], logger });
  const random = prng(SEED);
  const int = (below: number): number => Math.floor(random() * below);
  const bytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => int(256)));
  const names = ['a-b.dycloud.service', 'gw-01-orders.inner-call.dyc.ivolces.com', 'example.test', 'foo.inner-call.dyc.ivolces.com', 'x.y.z.test'];
  const valid = (): Buffer => makeQuery(names[int(names.length)]!, [1, 28, 15, 255][int(4)], int(0x10000));
  const mutate = (packet: Buffer): Buffer => {
    const copy = Buffer.from(packet);
    for (let n = 1 + int(4); n > 0; n--) copy[int(copy.length)] = int(256);
    return copy;
  };
  const garbage = (): Buffer => {
    switch (int(7)) {
      case 0:
        return bytes(int(40));
      case 1:
        return bytes(int(700));
      case 2: {
        const packet = valid();
        return packet.subarray(0, int(packet.length));
      }
      case 3:
        return mutate(valid());
      case 4:
        return Buffer.concat([
          header(int(0x10000), int(0x10000) & 0x7fff, [int(4) === 0 ? 1 : int(0x10000), int(0x10000), int(0x10000), int(0x10000)]),
          bytes(int(300)),
        ]);
      case 5: {
        // Names built from pointers and labels at random.
        const body = Array.from({ length: 1 + int(8) }, () =>
          int(2) ? Buffer.of(0xc0 | int(4), int(256)) : Buffer.concat([Buffer.of(int(64)), bytes(int(64))]),
        );
        return Buffer.concat([header(int(0x10000), 0x0100, [1, int(3), int(3), int(3)]), ...body, bytes(int(12))]);
      }
      default:
        return mutate(mutate(valid()));
    }
  };

  const PACKETS = 20_000;
  const client = dgram.createSocket('udp4');
  let replies = 0;
  client.on('message', () => replies++);
  await new Promise<void>((resolve) => client.bind(0, LOCALHOST, resolve));
  t.after(() => client.close());
  for (let i = 0; i < PACKETS; i++) {
    client.send(garbage(), server.port, LOCALHOST);
    // Let the server keep up rather than measure the kernel's buffer.
    if (i % 100 === 99) await new Promise((next) => setImmediate(next));
  }

  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  await Promise.all(
    Array.from({ length: 60 }, async () => {
      const socket = net.connect(server.port, LOCALHOST);
      sockets.push(socket);
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      for (let n = int(20); n > 0; n--) {
        const kind = int(4);
        if (kind === 0) socket.write(bytes(1 + int(2000)));
        else if (kind === 1) socket.write(frame(garbage()));
        else if (kind === 2) socket.write(frame(mutate(valid())).subarray(0, int(60)));
        else socket.write(Buffer.of(int(256), int(256)));
        await new Promise((next) => setImmediate(next));
      }
      if (int(2)) socket.destroy();
    }),
  );

  await new Promise((settle) => setTimeout(settle, 200));
  assert.ok(replies > 1000, `the server answered the flood (${replies} replies)`);
  const query = makeQuery('gw-01-orders.inner-call.dyc.ivolces.com', Packet.TYPE.A);
  assertAnswer(await udpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
  assertAnswer(await tcpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
  assert.deepEqual(addresses(Packet.parse(await udpAsk(server.port, makeQuery('example.test')))), [UPSTREAM_ANSWER]);
  assert.ok(warnings.length < 50, `warnings are throttled (${warnings.length}): ${warnings.slice(0, 5).join(' | ')}`);
});

test('TCP connections over the cap are closed; the server keeps serving', async (t) => {
  const server = await startServer(t);
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  let closedByServer = 0;
  await Promise.all(
    Array.from({ length: 276 }, async () => {
      const socket = net.connect(server.port, LOCALHOST);
      sockets.push(socket);
      socket.on('error', () => {});
      socket.on('close', () => closedByServer++);
      await new Promise((resolve) => socket.once('connect', resolve));
    }),
  );
  await new Promise((settle) => setTimeout(settle, 300));
  assert.ok(closedByServer >= 20, `${closedByServer} connections closed`);
  const query = makeQuery('a-b.dycloud.service');
  assertAnswer(await udpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
  sockets.forEach((socket) => socket.destroy());
  await new Promise((settle) => setTimeout(settle, 100));
  assertAnswer(await tcpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
});

// Forging needs a raw socket, so root (as in CI); python3 is installed by .ci/run.
test('a forged datagram from source port 0 cannot crash the server', async (t) => {
  const server = await startServer(t);
  // Node's dgram send throws on port 0: answering this packet must not be attempted.
  const forge = `import socket, struct, sys
payload = bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.sendto(struct.pack('!HHHH', 0, int(sys.argv[1]), 8 + len(payload), 0) + payload, ('127.0.0.1', 0))`;
  for (const packet of [makeQuery('a-b.dycloud.service'), makeQuery('example.test'), header(1, 0x0100, [1, 0, 0, 0])]) {
    await runFile('python3', ['-c', forge, String(server.port), packet.toString('hex')]);
  }
  await new Promise((settle) => setTimeout(settle, 100));
  const query = makeQuery('a-b.dycloud.service');
  assertAnswer(await udpAsk(server.port, query), query, Packet.TYPE.A, PROXY_V4);
});

// ── lifecycle ─────────────────────────────────────────────────────────────────

test('stop() is idempotent and frees the port for UDP and TCP', async () => {
  const server = await startDnsServer({ host: LOCALHOST, port: 0, answerV4: PROXY_V4, upstream: [] });
  const open = net.connect(server.port, LOCALHOST);
  open.on('error', () => {});
  await new Promise((resolve) => open.once('connect', resolve));
  await Promise.all([server.stop(), server.stop()]);
  await server.stop();
  await server[Symbol.asyncDispose]();
  assert.equal(await udpExchange(server.port, makeQuery('a-b.dycloud.service'), 300), undefined);

  // The same port, both protocols, at once.
  const again = await startDnsServer({ host: LOCALHOST, port: server.port, answerV4: PROXY_V4, upstream: [] });
  const query = makeQuery('a-b.dycloud.service');
  assertAnswer(await tcpAsk(again.port, query), query, Packet.TYPE.A, PROXY_V4);
  await again.stop();

  {
    await using disposable = await startDnsServer({ host: LOCALHOST, port: server.port, answerV4: PROXY_V4, upstream: [] });
    assert.equal(disposable.port, server.port);
  }
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(server.port, LOCALHOST, resolve));
  udp.close();
});

test('a port in use is a user error naming the port', async (t) => {
  const server = await startServer(t);
  await assert.rejects(startDnsServer({ host: LOCALHOST, port: server.port, answerV4: PROXY_V4, upstream: [] }), (error: unknown) => {
    assert.ok(error instanceof EmulatorError);
    assert.equal(error.code, 'port_in_use');
    assert.match(error.message, new RegExp(`${server.port}`));
    return true;
  });
  // Port taken for TCP only.
  const tcp = net.createServer();
  await new Promise<void>((resolve) => tcp.listen(0, LOCALHOST, resolve));
  t.after(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
  const port = (tcp.address() as net.AddressInfo).port;
  await assert.rejects(startDnsServer({ host: LOCALHOST, port, answerV4: PROXY_V4, upstream: [] }), { code: 'port_in_use' });
});

test('systemResolvers reads nameserver lines', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dns-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'resolv.conf');
  await writeFile(
    file,
    [
      '# comment',
      'search example.com',
      'nameserver 127.0.0.53',
      '  nameserver\t10.0.0.2  # inline',
      '; nameserver 10.9.9.9',
      'nameserver fe80::1%eth0',
      'options edns0',
    ].join('\n'),
  );
  assert.deepEqual(systemResolvers(file), [
    { host: '127.0.0.53', port: 53 },
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
  ]);
  assert.deepEqual(systemResolvers(join(dir, 'missing')), []);
});
