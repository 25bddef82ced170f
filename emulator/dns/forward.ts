import dgram from 'node:dgram';
import net from 'node:net';
import { randomFillSync } from 'node:crypto';
import { buildReply, HEADER_BYTES, RCODE, sameQuestion, TcpFramer, type Question } from './wire.js';
import type { ThrottledWarn } from './throttle.js';
import { hostPort } from '../util/addresses.js';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** How long one upstream gets to answer before the next one is asked. */
export const UPSTREAM_TIMEOUT_MS = 2000;
/** In-flight UDP queries per upstream; ids are 16 bits, and a quarter of them keeps fresh-id picks cheap. */
const MAX_PENDING_PER_UPSTREAM = 16_384;
/** Concurrent TCP connections to upstreams, all clients together. */
const MAX_UPSTREAM_TCP = 128;
/** Consecutive timeouts after which an upstream is asked last, for DOWN_FOR_MS. */
const DOWN_AFTER_TIMEOUTS = 3;
const DOWN_FOR_MS = 30_000;
const SWEEP_INTERVAL_MS = 100;
/** Socket errors that mean nobody is there: ICMP port or host unreachable, no route. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

/** Receives the upstream's answer (client id restored) or a SERVFAIL/REFUSED built from the query. */
export type Reply = (message: Buffer) => void;

interface Pending {
  /** The client's packet; its first two bytes carry the id of the current attempt. */
  readonly query: Buffer;
  readonly question: Question;
  readonly clientId: number;
  readonly reply: Reply;
  /** Upstream indexes in the order to try, fixed when the query arrived. */
  readonly order: readonly number[];
  attempt: number;
  deadline: number;
}

interface UdpUpstream {
  readonly label: string;
  readonly address: Upstream;
  readonly socket: dgram.Socket;
  /** Keyed by the id we wrote into the query. Insertion order is deadline order, which the sweep relies on. */
  readonly pending: Map<number, Pending>;
  timeouts: number;
  downUntil: number;
}

/**
 * Relays queries for names that are not ours to the host's resolvers, as raw bytes.
 * UDP: one connected socket per upstream (the kernel then drops datagrams from anyone
 * else and reports ICMP "port unreachable" as ECONNREFUSED), the query's id replaced
 * by a fresh random one so answers can be matched and spoofed ones are unlikely to be,
 * then the client's id put back. TCP: one connection per query, the id left alone.
 */
export class Forwarder {
  readonly #upstreams: UdpUpstream[];
  readonly #warn: ThrottledWarn;
  readonly #tcpSockets = new Set<net.Socket>();
  readonly #sweep: NodeJS.Timeout;
  #order: readonly number[];
  #ids = new Uint16Array(4096);
  #nextId = this.#ids.length;
  #closed = false;

