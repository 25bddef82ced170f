// The proxy's fast path: one client connection, served on the raw socket. It parses
// only request and response heads, routes, and passes body bytes through as they are
// (chunked stays chunked), over pooled keep-alive upstream connections. That is what
// nginx does, and it is several times faster than Node's http server and client
// (BENCHMARKS.md). A call's logic (decide, pick, record) is the call pipeline's
// (emulator/calls/); this file moves bytes. Whatever it does not handle (CONNECT,
// absolute-form targets, admin, hosts that are not inner calls, Expect, Upgrade, odd
// framing) goes to Node's http server, the slow path, with the socket and its unread
// bytes, for the rest of the connection.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { EmulatorConfig } from '../../config/types.js';
import {
  describeSocketError,
  hostLinesMessage,
  PROXY_ERRORS,
  rawErrorResponse,
  timeoutReason,
  unavailableError,
  unreadableRequestError,
  upstreamError,
  type CallError,
  type CallErrorCode,
} from '../../calls/errors.js';
import { faultStatus, injectFault } from '../../calls/faults.js';
import type { Call, CallPipeline, DecisionMemo } from '../../calls/pipeline.js';
import { entryControlOfHead } from '../../calls/entry.js';
import { compileShaping, shapeHead } from '../../calls/shaping.js';
import type { CallSource, Fault } from '../../calls/types.js';
import type { CallOutcome } from '../../util/balancer.js';
import { ChunkedScanner } from './chunked.js';
import { copyBytes } from './bytes.js';
import { mayBecomeRequestHead, parseRequestHead, parseResponseHead, type HostProblem, type RequestHead, type ResponseHead } from './heads.js';
import { KeptBody } from '../../calls/kept-body.js';
import { standInError } from '../../targets/http-util.js';
import { UpstreamPool, type UpstreamConnection, type UpstreamOwner } from './upstream-pool.js';
import { borrowReads } from './borrowed-reads.js';
import { ReadGate } from './read-gate.js';

