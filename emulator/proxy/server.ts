import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ServiceConfig } from '../config/types.js';
import type { CallRecord, Logger } from '../logging/logger.js';
import { listen, closeServer } from '../util/net.js';
import { describeSocketError, hostLinesMessage, PROXY_ERRORS, rawErrorResponse, sendProxyError, type ProxyErrorCode, type ProxyErrorDetails } from './errors.js';
import { isLocalAddress, isLoopbackAddress, resolveAddress } from './loopback.js';
import { endToEndHeaders } from './headers.js';
import { innerCallLabel } from '../inner-call/index.js';
import { readProxyHeader } from './proxy-protocol.js';
import { routeInnerCall } from './routing.js';

import type { ServiceDirectory } from './directory.js';
import { FastPath } from './http1/connection.js';

export type { Availability, ServiceDirectory } from './directory.js';

export interface ProxyOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  directory: ServiceDirectory;
  logger: Logger;
  /** Serves `/_emulator/*` on the main port only (never on a service's egress port). */
  admin?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Request headers must arrive within this long (slowloris); default 30 s. */
  headersTimeoutMs?: number;
  /** Idle keep-alive client connections close after this long; default 65 s. */
  keepAliveTimeoutMs?: number;
}

export interface ProxyServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, for HTTP_PROXY. */
  readonly url: string;
  /** A port that identifies `serviceName` as the caller; the service's HTTP_PROXY points at it. */
  openEgress(serviceName: string): Promise<number>;
  /** Resolves once no call is in flight to host:port (or after `timeoutMs`): a reload retires an instance only then. */
  whenIdle(host: string, port: number, timeoutMs: number): Promise<void>;
  closeEgress(serviceName: string): Promise<void>;
  /**
   * A listener for the docker router on `host` (the session network's gateway): every
   * connection starts with a PROXY protocol v1 line, and `directory.callerByAddress` of
   * its source address names the caller (no match: acts like the host's main port, minus admin).
   */
  openRouterListener(host: string): Promise<{ port: number; close(): Promise<void> }>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const ADMIN_PREFIX = '/_emulator/';