  private constructor(upstreams: UdpUpstream[], warn: ThrottledWarn) {
    this.#upstreams = upstreams;
    this.#warn = warn;
    this.#order = upstreams.map((_, index) => index);
    this.#sweep = setInterval(() => this.#expire(performance.now()), SWEEP_INTERVAL_MS).unref();
    for (const upstream of upstreams) {
      upstream.socket.on('message', (message) => this.#onUdpAnswer(upstream, message));
      upstream.socket.on('error', (error) => this.#onUdpError(upstream, error));
    }
  }

  /** Opens a socket per upstream; one that cannot be reached (no route, bad address) is left out with a warning. */
  static async create(upstreams: readonly Upstream[], warn: ThrottledWarn): Promise<Forwarder> {
    const opened = await Promise.all(upstreams.map((address) => openUdp(address, warn)));
    return new Forwarder(
      opened.filter((upstream) => upstream !== undefined),
      warn,
    );
  }

  get upstreamCount(): number {
    return this.#upstreams.length;
  }

  forwardUdp(query: Buffer, question: Question, reply: Reply): void {
    if (this.#upstreams.length === 0) return reply(buildReply(query, question, RCODE.REFUSED, false, undefined, false));
    this.#sendUdp({ query, question, clientId: query.readUInt16BE(0), reply, order: this.#order, attempt: 0, deadline: 0 });
  }

  forwardTcp(query: Buffer, question: Question, reply: Reply): void {
    if (this.#upstreams.length === 0) return reply(buildReply(query, question, RCODE.REFUSED, false, undefined, false));
    this.#sendTcp(query, question, reply, this.#order, 0);
  }

  /** Drops every query in flight without answering it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const upstream of this.#upstreams) {
      upstream.pending.clear();
      try {
        upstream.socket.close();
      } catch {
        // already closed
      }
    }
    for (const socket of this.#tcpSockets) socket.destroy();
    this.#tcpSockets.clear();
  }

  #sendUdp(pending: Pending): void {
    if (this.#closed) return;
    const now = performance.now();
    while (pending.attempt < pending.order.length) {
      const upstream = this.#upstreams[pending.order[pending.attempt]!]!;
      const id = upstream.pending.size < MAX_PENDING_PER_UPSTREAM ? this.#freshId(upstream.pending) : -1;
      if (id !== -1) {
        pending.query.writeUInt16BE(id, 0);
        pending.deadline = now + UPSTREAM_TIMEOUT_MS;
        upstream.pending.set(id, pending);
        try {
          // Without a callback, a failed send surfaces as an 'error' event (#onUdpError).
          upstream.socket.send(pending.query);
          return;
        } catch (error) {
          upstream.pending.delete(id);
          this.#warn(`send ${upstream.label}`, `DNS: could not send to resolver ${upstream.label}: ${(error as Error).message}; asking the next one.`);
        }
      } else {
        this.#warn(`busy ${upstream.label}`, `DNS: more than ${MAX_PENDING_PER_UPSTREAM} queries are waiting for ${upstream.label}; asking the next resolver.`);
      }
      pending.attempt++;
    }
    pending.query.writeUInt16BE(pending.clientId, 0);
    pending.reply(buildReply(pending.query, pending.question, RCODE.SERVFAIL, false, undefined, false));
  }

  #onUdpAnswer(upstream: UdpUpstream, message: Buffer): void {
    if (message.length < HEADER_BYTES || (message[2]! & 0x80) === 0) return;
    const id = message.readUInt16BE(0);
    const pending = upstream.pending.get(id);
    if (pending === undefined) return; // late, after a timeout moved the query on
    // A question that differs means a stray or forged answer: keep waiting for the real one.
    // Some servers leave the question out of error replies; take those too.
    const errorWithoutQuestion = message.readUInt16BE(4) === 0 && (message[3]! & 0x0f) !== RCODE.NOERROR;
    if (!errorWithoutQuestion && !sameQuestion(message, pending.query, pending.question)) return;
    upstream.pending.delete(id);
    upstream.timeouts = 0;
    if (upstream.downUntil !== 0) this.#setDown(upstream, 0);
    message.writeUInt16BE(pending.clientId, 0);
    pending.reply(message);
  }

  #onUdpError(upstream: UdpUpstream, error: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    if (!UNREACHABLE.has(error.code ?? '')) {
      // Transient (ENOBUFS under a burst, …): the queries concerned will time out.
      this.#warn(`error ${upstream.label} ${error.code}`, `DNS: sending to resolver ${upstream.label} failed: ${error.message}`);
      return;
    }
    this.#warn(`error ${upstream.label} ${error.code}`, `DNS: resolver ${upstream.label} cannot be reached (${error.code}); asking the next one.`);
    // The error names no query; all that wait on this upstream move on.
    this.#setDown(upstream, performance.now() + DOWN_FOR_MS);
    this.#moveOn(upstream, Infinity);
  }

  /** Moves queries whose deadline is before `now` on to their next upstream. */
  #expire(now: number): void {
    for (const upstream of this.#upstreams) {
      if (upstream.downUntil !== 0 && upstream.downUntil <= now) this.#setDown(upstream, 0);
      const before = upstream.pending.size;
      this.#moveOn(upstream, now);
      const expired = before - upstream.pending.size;
      if (expired > 0) {
        upstream.timeouts += expired;
        this.#warn(`timeout ${upstream.label}`, `DNS: resolver ${upstream.label} did not answer within ${UPSTREAM_TIMEOUT_MS / 1000} s; asking the next one.`);
        if (upstream.timeouts >= DOWN_AFTER_TIMEOUTS && upstream.downUntil === 0) this.#setDown(upstream, now + DOWN_FOR_MS);
      }
    }
  }

  #moveOn(upstream: UdpUpstream, now: number): void {
    for (const [id, pending] of upstream.pending) {
      if (pending.deadline > now) break;
      upstream.pending.delete(id);
      pending.attempt++;
      this.#sendUdp(pending);
    }
  }

  /** Marks an upstream down until `until` (0: up again) and puts the ones that are up first for new queries. */
  #setDown(upstream: UdpUpstream, until: number): void {
    upstream.downUntil = until;
    const up: number[] = [];
    const down: number[] = [];
    this.#upstreams.forEach((candidate, index) => (candidate.downUntil === 0 ? up : down).push(index));
    this.#order = [...up, ...down];
  }

  /** A random id not in use on this upstream, or -1 after a few unlucky draws. */
  #freshId(inUse: Map<number, Pending>): number {
    for (let tries = 0; tries < 16; tries++) {
      if (this.#nextId === this.#ids.length) {
        randomFillSync(this.#ids);
        this.#nextId = 0;
      }
      const id = this.#ids[this.#nextId++]!;
      if (!inUse.has(id)) return id;
    }
    return -1;
  }

  #sendTcp(query: Buffer, question: Question, reply: Reply, order: readonly number[], attempt: number): void {
    if (this.#closed) return;
    if (attempt >= order.length || this.#tcpSockets.size >= MAX_UPSTREAM_TCP) {
      if (attempt < order.length) this.#warn('tcp busy', `DNS: ${MAX_UPSTREAM_TCP} TCP queries are already waiting for resolvers; answering SERVFAIL.`);
      return reply(buildReply(query, question, RCODE.SERVFAIL, false, undefined, false));
    }
    const { label, address } = this.#upstreams[order[attempt]!]!;
    const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    this.#tcpSockets.add(socket);
    const framer = new TcpFramer();
    const id = query.readUInt16BE(0);
    let done = false;
    const finish = (answer: Buffer | undefined, problem?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      this.#tcpSockets.delete(socket);
      if (answer !== undefined) return reply(answer);
      if (this.#closed) return;
      this.#warn(`tcp ${label} ${problem}`, `DNS: resolver ${label} over TCP: ${problem}; asking the next one.`);
      this.#sendTcp(query, question, reply, order, attempt + 1);
    };
    const timer = setTimeout(() => finish(undefined, `no answer within ${UPSTREAM_TIMEOUT_MS / 1000} s`), UPSTREAM_TIMEOUT_MS);
    socket.on('data', (chunk) =>
      framer.push(chunk, (message) => {
        if (message.length >= HEADER_BYTES && message.readUInt16BE(0) === id && message[2]! & 0x80) finish(message);
      }),
    );
    socket.on('error', (error: NodeJS.ErrnoException) => finish(undefined, error.code ?? error.message));
    socket.on('close', () => finish(undefined, 'closed the connection without answering'));
    const framed = Buffer.allocUnsafe(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    socket.write(framed);
  }
}

async function openUdp(address: Upstream, warn: ThrottledWarn): Promise<UdpUpstream | undefined> {
  const label = hostPort(address.host, address.port);
  if (net.isIP(address.host) === 0) {
    warn(`not ip ${label}`, `DNS: upstream resolver "${address.host}" is not an IP address; it is not used.`);
    return undefined;
  }
  const socket = dgram.createSocket(net.isIPv6(address.host) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(address.port, address.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    socket.close();
    warn(`connect ${label}`, `DNS: upstream resolver ${label} cannot be used (${(error as NodeJS.ErrnoException).code ?? String(error)}); it is left out.`);
    return undefined;
  }
  // Big enough for a burst of answers from a benchmark; the kernel caps it silently.
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // not fatal
  }
  socket.unref();
  return { label, address, socket, pending: new Map(), timeouts: 0, downUntil: 0 };
}