/** Node's default `maxHeaderSize`: the same limit as the slow path's. */
const MAX_REQUEST_HEAD = 16 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** Status recorded for a call whose client went away before the response (nginx's convention). */
const CLIENT_CLOSED = 499;
/** Response bodies up to this size go out copied behind their head, in one write; larger ones as they are. */
const COPY_LIMIT = 4096;
/** Each client connection reads into a buffer of this size (./borrowed-reads.ts); heads are rarely larger. */
const CLIENT_READ_BYTES = 16 * 1024;

export interface FastPathContext {
  readonly pipeline: CallPipeline;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

/** Who is behind a connection: the service's name (egress port, docker source address), or undefined for the host. */
export interface ConnectionSource {
  readonly callerName: string | undefined;
  readonly via: CallSource['via'];
}

/**
 * How often timeouts are checked. One interval for all connections and calls, instead
 * of socket timeouts (re-armed on every read and write) and a timer per call: both
 * showed in profiles. Timeouts fire up to this much late.
 */
const SWEEP_MS = 50;

export class FastPath {
  readonly pool = new UpstreamPool();
  private readonly connections = new Set<ClientConnection>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();

  constructor(readonly context: FastPathContext) {}

  /**
   * Serves `socket`. `slowPath` takes the socket over, with the unread bytes put back,
   * when a request needs Node's server.
   */
  serve(socket: Socket, source: ConnectionSource, slowPath: SlowPath): void {
    this.connections.add(new ClientConnection(this, socket, source, slowPath));
  }

  forget(connection: ClientConnection): void {
    this.connections.delete(connection);
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.pool.destroy();
  }

  private sweep(): void {
    const now = performance.now();
    for (const connection of this.connections) connection.checkTimeouts(now);
    this.pool.closeIdle(now);
  }
}

const noop = (): void => {};

/**
 * Takes a socket over. `headSince` is when the first byte of a head still arriving came
 * (performance.now()): the header timeout counts from then, not from the hand-off.
 */
export type SlowPath = (socket: Socket, headSince: number | undefined) => void;

class ClientConnection {
  readonly context: FastPathContext;
  /** Bytes read and not yet used: a partial head, or the next (pipelined) request. */
  pending: Buffer | undefined;
  private exchange: Exchange | undefined;
  /** When the connection last became idle (keep-alive timeout). */
  private idleSince = performance.now();
  /** When the first byte of a head still arriving came (headers timeout). */
  private headSince: number | undefined;
  /** The client half-closed: answer what is in flight, then close. */
  private ended = false;
  private done = false;
  /** The last decision: a connection usually makes the same call again and again. */
  private readonly memo: DecisionMemo = {};
  private sourceConfig: EmulatorConfig | undefined;
  private source: CallSource | undefined;
  private keyHost: string | undefined;
  private keyPort: number | undefined;
  private key: string | undefined;
  /**
   * Reads come as views of one buffer of this connection's (./borrowed-reads.ts): a chunk
   * is valid until the next read, so whatever outlives the read is copied (`pending`,
   * request body bytes).
   */
  readonly borrowed: boolean;
  private handedOff = false;
  /** Reading stops for backpressure, or while a pipelined request waits. */
  readonly reads: ReadGate;

  constructor(
    readonly fastPath: FastPath,
    readonly socket: Socket,
    private readonly from: ConnectionSource,
    private readonly slowPath: SlowPath,
  ) {
    this.context = fastPath.context;
    socket.setNoDelay(true);
    this.reads = new ReadGate(socket);
    const buffer = Buffer.allocUnsafeSlow(CLIENT_READ_BYTES);
    const memory = buffer.buffer; // its own ArrayBuffer (allocUnsafeSlow): a view of it is cheaper made from it (~40 ns a read)
    this.borrowed = borrowReads(socket, buffer, (bytes) => this.onRead(Buffer.from(memory, 0, bytes)));
    if (!this.borrowed) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('drain', this.onDrain);
    socket.on('error', noop); // 'close' follows
    socket.on('close', this.onClose);
    socket.resume(); // a socket handed on (CONNECT, PROXY line) may come paused
  }

  /** A read into the connection's own buffer: bytes still needed after it are copied out. */
  private onRead(chunk: Buffer): boolean {
    // Node's server reads this socket now, through `Readable` (the handle keeps reading into our buffer).
    if (this.handedOff) return this.socket.push(Buffer.from(chunk));
    this.onData(chunk);
    if (this.pending !== undefined && this.pending.buffer === chunk.buffer) this.pending = Buffer.from(this.pending);
    return true;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    const exchange = this.exchange;
    if (exchange !== undefined && !exchange.requestDone) return exchange.onClientData(chunk);
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (exchange === undefined) this.next();
    else this.reads.pause(); // a pipelined request: it waits for the response in flight
  };

  /** Starts the request at the front of `pending` once its head is complete. */
  private next(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    // The parser finds the head's end itself. A head that came in pieces is first looked
    // for whole (a search per read), not walked again from its start on every piece.
    const head = this.headSince === undefined ? parseRequestHead(pending, this.memo.host) : undefined;
    if (head === undefined || head.size > MAX_REQUEST_HEAD) {
      const end = pending.indexOf(HEAD_END);
      if (end === -1 || end + 4 > MAX_REQUEST_HEAD) {
        if (end !== -1 || pending.length > MAX_REQUEST_HEAD) return this.refuse('headers_too_large');
        if (!mayBecomeRequestHead(pending)) return this.handOff(); // TLS, garbage: Node's server answers at once
        // Slowloris: the whole head must arrive within headersTimeout of its first byte.
        this.headSince ??= performance.now();
        return;
      }
      // Complete now: parsed if it came in pieces; otherwise one the fast path leaves to Node.
      if (this.headSince === undefined) return this.handOff();
      this.headSince = undefined;
      return this.next();
    }
    this.headSince = undefined;
    if ('problem' in head) return this.refuseHost(head);
    const end = head.size;
    const { pipeline } = this.context;
    const source = this.sourceOf(pipeline.config());
    // Through the entry, the control headers choose the service and the user (a literal: spreading the head cost ~1 µs a call).
    const decision = pipeline.decide(
      source,
      source.via === 'entry' ? { host: head.host, method: head.method, path: head.path, control: entryControlOfHead(head.forward.toString('latin1')) } : head,
      this.memo,
    );
    if (decision.kind === 'not-inner-call') return this.handOff();
    const rest = end < pending.length ? pending.subarray(end) : undefined;
    if (decision.kind === 'refuse') return this.answer(decision.error, head, source, decision.from?.name ?? source.caller?.name, decision.to?.name, rest);
    const plan = decision.plan;
    const fault = plan.fault;
    if (fault !== undefined && fault.kind !== 'delay') {
      const call = pipeline.begin(source, head, plan, undefined);
      if (fault.delayMs === undefined) return this.fault(fault, call);
      // A delayed fault: nothing more is read meanwhile; a caller that leaves first ends the call.
      this.done = true;
      this.reads.pause();
      const timer = setTimeout(() => (this.socket.destroyed ? call.end(CLIENT_CLOSED) : this.fault(fault, call)), fault.delayMs);
      this.socket.once('close', () => {
        if (call.ended) return;
        clearTimeout(timer);
        call.end(CLIENT_CLOSED);
      });
      return;
    }
    const target = pipeline.pick(plan, head);
    // A fixed-port service restarting in place: the slow path holds the call until it is back.
    if (target.state !== 'ready' && target.until !== undefined) return this.handOff();
    if (target.state !== 'ready')
      return this.answer(unavailableError(plan.from, plan.to, target.reason, target.code), head, source, plan.from.name, plan.to.name, rest);
    this.pending = rest;
    const key = this.keyOf(target.host, target.port);
    this.exchange = new Exchange(this, head, pipeline.begin(source, head, plan, key), target.host, target.port, key, target.done);
    this.exchange.start();
  }

  /** The caller as a CallSource under `config` (a reload replaces the service objects). */
  private sourceOf(config: EmulatorConfig): CallSource {
    if (config !== this.sourceConfig || this.source === undefined) {
      this.source = {
        caller: this.from.callerName === undefined ? undefined : config.services.get(this.from.callerName),
        via: this.from.via,
        address: this.from.via === 'entry' ? this.socket.remoteAddress : undefined,
      };
      this.sourceConfig = config;
    }
    return this.source;
  }

  /**
   * The emulator's own answer (a routing error, 503), recorded. A request without a
   * body leaves the connection usable; one with a body closes it (nobody reads the body).
   */
  private answer(error: CallError, head: RequestHead, source: CallSource, from: string | undefined, to: string | undefined, rest: Buffer | undefined): void {
    const started = performance.now();
    const keepAlive = head.framing === 'none' && !head.close;
    this.context.pipeline.refused(source, head, error, { from, to }, started);
    if (!keepAlive) return this.close(rawErrorResponse(error));
    this.socket.write(rawErrorResponse(error, true));
    this.pending = rest;
    this.idleSince = started;
    this.next();
  }

  /** A fault stands in for the call: performed on the socket, recorded, and the connection is done. */
  private fault(fault: Exclude<Fault, { kind: 'delay' }>, call: Call): void {
    this.done = true;
    this.pending = undefined;
    this.headSince = undefined;
    injectFault(fault, this.socket);
    call.end(faultStatus(fault), 'fault_injected');
  }

  /** "host:port" of an instance, the same string while the connection calls the same one (a Map key hashed once). */
  private keyOf(host: string, port: number): string {
    if (host !== this.keyHost || port !== this.keyPort) {
      this.keyHost = host;
      this.keyPort = port;
      this.key = `${host}:${port}`;
    }
    return this.key!;
  }

  checkTimeouts(now: number): void {
    if (this.exchange !== undefined) this.exchange.checkTimeout(now);
    else if (this.headSince !== undefined) {
      if (now - this.headSince >= this.context.headersTimeoutMs) this.refuse('request_timeout');
    } else if (now - this.idleSince >= this.context.keepAliveTimeoutMs) this.socket.destroy();
  }

  /** Body bytes that arrived with the head (or after a pipelined one): the exchange takes its share. */
  takePending(): Buffer | undefined {
    const pending = this.pending;
    this.pending = undefined;
    return pending;
  }

  exchangeDone(closeAfter: boolean, now: number): void {
    this.exchange = undefined;
    this.idleSince = now;
    if (this.done) return;
    if (closeAfter) return this.close();
    this.reads.resume();
    this.next(); // a pipelined request
    if (this.ended && this.exchange === undefined && !this.done) this.close();
  }

  /** Ends the connection after what is written (an error response, a `Connection: close`). */
  close(response?: string): void {
    this.done = true;
    this.exchange = undefined;
    this.pending = undefined;
    this.headSince = undefined;
    if (response === undefined) this.socket.end();
    else this.socket.end(response);
  }

  /** A missing or repeated Host: the proxy's own 400, logged; nothing after it on this connection is read. */
  private refuseHost(head: HostProblem): void {
    const source = this.sourceOf(this.context.pipeline.config());
    const error: CallError = { code: 'bad_request', message: hostLinesMessage(head.hostLines), from: source.caller?.id ?? null, to: null, close: true };
    this.close(rawErrorResponse(error));
    this.context.pipeline.refused(source, head, error);
  }

  /** A head too large or too slow: the proxy's answer, logged; the connection closes. */
  private refuse(code: 'headers_too_large' | 'request_timeout'): void {
    const { pipeline } = this.context;
    const source = this.sourceOf(pipeline.config());
    const line = this.pending === undefined ? '' : this.pending.toString('latin1', 0, Math.min(this.pending.length, 200)).split('\r\n')[0]!;
    const [method = '', path = ''] = line.split(' ');
    const error = unreadableRequestError(code, source.caller?.id ?? null);
    this.close(rawErrorResponse(error));
    pipeline.refused(source, { host: '', method, path }, error);
  }

  /** Node's http server takes the socket over, unread bytes first. */
  private handOff(): void {
    const socket = this.socket;
    this.done = true;
    this.fastPath.forget(this);
    socket.pause();
    for (const [event, listener] of [
      ['data', this.onData],
      ['end', this.onEnd],
      ['drain', this.onDrain],
      ['error', noop],
      ['close', this.onClose],
    ] as const) {
      socket.off(event, listener);
    }
    if (this.pending !== undefined) socket.unshift(this.borrowed ? Buffer.from(this.pending) : this.pending);
    this.pending = undefined;
    this.handedOff = true;
    this.slowPath(socket, this.headSince);
    // Node's server reads a fresh socket's handle directly and would skip the bytes put
    // back above; a 'data' listener makes it read through the stream instead.
    socket.on('data', noop);
    socket.resume();
  }

  private readonly onEnd = (): void => {
    this.ended = true;
    if (this.exchange === undefined) this.close();
    else if (!this.exchange.requestDone) this.socket.destroy(); // the request was cut short
  };

  private readonly onDrain = (): void => this.exchange?.onClientDrain();

  private readonly onClose = (): void => {
    this.done = true;
    this.fastPath.forget(this);
    this.exchange?.onClientClose();
    this.exchange = undefined;
  };
}

/** One request and its response, between a client connection and an upstream one. */
class Exchange implements UpstreamOwner {
  requestDone: boolean;
  private bodyLeft: number;
  private readonly requestChunks: ChunkedScanner | undefined;
  private upstream: UpstreamConnection | undefined;
  /** Body bytes that came before the upstream connection was ready. */
  private queued: Buffer[] = [];
  private upstreamReady = false;
  /** The upstream's write buffer is full: the client is paused until it drains. */
  private upstreamFull = false;
  /** The client's write buffer is full: the upstream is paused until it drains. */
  private clientFull = false;
  /** A write of a chunk lent by the upstream's read buffer is still in flight: the upstream is paused until it is sent. */
  private lentPending = false;
  private responseHead: Buffer | undefined;
  private response: ResponseHead | undefined;
  private responseLeft = 0;
  private responseChunks: ChunkedScanner | undefined;
  /** Some response bytes (an interim or the final head) went to the client: errors can only cut the connection now. */
  private answered = false;
  /** The upstream sent bytes past the response: it cannot be reused. */
  private overrun = false;
  private retried = false;
  private finished = false;
  /** Why the last attempt failed before a response, for the load balancer. */
  private failure: 'connect-failure' | 'reset' | 'timeout' | undefined;
  /** The response head must have come by then (proxy.callTimeout): armed once the request body has been sent. */
  private deadline = Infinity;
  private readonly timeoutMs: number;
  /** The method the target sees (shaping may change it): HEAD responses have no body. */
  private readonly method: string;
  /** Body bytes sent so far, kept for another attempt (a retry rule with `keepBodyBytes`). */
  private readonly kept: KeptBody | undefined;
  /** The TCP connection of this attempt is established (a failure before it is a connect-failure). */
  private connected = false;
  private attemptStarted: number;
  /** An attempt is under way (false between a retry's decision and the next pick). */
  private attemptOpen = true;
  /** A backoff before the next attempt. */
  private backoff: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: ClientConnection,
    private readonly head: RequestHead,
    private readonly call: Call,
    private host: string,
    private port: number,
    private key: string,
    /** Tells the load balancer how this attempt ended. */
    private release: ((outcome: CallOutcome) => void) | undefined,
  ) {
    this.timeoutMs = call.plan.timeoutMs;
    this.attemptStarted = call.started; // the same turn: one clock read less per call
    this.method = call.plan.shaping?.method ?? head.method;
    this.requestDone = head.framing === 'none';
    this.bodyLeft = head.length;
    this.requestChunks = head.framing === 'chunked' ? new ChunkedScanner() : undefined;
    const keep = call.plan.retry?.keepBodyBytes ?? 0;
    if (head.framing !== 'none' && keep > 0) this.kept = new KeptBody(keep, head.framing === 'length' ? head.length : undefined);
  }

  /** Whether the whole request can be sent again: no body, or one kept in full. */
  private get resendable(): boolean {
    return this.head.framing === 'none' || (this.kept?.chunks !== undefined && this.requestDone);
  }

  /** One attempt ended: the load balancer's count, and the call's list of tries when a retry rule applies. */
  private endAttempt(outcome: number | 'connect-failure' | 'reset' | 'timeout' | undefined): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    if (this.release !== undefined) {
      this.release(
        outcome === undefined ? NO_OUTCOME : typeof outcome === 'number' ? { kind: 'response', status: outcome } : { kind: 'failure', reason: outcome },
      );
      this.release = undefined;
    }
    if (this.call.plan.retry !== undefined && outcome !== undefined) this.call.attemptEnded(this.key, outcome, this.attemptStarted);
  }

  private get context(): FastPathContext {
    return this.client.context;
  }

  start(): void {
    if (!this.requestDone) {
      const early = this.client.takePending();
      if (early !== undefined) this.takeBody(early);
      if (this.finished) return; // a broken chunked body: refused already
      // Until the upstream connection is ready, body bytes would only pile up here.
      if (!this.requestDone) this.client.reads.pause();
    }
    const fault = this.call.plan.fault;
    if (fault?.kind === 'delay') setTimeout(() => this.finished || this.connect(false), fault.ms).unref();
    else this.connect(false, this.call.started);
  }

  /** `now`: the time, when this runs in the turn the call began (saves a clock read per call). */
  private connect(fresh: boolean, now?: number): void {
    this.upstreamReady = false;
    this.connected = false;
    this.upstream = this.client.fastPath.pool.acquire(this.host, this.port, this.key, this, fresh);
    if (!this.upstream.socket.connecting) this.onUpstreamConnect(now);
  }

  onClientData(chunk: Buffer): void {
    this.takeBody(chunk);
  }

  /** Splits `chunk` into this request's body (sent on) and what follows it (the next request). */
  private takeBody(chunk: Buffer): void {
    let bodyEnd: number;
    if (this.requestChunks === undefined) {
      bodyEnd = Math.min(this.bodyLeft, chunk.length);
      this.bodyLeft -= bodyEnd;
      this.requestDone = this.bodyLeft === 0;
    } else {
      const end = this.requestChunks.scan(chunk);
      if (end === -2) return this.badRequestBody();
      this.requestDone = end !== -1;
      bodyEnd = end === -1 ? chunk.length : end;
    }
    if (bodyEnd > 0) this.sendBody(bodyEnd === chunk.length ? chunk : chunk.subarray(0, bodyEnd));
    if (bodyEnd < chunk.length) {
      this.client.pending = chunk.subarray(bodyEnd);
      this.client.reads.pause();
    }
  }

  /**
   * proxy.callTimeout counts from when the whole request has been written to the
   * target, as nginx's proxy_read_timeout does: a long upload is not a slow target.
   */
  private readonly armDeadline = (): void => this.sent(performance.now());

  private sent(now: number): void {
    if (!this.finished && this.response === undefined) this.deadline = now + this.timeoutMs;
    this.call.details?.sent();
  }

  private sendBody(body: Buffer): void {
    if (this.client.borrowed) body = Buffer.from(body); // kept, queued or still being written after the next read
    this.call.details?.requestBody.add(body);
    this.kept?.add(body);
    if (!this.upstreamReady) {
      this.queued.push(body);
    } else if (!this.upstream!.socket.write(body, this.requestDone ? this.armDeadline : undefined)) {
      this.upstreamFull = true;
      this.client.reads.pause();
    }
  }

  onUpstreamConnect(now?: number): void {
    const socket = this.upstream!.socket;
    this.connected = true;
    const shaping = this.call.plan.shaping;
    const head = shaping === undefined ? this.head.forward : shapeHead(this.head.forward.toString('latin1'), compileShaping(shaping));
    const details = this.call.details;
    if (details !== undefined) {
      details.upstreamReady();
      details.requestHead(typeof head === 'string' ? head : head.toString('latin1'));
    }
    if (this.head.framing === 'none') {
      // No body: the head is the whole request, sent now (a write callback per call costs a tick).
      socket.write(typeof head === 'string' ? withHead(head, undefined) : head); // the head is a copy of its own: written as it is
      this.sent(now ?? performance.now());
    } else socket.write(withHead(head, this.queued.length === 0 ? undefined : Buffer.concat(this.queued)), this.requestDone ? this.armDeadline : undefined);
    this.queued = [];
    this.upstreamReady = true;
    this.upstreamFull = socket.writableNeedDrain;
    if (!this.requestDone && !this.upstreamFull) this.client.reads.resume();
  }

  onUpstreamDrain(): void {
    this.upstreamFull = false;
    if (!this.requestDone) this.client.reads.resume();
  }

  onClientDrain(): void {
    if (!this.clientFull) return;
    this.clientFull = false;
    if (!this.lentPending && !this.finished) this.upstream?.reads.resume();
  }

  private readonly onLentChunkSent = (): void => {
    if (!this.lentPending) return;
    this.lentPending = false;
    if (!this.clientFull && !this.finished) this.upstream?.reads.resume();
  };

  onUpstreamData(chunk: Buffer): void {
    if (this.response !== undefined) return this.forwardBody(chunk);
    let buffered = this.responseHead === undefined ? chunk : Buffer.concat([this.responseHead, chunk]);
    for (;;) {
      // As for requests, the parser finds the head's end; a head that came in pieces is first looked for whole.
      const pieces = this.responseHead !== undefined;
      const parsed = pieces && buffered.indexOf(HEAD_END) === -1 ? undefined : parseResponseHead(buffered, this.method, this.head.close, COPY_LIMIT);
      // A complaint about a head that has not all come yet (searched for once, and only then) means: wait for the rest.
      if (parsed === undefined || (typeof parsed === 'string' && !pieces && buffered.indexOf(HEAD_END) === -1)) {
        if (buffered.length > MAX_RESPONSE_HEAD) return this.fail('upstream_error', 'invalid response: a head larger than 64 KB');
        this.responseHead = Buffer.from(buffered); // a chunk is only lent until the next read
        return;
      }
      if (typeof parsed === 'string') return this.fail('upstream_error', `invalid response: ${parsed}`);
      if (
        !parsed.interim &&
        !this.answered &&
        this.call.plan.retry !== undefined &&
        this.call.retries({ kind: 'status', status: parsed.status }, this.resendable)
      ) {
        return this.retry(parsed.status); // the plan's retry rule: this answer never reaches the caller
      }
      this.call.details?.responseHead(parsed.status, parsed.forward.toString('latin1', 0, parsed.forward.length - parsed.bodyIncluded));
      this.answered = true;
      if (parsed.interim) {
        this.client.socket.write(Buffer.from(parsed.forward)); // a view of the read: copied
        if (parsed.size === buffered.length) return void (this.responseHead = undefined);
        buffered = buffered.subarray(parsed.size);
        continue;
      }
      this.responseHead = undefined;
      this.response = parsed;
      this.responseLeft = parsed.length - parsed.bodyIncluded;
      if (parsed.framing === 'chunked') this.responseChunks = new ChunkedScanner();
      const after = parsed.size + parsed.bodyIncluded;
      return this.forwardBody(after === buffered.length ? NO_BYTES : buffered.subarray(after), parsed.forward, parsed.bodyIncluded);
    }
  }

  /**
   * Passes response body bytes on, after `head` for the first ones (one system call
   * either way); the response is complete when its framing says so. `included`: the
   * last bytes of `head` are that much of the body (the parser put them there).
   */
  private forwardBody(chunk: Buffer, head?: Buffer, included = 0): void {
    const framing = this.response!.framing;
    let end = chunk.length;
    let complete = false;
    if (framing === 'none') {
      end = 0;
      complete = true;
    } else if (framing === 'length') {
      end = Math.min(this.responseLeft, chunk.length);
      this.responseLeft -= end;
      complete = this.responseLeft === 0;
    } else if (framing === 'chunked') {
      const at = this.responseChunks!.scan(chunk);
      if (at === -2) return this.fail('upstream_error', 'invalid response: malformed chunked body');
      if (at !== -1) [end, complete] = [at, true];
    }
    const body = end === 0 ? undefined : end === chunk.length ? chunk : chunk.subarray(0, end);
    const details = this.call.details;
    if (details !== undefined) {
      if (included > 0) details.responseBody.add(head!.subarray(head!.length - included));
      if (body !== undefined) details.responseBody.add(body);
    }
    const socket = this.client.socket;
    let lent = false;
    if (included > 0) {
      // Head and the whole body in one buffer, usually a view of the upstream's read buffer:
      // a write that does not finish at once keeps that buffer, and the connection reads on into a new one.
      socket.write(head!);
      if (socket.writableLength > 0) this.upstream!.keepLastChunk();
    } else if (head === undefined || (body !== undefined && body.length > COPY_LIMIT)) {
      // The body goes out as it is: a view of the upstream's read buffer, lent until it is sent.
      if (head !== undefined) {
        socket.cork(); // head and body in one writev
        socket.write(Buffer.from(head)); // a view of the read: copied
      }
      if (body !== undefined) socket.write(body, this.onLentChunkSent);
      if (head !== undefined) socket.uncork();
      lent = body !== undefined;
    } else {
      socket.write(withHead(head, body)); // small: one copy, one system call
    }
    if (socket.writableNeedDrain && !this.clientFull) {
      this.clientFull = true;
      this.upstream!.reads.pause();
    }
    // Not sent at once: the upstream reads nothing more (into the same buffer) until it is.
    if (lent && socket.writableLength > 0 && !this.lentPending) {
      this.lentPending = true;
      this.upstream!.reads.pause();
    }
    if (end < chunk.length) this.overrun = true;
    if (complete) this.finish();
  }

  onUpstreamEnd(): void {
    // A body without length ends with the connection; anything else ending here is cut short (onUpstreamClose).
    if (this.response?.framing === 'close') this.finish();
  }

  onUpstreamClose(error: Error | undefined): void {
    if (this.finished) return;
    // A kept-alive connection the target closed just as we sent on it: once more on a new one, if nothing depends on it.
    if (this.upstream!.reused && !this.answered && this.responseHead === undefined && this.resendable && !this.retried) {
      this.retried = true;
      this.queued = [...(this.kept?.chunks ?? [])];
      return this.connect(true);
    }
    const reason = error === undefined ? 'the connection closed before a complete response' : describeSocketError(error as NodeJS.ErrnoException);
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const refused = code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || !this.connected;
    this.fail('upstream_error', reason, refused && !this.answered ? 'connect-failure' : 'reset');
  }

  checkTimeout(now: number): void {
    if (this.response === undefined && now >= this.deadline)
      this.fail('upstream_timeout', timeoutReason(this.timeoutMs, this.call.plan.policy?.timeout ? this.call.plan.policy.label : undefined), 'timeout');
  }

  /**
   * Another attempt (the plan's retry rule said so; nothing reached the caller): after
   * the rule's backoff, on the instance the load balancer picks then, with the kept body.
   */
  private retry(outcome: number | 'connect-failure' | 'reset' | 'timeout'): void {
    this.endAttempt(outcome);
    if (this.upstream !== undefined) this.client.fastPath.pool.discard(this.upstream);
    this.upstream = undefined;
    this.responseHead = undefined;
    this.deadline = Infinity;
    this.retried = false;
    const again = (): void => {
      this.backoff = undefined;
      if (this.finished) return;
      const target = this.call.pickAgain();
      // Nothing left to try on: the call ends here, without asking the retry rule again.
      if (target.state !== 'ready') return this.fail('upstream_error', `no instance left to try again on (${target.reason})`, undefined, true);
      this.host = target.host;
      this.port = target.port;
      this.key = this.call.key!; // the "host:port" pickAgain moved the call's in-flight count to
      this.release = target.done;
      this.attemptStarted = performance.now();
      this.attemptOpen = true;
      this.queued = [...(this.kept?.chunks ?? [])];
      this.connect(true);
    };
    const backoffMs = this.call.plan.retry?.backoffMs ?? 0;
    if (backoffMs > 0) this.backoff = setTimeout(again, backoffMs);
    else again();
  }

  onClientClose(): void {
    if (this.finished) return;
    if (this.backoff !== undefined) clearTimeout(this.backoff);
    this.end(undefined, this.response?.status ?? CLIENT_CLOSED);
    if (this.upstream !== undefined) this.client.fastPath.pool.discard(this.upstream);
  }

  private badRequestBody(): void {
    this.end(undefined, 400);
    if (this.upstream !== undefined) this.client.fastPath.pool.discard(this.upstream);
    if (this.answered) this.client.socket.destroy();
    else this.client.close('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }

  /** The target failed: the proxy's error if the client has seen nothing yet, else a cut connection. */
  private fail(code: 'upstream_error' | 'upstream_timeout', message: string, failure?: 'connect-failure' | 'reset' | 'timeout', final = false): void {
    if (this.finished) return;
    const ended = failure ?? (code === 'upstream_timeout' ? 'timeout' : 'reset');
    if (
      !final &&
      !this.answered &&
      this.call.plan.retry !== undefined &&
      this.call.retries({ kind: 'error', code, reason: message, ...(failure === undefined ? {} : { failure }) }, this.resendable)
    ) {
      return this.retry(ended);
    }
    this.failure = ended;
    this.end(code, this.answered ? (this.response?.status ?? 502) : PROXY_ERRORS[code]);
    if (this.upstream !== undefined) this.client.fastPath.pool.discard(this.upstream);
    if (this.answered) return void this.client.socket.destroy();
    const { from, to } = this.call.plan;
    this.client.close(rawErrorResponse(upstreamError(code, from, to, message)));
  }

  private finish(): void {
    if (this.finished) return;
    const response = this.response!;
    const now = this.end(response.emulatorError === undefined ? undefined : standInError(this.call.plan.to.kind, response.emulatorError), response.status);
    const upstream = this.upstream!;
    // The client socket still holds the last chunk: the connection reads on into a new buffer.
    if (this.lentPending) upstream.keepLastChunk();
    if (response.reusable && this.requestDone && !this.overrun) this.client.fastPath.pool.release(upstream, now);
    else this.client.fastPath.pool.discard(upstream);
    // A client still sending a body nobody reads any more cannot be parsed further: close.
    this.client.exchangeDone(this.head.close || response.framing === 'close' || !this.requestDone, now);
  }

  /** The call's one record; returns the time. */
  private end(error: CallErrorCode | undefined, status: number): number {
    this.finished = true;
    const now = performance.now();
    // The last attempt: a response (whatever came after its head), a failure, or nothing to say (the caller left).
    this.endAttempt(this.response !== undefined ? this.response.status : this.failure);
    this.call.end(status, error, now);
    return now;
  }
}

const NO_OUTCOME: CallOutcome = { kind: 'none' };
const NO_BYTES = Buffer.alloc(0);

/** A head (latin1 text, or bytes) and the body bytes that follow it, as one buffer. */
function withHead(head: string | Buffer, body: Buffer | undefined): Buffer {
  const out = Buffer.allocUnsafe(head.length + (body?.length ?? 0));
  if (typeof head === 'string') out.write(head, 0, 'latin1');
  else copyBytes(head, 0, head.length, out, 0);
  if (body !== undefined) copyBytes(body, 0, body.length, out, head.length);
  return out;
}