/** Seconds a caller should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 1;

export async function startProxy(options: ProxyOptions): Promise<ProxyServer> {
  const { directory, logger } = options;
  /** Which service a connection belongs to; absent for the main port (the host). */
  let mainUrl = '';
  const callerOfSocket = new WeakMap<Socket, string>();
  const openSockets = new Set<Socket>();
  const egress = new Map<string, http.Server>();
  const routerServers = new Set<net.Server>();
  // One pool for all upstreams: keep-alive, LIFO so idle sockets age out.
  // Calls in flight per upstream "host:port", so a reload can wait for an old instance to drain.
  const inFlight = new Map<string, number>();
  const idleWaiters = new Map<string, (() => void)[]>();
  const callStarted = (key: string): void => void inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  const callEnded = (key: string): void => {
    const left = (inFlight.get(key) ?? 1) - 1;
    if (left > 0) return void inFlight.set(key, left);
    inFlight.delete(key);
    for (const wake of idleWaiters.get(key) ?? []) wake();
    idleWaiters.delete(key);
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: 'lifo', timeout: 60_000 });
  /** The connections each listener accepted, so closing one (an egress port) closes them too. */
  const socketsOf = new WeakMap<net.Server, Set<Socket>>();

  /** Sockets the docker router relayed: a container behind them cannot reach the host's loopback by itself. */
  const viaRouter = new WeakSet<Socket>();
  /** A response that closes the connection went out on these: nothing the client sent after it runs. */
  const closing = new WeakSet<Socket>();
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  /** Heads the fast path handed over half-read: the header timeout counts from their first byte. */
  const headDeadlines = new WeakMap<Socket, NodeJS.Timeout>();
  const armHeadDeadline = (socket: Socket, since: number): void => {
    const timer = setTimeout(() => {
      headDeadlines.delete(socket);
      if (!socket.writable) return void socket.destroy();
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => socket.destroy());
    }, Math.max(0, headersTimeoutMs - (performance.now() - since)));
    timer.unref();
    headDeadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  };
  const headArrived = (socket: Socket): void => {
    const timer = headDeadlines.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    headDeadlines.delete(socket);
  };

  const record = (call: Omit<CallRecord, 'time' | 'durationMs'>, started: number, arrived: number): void => {
    logger.call({ ...call, durationMs: Math.round((performance.now() - started) * 10) / 10, time: arrived });
  };

  const fastPath = new FastPath({
    directory,
    headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 65_000,
    callStarted,
    callEnded,
    call: (record) => logger.call(record),
  });

  function handleRequest(req: IncomingMessage, res: ServerResponse, isMain: boolean): void {
    if (closing.has(req.socket)) return; // pipelined after an answer that closes the connection
    headArrived(req.socket);
    const started = performance.now();
    const arrived = Date.now();
    const config = directory.config();
    const callerName = callerOfSocket.get(req.socket);
    const caller = callerName === undefined ? undefined : config.services.get(callerName);
    /** The proxy's own 400: the connection closes after it, and the call line says why. */
    const badRequest = (message: string, host: string): void => {
      closing.add(req.socket);
      sendProxyError(res, { code: 'bad_request', message, from: caller?.id ?? null, to: null, close: true });
      record({ host, method: req.method ?? 'GET', path: req.url ?? '', from: caller?.name, to: undefined, status: 400, error: 'bad_request' }, started, arrived);
    };
    const hostLines = countHeader(req.rawHeaders, 'host');
    if (hostLines > 1 || (hostLines === 0 && req.httpVersion === '1.1')) return badRequest(hostLinesMessage(hostLines), req.headers.host ?? '');
    const target = requestTarget(req);
    if (target === undefined) {
      sendProxyError(res, { code: 'bad_inner_call_host', message: `Cannot route request target "${req.url}".`, from: caller?.id ?? null, to: null });
      return;
    }
    if (target.absolute && splitAuthority(target.host, 80)[0] === '') {
      return badRequest(`The request target "${req.url}" has an empty host. Write the host in the URL: http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path.`, target.host);
    }

    const decision = routeInnerCall(config, target.host, caller);
    if (decision.kind === 'not-inner-call') {
      if (target.absolute) {
        passThrough(req, res, target, caller, started, arrived);
      } else if (isMain && target.path.startsWith(ADMIN_PREFIX) && options.admin) {
        options.admin(req, res);
      } else {
        sendProxyError(res, {
          code: 'bad_inner_call_host',
          message:
            `"${target.host}" is not an inner-call host. This is the dyc-emulator proxy: send calls with Host: {fromId}-{toId}.inner-call.dyc.ivolces.com, ` +
            `or use it as an HTTP proxy (curl -x ${mainUrl} http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path).`,
          from: caller?.id ?? null,
          to: null,
        });
      }
      return;
    }

    const base = { host: target.host, method: req.method ?? 'GET', path: target.path };
    if (decision.kind === 'error') {
      sendProxyError(res, decision.error);
      // A malformed name names no caller; the connection still tells who sent it (an egress port, a container).
      record({ ...base, from: decision.from?.name ?? caller?.name, to: decision.to?.name, status: res.statusCode, error: decision.error.code }, started, arrived);
      return;
    }

    const { from, to } = decision;
    const upstream = directory.upstream(to);
    if (upstream.state !== 'ready') {
      sendProxyError(res, {
        code: 'service_unavailable',
        message: `Service "${to.name}" (id ${to.id}) is not ready: ${upstream.reason}. Retry in a moment.`,
        from: from.id,
        to: to.id,
        retryAfter: RETRY_AFTER_SECONDS,
      });
      record({ ...base, from: from.name, to: to.name, status: 503, error: 'service_unavailable' }, started, arrived);
      return;
    }

    const upstreamKey = `${upstream.host}:${upstream.port}`;
    callStarted(upstreamKey);
    forward(req, res, { host: upstream.host, port: upstream.port, path: target.path, hostHeader: target.host }, config.proxy.callTimeoutMs, {
      onError: (code, message) => sendProxyError(res, { code, message: `${to.name} (id ${to.id}): ${message}`, from: from.id, to: to.id }),
      onDone: (error) => {
        callEnded(upstreamKey);
        record({ ...base, from: from.name, to: to.name, status: res.statusCode, error }, started, arrived);
      },
    });
  }

  /** A forward-proxy request for a host outside the emulator: pass it on, to the address that was checked. */
  function passThrough(req: IncomingMessage, res: ServerResponse, target: RequestTarget, caller: ServiceConfig | undefined, started: number, arrived: number): void {
    const [host, port] = splitAuthority(target.host, 80);
    const done = (error: string | undefined): void =>
      record({ host: target.host, method: req.method ?? 'GET', path: target.path, from: caller?.name, to: undefined, status: res.statusCode, error }, started, arrived);
    void destination(host, port, req.socket).then((verdict) => {
      if (verdict.kind === 'unresolved') {
        sendProxyError(res, { code: 'upstream_error', message: `${target.host}: ${describeSocketError(verdict.error)}`, from: caller?.id ?? null, to: null });
        return done('upstream_error');
      }
      if (verdict.kind === 'refused') {
        sendProxyError(res, loopError(target.host, verdict.what, caller));
        return done('inner_call_denied');
      }
      forward(req, res, { host: verdict.address, port, path: target.path, hostHeader: target.host }, directory.config().proxy.callTimeoutMs, {
        onError: (code, message) => sendProxyError(res, { code, message: `${target.host}: ${message}`, from: caller?.id ?? null, to: null }),
        onDone: done,
      });
    });
  }

  type Destination = { kind: 'ok'; address: string } | { kind: 'refused'; what: string } | { kind: 'unresolved'; error: NodeJS.ErrnoException };

  /**
   * Where a pass-through to host:port would connect, decided on the address (every
   * spelling of loopback is the same address), and refused when it is one of this
   * proxy's own listeners or a service instance on this machine: a pass-through there
   * would let a caller act as the host (or as another service's egress port), reach
   * the admin surface, or call a service straight, around the allow-list. A container
   * (relayed by the docker router) may not reach the host's loopback at all: it could
   * not by itself. The caller connects to the address returned, not to the name again.
   */
  async function destination(host: string, port: number, socket: Socket): Promise<Destination> {
    let address: string;
    try {
      address = await resolveAddress(host);
    } catch (error) {
      return { kind: 'unresolved', error: error as NodeJS.ErrnoException };
    }
    const what = ownPorts().get(port);
    if (what !== undefined && isLocalAddress(address)) return { kind: 'refused', what };
    if (viaRouter.has(socket) && isLoopbackAddress(address)) return { kind: 'refused', what: "on the host's loopback, which a container cannot reach by itself" };
    return { kind: 'ok', address };
  }

  /** This proxy's listeners and the service instances' ports, with what each is. */
  function ownPorts(): Map<number, string> {
    const own = new Map<number, string>([[handle.port, "the emulator's proxy port"]]);
    for (const [name, egressServer] of egress) own.set((egressServer.address() as net.AddressInfo | null)?.port ?? -1, `the egress port of service "${name}"`);
    for (const routerServer of routerServers) own.set((routerServer.address() as net.AddressInfo | null)?.port ?? -1, "the docker router's listener");
    for (const instancePort of directory.instancePorts?.() ?? []) if (!own.has(instancePort)) own.set(instancePort, 'a service instance');
    return own;
  }

  function loopError(authority: string, what: string, caller: ServiceConfig | undefined): ProxyErrorDetails {
    return {
      code: 'inner_call_denied',
      message:
        `${authority} is ${what}: the proxy does not relay there. Services call each other only by inner-call names ` +
        `(http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path), where the allow-list applies.`,
      from: caller?.id ?? null,
      to: null,
    };
  }

  interface ForwardHooks {
    onError(code: ProxyErrorCode, message: string): void;
    onDone(error: string | undefined): void;
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    to: { host: string; port: number; path: string; hostHeader: string },
    timeoutMs: number,
    hooks: ForwardHooks,
  ): void {
    const headers = endToEndHeaders(req.rawHeaders);
    // The target's Host is the request target's authority (RFC 9112 §3.2.2), whatever the client wrote beside an absolute URL.
    setHeader(headers, 'host', 'Host', to.hostHeader);
    const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    let errorCode: ProxyErrorCode | undefined;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      hooks.onDone(errorCode);
    };
    res.once('close', done);

    const attempt = (retry: boolean): void => {
      const upstreamReq = http.request({ host: to.host, port: to.port, method: req.method, path: to.path, headers, agent, setHost: false });
      upstreamReq.once('socket', (socket: Socket) => socket.setNoDelay(true));
      // proxy.callTimeout counts from when the request has been sent (nginx's proxy_read_timeout): a long upload is not a slow target.
      let timer: NodeJS.Timeout | undefined;
      let responded = false;
      upstreamReq.once('finish', () => {
        if (responded) return;
        timer = setTimeout(() => {
          errorCode = 'upstream_timeout';
          upstreamReq.destroy();
        }, timeoutMs);
      });
      upstreamReq.on('response', (upstreamRes) => {
        responded = true;
        clearTimeout(timer);
        res.sendDate = false;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.rawHeaders));
        upstreamRes.pipe(res);
        // The target died half-way through its body: the caller must see a broken response, not a short one.
        upstreamRes.once('close', () => {
          if (!upstreamRes.complete) {
            errorCode ??= 'upstream_error';
            res.destroy();
          }
        });
      });
      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        responded = true;
        clearTimeout(timer);
        if (res.headersSent) {
          errorCode ??= 'upstream_error';
          res.destroy();
          return;
        }
        // A pooled socket the upstream closed while idle: safe to retry once if there is no body.
        if (retry && bodyless && upstreamReq.reusedSocket && error.code === 'ECONNRESET' && errorCode === undefined) {
          attempt(false);
          return;
        }
        if (errorCode === 'upstream_timeout') {
          hooks.onError('upstream_timeout', `no response within ${timeoutMs / 1000} s (proxy.callTimeout).`);
        } else {
          errorCode = 'upstream_error';
          hooks.onError('upstream_error', describeSocketError(error));
        }
      });
      // The caller went away: abort the upstream request too.
      res.once('close', () => {
        if (!res.writableFinished) upstreamReq.destroy();
      });
      if (bodyless) upstreamReq.end();
      else req.pipe(upstreamReq);
    };
    attempt(true);
  }

  function handleConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const started = performance.now();
    const arrived = Date.now();
    const authority = req.url ?? '';
    const config = directory.config();
    const callerName = callerOfSocket.get(socket);
    const caller = callerName === undefined ? undefined : config.services.get(callerName);
    const [host, port] = splitAuthority(authority, 443);
    socket.on('error', () => socket.destroy());
    headArrived(socket);
    const hostLines = countHeader(req.rawHeaders, 'host');
    if (host === '' || hostLines > 1) {
      const message = host === '' ? `CONNECT "${authority}" has an empty host. Write the host and port to tunnel to: CONNECT example.com:443.` : hostLinesMessage(hostLines);
      socket.end(rawErrorResponse({ code: 'bad_request', message, from: caller?.id ?? null, to: null }));
      record({ host: authority, method: 'CONNECT', path: '', from: caller?.name, to: undefined, status: 400, error: 'bad_request' }, started, arrived);
      return;
    }

    if (innerCallLabel(host) !== undefined) {
      if (port === 80) {
        // Plain HTTP inside a tunnel (undici's ProxyAgent tunnels by default): serve it
        // as if it had come straight to this port, with the same caller identity.
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) socket.unshift(head);
        tunnelServer.emit('connection', socket);
        return;
      }
      // Routing errors (unknown id, wrong caller) first: they are worth knowing before the port.
      const decision = routeInnerCall(config, host, caller);
      const from = decision.kind === 'not-inner-call' ? undefined : decision.from;
      const to = decision.kind === 'not-inner-call' ? undefined : decision.to;
      const error: ProxyErrorDetails =
        decision.kind === 'error' && decision.error.code !== 'inner_call_denied'
          ? decision.error
          : port === 443
            ? {
                code: 'https_not_supported',
                message: `Inner-call names serve plain HTTP only: use http://${host}/..., not https:// (the client sent CONNECT ${authority}).`,
                from: from?.id ?? null,
                to: to?.id ?? null,
              }
            : { code: 'bad_inner_call_host', message: `Inner-call names serve plain HTTP on port 80 only, not ${port}.`, from: from?.id ?? null, to: to?.id ?? null };
      socket.end(rawErrorResponse(error));
      record({ host: authority, method: 'CONNECT', path: '', from: from?.name, to: to?.name, status: PROXY_ERRORS[error.code], error: error.code }, started, arrived);
      return;
    }

    // Any other host: an ordinary tunnel (a service calling a public HTTPS API).
    socket.pause();
    void destination(host, port, socket).then((verdict) => {
      if (verdict.kind === 'ok') return tunnel(verdict.address);
      const error: ProxyErrorDetails =
        verdict.kind === 'refused'
          ? loopError(authority, verdict.what, caller)
          : { code: 'upstream_error', message: `${authority}: ${describeSocketError(verdict.error)}`, from: caller?.id ?? null, to: null };
      socket.end(rawErrorResponse(error));
      record({ host: authority, method: 'CONNECT', path: '', from: caller?.name, to: undefined, status: PROXY_ERRORS[error.code], error: error.code }, started, arrived);
    });
    const tunnel = (address: string): void => {
      socket.resume();
      const upstream = net.connect({ host: address, port });
      openSockets.add(upstream);
      upstream.once('close', () => openSockets.delete(upstream));
      upstream.once('connect', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (!socket.writable || upstream.readyState === 'open') return socket.destroy();
        socket.end(rawErrorResponse({ code: 'upstream_error', message: `${authority}: ${describeSocketError(error)}`, from: caller?.id ?? null, to: null }));
      });
      socket.once('close', () => upstream.destroy());
    };
  }

  // Node checks headersTimeout on this interval (default 30 s: a 30 s limit could take 60).
  // Missing Host: the proxy answers itself (logged, and nothing pipelined after it runs), not Node.
  const newServer = (): http.Server => http.createServer({ connectionsCheckingInterval: Math.min(1000, headersTimeoutMs), requireHostHeader: false });

  function configure(server: http.Server, isMain: boolean): http.Server {
    // Long uploads and streams are legitimate: no overall request timeout, but headers must come quickly.
    server.requestTimeout = 0;
    server.headersTimeout = headersTimeoutMs;
    server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => handleRequest(req, res, isMain));
    server.on('connect', handleConnect);
    // Every connection starts on the fast path (./http1/connection.ts); Node's own
    // connection listener is its slow path, for the requests the fast path leaves.
    const [slowPath] = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const sockets = new Set<Socket>();
    socketsOf.set(server, sockets);
    server.on('connection', (socket: Socket) => {
      openSockets.add(socket);
      sockets.add(socket);
      socket.once('close', () => {
        openSockets.delete(socket);
        sockets.delete(socket);
      });
      fastPath.serve(socket, callerOfSocket.get(socket), (handed, headSince) => {
        slowPath!.call(server, handed);
        if (headSince !== undefined) armHeadDeadline(handed, headSince);
      });
    });
    server.maxHeadersCount = 0; // no limit: Node would drop headers past the 1000th without a word
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const status =
        error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    return server;
  }

  const server = configure(newServer(), true);
  const tunnelServer = configure(newServer(), false);
  await listen(server, options.port, options.host, 'The routing proxy (proxy.port)');
  const port = (server.address() as net.AddressInfo).port;
  mainUrl = `http://${options.host}:${port}`;

  /** Stops listening and closes the connections, keep-alive ones included, that the listener accepted. */
  const closeListener = (listener: http.Server): Promise<void> => {
    for (const socket of socketsOf.get(listener) ?? []) socket.destroy();
    return closeServer(listener);
  };

  let stopping: Promise<void> | undefined;
  const handle: ProxyServer = {
    host: options.host,
    port,
    url: mainUrl,
    async openEgress(serviceName) {
      const existing = egress.get(serviceName);
      if (existing) return (existing.address() as net.AddressInfo).port;
      const egressServer = configure(newServer(), false);
      egressServer.prependListener('connection', (socket: Socket) => callerOfSocket.set(socket, serviceName));
      egress.set(serviceName, egressServer);
      await listen(egressServer, 0, options.host);
      return (egressServer.address() as net.AddressInfo).port;
    },
    whenIdle(host, port, timeoutMs) {
      const key = `${host}:${port}`;
      if (!inFlight.has(key)) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        idleWaiters.set(key, [...(idleWaiters.get(key) ?? []), wake]);
      });
    },
    async openRouterListener(host) {
      const sockets = new Set<Socket>();
      const routerServer = net.createServer((socket) => {
        // Only the router relays here. A service container that connects straight to this
        // address could write another container's address in its PROXY line.
        if (socket.remoteAddress !== undefined && directory.callerByAddress?.(socket.remoteAddress) !== undefined) return void socket.destroy();
        sockets.add(socket);
        viaRouter.add(socket);
        socket.once('close', () => sockets.delete(socket));
        readProxyHeader(socket, (address) => {
          const callerName = directory.callerByAddress?.(address);
          if (callerName !== undefined) callerOfSocket.set(socket, callerName);
          tunnelServer.emit('connection', socket);
        });
      });
      routerServers.add(routerServer);
      await listen(routerServer, 0, host, 'The routing proxy (listener for the docker router)');
      return {
        port: (routerServer.address() as net.AddressInfo).port,
        close: () => {
          routerServers.delete(routerServer);
          for (const socket of sockets) socket.destroy();
          return closeServer(routerServer);
        },
      };
    },
    async closeEgress(serviceName) {
      const egressServer = egress.get(serviceName);
      egress.delete(serviceName);
      if (egressServer) await closeListener(egressServer);
    },
    stop() {
      stopping ??= (async () => {
        const servers = [server, ...egress.values(), ...routerServers];
        routerServers.clear();
        egress.clear();
        for (const socket of openSockets) socket.destroy();
        await Promise.allSettled(servers.map(closeServer));
        agent.destroy();
        fastPath.stop();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}

interface RequestTarget {
  /** host[:port] as the caller wrote it. */
  host: string;
  /** Path and query. */
  path: string;
  /** Absolute-form (`GET http://host/path`): the request came to us as a forward proxy. */
  absolute: boolean;
}

function requestTarget(req: IncomingMessage): RequestTarget | undefined {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return { host: req.headers.host ?? '', path: url, absolute: false };
  const match = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!match) return undefined;
  const authority = match[2]!;
  return { host: match[1]!, path: authority === '' ? '/' : authority.startsWith('/') ? authority : `/${authority}`, absolute: true };
}

function splitAuthority(authority: string, defaultPort: number): [string, number] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  if (v6) return [v6[1]!, v6[2] ? Number(v6[2]) : defaultPort];
  const colon = authority.lastIndexOf(':');
  if (colon === -1) return [authority, defaultPort];
  return [authority.slice(0, colon), Number(authority.slice(colon + 1)) || defaultPort];
}

function countHeader(raw: readonly string[], lowerName: string): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) count++;
  return count;
}

/** Sets the first `lowerName` line to `value` in place, or adds one. */
function setHeader(raw: string[], lowerName: string, name: string, value: string): void {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === lowerName) return void (raw[i + 1] = value);
  }
  raw.push(name, value);
}
