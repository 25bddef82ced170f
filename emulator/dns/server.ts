/**
 * The emulator's DNS server, UDP and TCP on one port. Inner-call names are answered
 * here with the proxy's address; every other name is relayed to the host's resolvers
 * byte for byte, so a container can use this server as its only resolver.
 * See docs/dns.md for the design.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { EmulatorError } from '../errors.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { innerCallLabel, splitLabel } from '../inner-call/index.js';
import { isLoopbackAddress, isUnspecifiedAddress } from '../util/addresses.js';
import { closeServer, listen, portInUseError } from '../util/net.js';
import { Forwarder, type Upstream } from './forward.js';
import { throttledWarn, type ThrottledWarn } from './throttle.js';
import { answerRecord, buildHeaderReply, buildReply, CLASS, DROP, ipv4Bytes, ipv6Bytes, parseQuery, RCODE, TcpFramer, TYPE, type Question } from './wire.js';

export interface DnsServerOptions {
  /** Listen address, e.g. '127.0.0.1'. */
  host: string;
  /** 0 = a free port, the same for UDP and TCP. */
  port: number;
  /** The A record for inner-call names. */
  answerV4: string;
  /** The AAAA record for inner-call names; without it AAAA queries get NOERROR with no answers. */
  answerV6?: string;
  /** Resolvers for every other name, tried in order. */
  upstream: Upstream[];
  /** Seconds; default 5. */
  ttl?: number;
  logger?: Logger;
}

export interface DnsServer {
  readonly host: string;
  readonly port: number;
  /** Changes the A answer for inner-call names (the docker runtime learns its router's address only after the router starts). */
  setAnswerV4(address: string): void;
  /** Closes both sockets and drops queries in flight. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_TTL = 5;
/** A client connection with no traffic for this long is closed (RFC 7766 §6.2.3 suggests seconds, not minutes). */
const TCP_IDLE_MS = 30_000;
const MAX_TCP_CONNECTIONS = 256;
/** Forwarded queries one TCP client may have in flight before we stop reading from it. */
const MAX_TCP_IN_FLIGHT = 32;
/** Answers queued for a TCP client that does not read them; past this it is disconnected. */
const MAX_TCP_WRITE_BACKLOG = 1024 * 1024;
/** Attempts at finding a port free for both UDP and TCP when asked for port 0. */
const PORT_ATTEMPTS = 10;
/** Network errors that only mean a client went away. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_DESTROYED']);
const NO_IDS: ReadonlySet<string> = new Set();

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const logger = options.logger ?? silentLogger;
  const warn = throttledWarn(logger);
  const ttl = options.ttl ?? DEFAULT_TTL;
  if (!net.isIPv4(options.answerV4)) throw new EmulatorError('internal', `The DNS server's A answer "${options.answerV4}" is not an IPv4 address.`);
  if (options.answerV6 !== undefined && !net.isIPv6(options.answerV6)) {
    throw new EmulatorError('internal', `The DNS server's AAAA answer "${options.answerV6}" is not an IPv6 address.`);
  }
  const answers: Answers = {
    a: answerRecord(TYPE.A, ttl, ipv4Bytes(options.answerV4)),
    aaaa: options.answerV6 === undefined ? undefined : answerRecord(TYPE.AAAA, ttl, ipv6Bytes(options.answerV6)),
  };

  // Packets may arrive between binding and the forwarder being ready; they are dropped
  // (UDP clients retry) or the connection refused.
  let forwarder: Forwarder | undefined;
  let stopped = false;
  const connections = new Set<net.Socket>();

  const onUdpSendError = (error: Error | null): void => {
    if (error !== null && !stopped) warn(`udp send ${(error as NodeJS.ErrnoException).code}`, `DNS: could not send a UDP answer: ${error.message}`);
  };
  const sendUdp = (answer: Buffer, remote: dgram.RemoteInfo): void => {
    if (stopped) return;
    try {
      udp.send(answer, remote.port, remote.address, onUdpSendError);
    } catch (error) {
      onUdpSendError(error as Error); // e.g. the socket closed under us
    }
  };
  const onUdpMessage = (message: Buffer, remote: dgram.RemoteInfo): void => {
    // Source port 0 cannot be answered (Node's send throws on it); only forged packets carry it.
    if (forwarder === undefined || stopped || remote.port === 0) return;
    const question = parseQuery(message);
    if (typeof question === 'number') {
      if (question !== DROP) sendUdp(buildHeaderReply(message, question, false), remote);
      return;
    }
    const local = localAnswer(message, question, answers, false);
    if (local !== undefined) sendUdp(local, remote);
    else forwarder.forwardUdp(message, question, (answer) => sendUdp(answer, remote));
  };

  const onConnection = (socket: net.Socket): void => {
    if (forwarder === undefined || stopped) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    serveTcp(socket, forwarder, answers, warn);
    socket.on('close', () => connections.delete(socket));
  };

  const onUdpError = (error: NodeJS.ErrnoException): void => warn(`udp ${error.code}`, `DNS: UDP socket error: ${error.message}`);
  const { udp, tcp } = await listenBoth(options.host, options.port, { onUdpMessage, onUdpError, onConnection });
  const port = udp.address().port;
  tcp.on('error', (error) => warn(`tcp ${(error as NodeJS.ErrnoException).code}`, `DNS: TCP server error: ${error.message}`));
  tcp.on('drop', () => warn('tcp drop', `DNS: more than ${MAX_TCP_CONNECTIONS} TCP clients at once; refusing new connections.`));
  tcp.maxConnections = MAX_TCP_CONNECTIONS;
  for (const resize of [() => udp.setRecvBufferSize(4 * 1024 * 1024), () => udp.setSendBufferSize(4 * 1024 * 1024)]) {
    try {
      resize(); // for benchmark bursts; the kernel caps it silently
    } catch {
      // not fatal
    }
  }

  const upstreams = options.upstream.filter((upstream) => {
    if (!isSelf(upstream, options.host, port)) return true;
    logger.warn(`DNS: upstream resolver ${upstream.host}:${upstream.port} is this server itself; it is left out to avoid a forwarding loop.`);
    return false;
  });
  try {
    forwarder = await Forwarder.create(upstreams, warn);
  } catch (error) {
    await Promise.allSettled([closeUdp(udp), closeServer(tcp)]);
    throw error;
  }
  if (forwarder.upstreamCount === 0) logger.warn('DNS: no upstream resolver; names other than inner-call ones are answered REFUSED.');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopped = true;
      forwarder?.close();
      for (const socket of connections) socket.destroy();
      await Promise.allSettled([closeUdp(udp), closeServer(tcp)]);
    })();
    return stopping;
  };
  const setAnswerV4 = (address: string): void => {
    if (!net.isIPv4(address)) throw new EmulatorError('internal', `The DNS server's A answer "${address}" is not an IPv4 address.`);
    answers.a = answerRecord(TYPE.A, ttl, ipv4Bytes(address));
  };
  return { host: options.host, port, setAnswerV4, stop, [Symbol.asyncDispose]: stop };
}

/** Nameservers from resolv.conf, in order, port 53. Missing or unreadable file: none. */
export function systemResolvers(resolvConf = '/etc/resolv.conf'): { host: string; port: number }[] {
  let text: string;
  try {
    text = readFileSync(resolvConf, 'utf8');
  } catch {
    return [];
  }
  const resolvers: { host: string; port: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+([^\s#;]+)/.exec(line);
    if (match) resolvers.push({ host: match[1]!, port: 53 });
  }
  return resolvers;
}

interface Answers {
  a: Buffer;
  readonly aaaa: Buffer | undefined;
}

/** The reply for a name under an inner-call domain, or undefined for a name to forward. */
function localAnswer(query: Buffer, question: Question, answers: Answers, framed: boolean): Buffer | undefined {
  if (question.name === undefined) return undefined;
  const inner = innerCallLabel(question.name);
  if (inner === undefined) return undefined;
  // The bare domain exists (it has names under it): NODATA, not NXDOMAIN, which
  // resolvers following RFC 8020 would take as "nothing below exists either".
  if (inner.label === '') return buildReply(query, question, RCODE.NOERROR, true, undefined, framed);
  // Ids are not checked here: the proxy explains an unknown id far better than NXDOMAIN could.
  if (splitLabel(inner.label, NO_IDS).kind === 'malformed') return buildReply(query, question, RCODE.NXDOMAIN, true, undefined, framed);
  let answer: Buffer | undefined;
  if (question.class === CLASS.IN || question.class === CLASS.ANY) {
    if (question.type === TYPE.A) answer = answers.a;
    else if (question.type === TYPE.AAAA) answer = answers.aaaa;
  }
  return buildReply(query, question, RCODE.NOERROR, true, answer, framed);
}

function serveTcp(socket: net.Socket, forwarder: Forwarder, answers: Answers, warn: ThrottledWarn): void {
  const framer = new TcpFramer();
  let inFlight = 0;
  let ended = false;

  const write = (framed: Buffer): void => {
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.writableLength > MAX_TCP_WRITE_BACKLOG) {
      socket.destroy(); // a client that sends and never reads
      return;
    }
    socket.write(framed);
  };
  const onForwarded = (answer: Buffer): void => {
    inFlight--;
    if (socket.destroyed) return;
    const framed = Buffer.allocUnsafe(2 + answer.length);
    framed.writeUInt16BE(answer.length, 0);
    answer.copy(framed, 2);
    write(framed);
    if (socket.isPaused() && inFlight < MAX_TCP_IN_FLIGHT) socket.resume();
    if (ended && inFlight === 0) socket.end();
  };
  const onMessage = (message: Buffer): void => {
    if (socket.destroyed) return;
    const question = parseQuery(message);
    if (typeof question === 'number') {
      if (question !== DROP) write(buildHeaderReply(message, question, true));
      return;
    }
    const local = localAnswer(message, question, answers, true);
    if (local !== undefined) return write(local);
    inFlight++;
    if (inFlight >= MAX_TCP_IN_FLIGHT) socket.pause();
    forwarder.forwardTcp(message, question, onForwarded);
  };

  socket.setNoDelay(true);
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on('data', (chunk: Buffer) => framer.push(chunk, onMessage));
  // The server is half-open: a client may send its queries, then close its side and
  // still read the answers.
  socket.on('end', () => {
    ended = true;
    if (inFlight === 0) socket.end();
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (!CLIENT_GONE.has(error.code ?? '')) warn(`tcp client ${error.code}`, `DNS: TCP client connection failed: ${error.message}`);
  });
}

/**
 * Binds UDP, then TCP on the same port. For port 0 the UDP socket picks the port and
 * TCP follows; when TCP finds it taken, both start again on another.
 */
async function listenBoth(
  host: string,
  port: number,
  handlers: {
    onUdpMessage: (message: Buffer, remote: dgram.RemoteInfo) => void;
    onUdpError: (error: NodeJS.ErrnoException) => void;
    onConnection: (socket: net.Socket) => void;
  },
): Promise<{ udp: dgram.Socket; tcp: net.Server }> {
  for (let attempt = 1; ; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4', handlers.onUdpMessage);
    await bindUdp(udp, host, port);
    udp.on('error', handlers.onUdpError);
    const tcp = net.createServer({ allowHalfOpen: true }, handlers.onConnection);
    try {
      await listen(tcp, udp.address().port, host, 'The DNS server (TCP)');
      return { udp, tcp };
    } catch (error) {
      await closeUdp(udp);
      const code = (error instanceof EmulatorError ? (error.cause as NodeJS.ErrnoException | undefined) : undefined)?.code;
      if (port !== 0 || code !== 'EADDRINUSE' || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

function bindUdp(udp: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      udp.close();
      reject(portInUseError(error, { purpose: 'The DNS server (UDP)', host, port, protocol: 'udp', setting: 'dns.port' }) ?? error);
    };
    udp.once('error', onError);
    udp.bind({ port, address: host, exclusive: true }, () => {
      udp.off('error', onError);
      resolve();
    });
  });
}

function closeUdp(udp: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      udp.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** Whether forwarding to `upstream` would reach this very server. */
function isSelf(upstream: Upstream, host: string, port: number): boolean {
  if (upstream.port !== port) return false;
  if (upstream.host === host || isUnspecifiedAddress(upstream.host)) return true;
  return isUnspecifiedAddress(host) && (upstream.host === 'localhost' || isLoopbackAddress(upstream.host));
}
