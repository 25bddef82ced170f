// The proxy's listeners and socket registry: the host's main port, one egress port per
// service, the docker router's listener, and the server that serves HTTP inside CONNECT
// tunnels. Each accepted socket starts on the fast path (./fast-path/); the slow path
// (./slow-path.ts), tunnels (./tunnel.ts) and pass-through (./pass-through.ts) take
// the rest. A call's logic is the call pipeline's (../calls/, docs/proxy.md).

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { ServiceDirectory } from '../calls/directory.js';
import { rawErrorResponse, unreadableRequestError } from '../calls/errors.js';
import { CallPipeline } from '../calls/pipeline.js';
import type { CallPolicies } from '../calls/types.js';
import type { UpstreamPicker } from '../calls/upstream.js';
import type { Logger } from '../logging/logger.js';
import { closeServer, listen } from '../util/net.js';
import { SocketRegistry, type ProxyContext } from './context.js';
import { FastPath, type ConnectionSource } from './fast-path/connection.js';
import { outboundProxies } from './outbound.js';
import { readProxyHeader } from './proxy-protocol.js';
import { handleRequest } from './slow-path.js';
import { handleConnect, handleUpgrade } from './tunnel.js';
import { handleUpgrade as handleEntryUpgrade } from './upgrade.js';
import { httpUrl } from '../util/addresses.js';

export type { Availability, ServiceDirectory } from '../calls/directory.js';

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
  /** Which instance serves a call; default: `directory.upstream` (round-robin over healthy replicas). */
  picker?: UpstreamPicker;
  /** Call policies (timeouts, shaping, faults, retries); default none. */
  policies?: CallPolicies;
  /**
   * Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read for pass-through and CONNECT to
   * hosts outside the emulator (the user's own proxy is chained); default `process.env`.
   */
  outboundEnv?: NodeJS.ProcessEnv;
}

export interface ProxyServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, for HTTP_PROXY. */
  readonly url: string;
  /** The call pipeline: set `calls.observer` to receive every call's details. */
  readonly calls: CallPipeline;
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
  /**
   * The entry (`entry.port`): requests from the mini-program, sent to a service as a
   * user of `entry.users` with the platform's identity headers (calls/entry.ts decides
   * and shapes). Streams, keep-alive and WebSocket upgrades as on inner calls; 0 picks a free port.
   */
  openEntry(host: string, port: number): Promise<{ port: number; url: string }>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startProxy(options: ProxyOptions): Promise<ProxyServer> {
  const { directory, logger } = options;
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  let mainUrl = '';
  const openSockets = new Set<Socket>();
  const egress = new Map<string, http.Server>();
  const routerServers = new Set<net.Server>();
  const entryServers = new Set<http.Server>();
  /** The connections each listener accepted, so closing one (an egress port) closes them too. */
  const socketsOf = new WeakMap<net.Server, Set<Socket>>();
  const sockets = new SocketRegistry(headersTimeoutMs);
  const pipeline = new CallPipeline({ directory, picker: options.picker, policies: options.policies, record: (record) => logger.call(record) });
  // Keep-alive, LIFO so idle sockets age out: the slow path's upstream connections.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: 'lifo', timeout: 60_000 });
  const fastPath = new FastPath({ pipeline, headersTimeoutMs, keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 65_000 });

  /** A head the slow path did not get in time: logged, and the answer to write. */
  const timedOut = (socket: Socket): string => {
    const source = sockets.callSource(socket, pipeline.config());
    const error = unreadableRequestError('request_timeout', source.caller?.id ?? null);
    pipeline.refused(source, { host: '', method: '', path: '' }, error);
    return rawErrorResponse(error);
  };

  const context: ProxyContext = {
    pipeline,
    sockets,
    agent,
    admin: options.admin,
    outbound: outboundProxies(options.outboundEnv ?? process.env),
    mainUrl: () => mainUrl,
    ownPorts() {
      const own = new Map<number, string>([[handle.port, "the emulator's proxy port"]]);
      for (const [name, egressServer] of egress)
        own.set((egressServer.address() as net.AddressInfo | null)?.port ?? -1, `the egress port of service "${name}"`);
      for (const routerServer of routerServers) own.set((routerServer.address() as net.AddressInfo | null)?.port ?? -1, "the docker router's listener");
      for (const entryServer of entryServers)
        own.set((entryServer.address() as net.AddressInfo | null)?.port ?? -1, "the emulator's entry port (mini-program calls)");
      for (const instancePort of directory.instancePorts?.() ?? []) if (!own.has(instancePort)) own.set(instancePort, 'a service instance');
      for (const [protectedPort, what] of directory.protectedPorts?.() ?? []) own.set(protectedPort, what);
      return own;
    },
    track(socket) {
      openSockets.add(socket);
      socket.once('close', () => openSockets.delete(socket));
    },
  };

  // Node checks headersTimeout on this interval (default 30 s: a 30 s limit could take 60).
  // Missing Host: the proxy answers itself (logged, and nothing pipelined after it runs), not Node.
  const newServer = (): http.Server => http.createServer({ connectionsCheckingInterval: Math.min(1000, headersTimeoutMs), requireHostHeader: false });

  function configure(server: http.Server, isMain: boolean): http.Server {
    // Long uploads and streams are legitimate: no overall request timeout, but headers must come quickly.
    server.requestTimeout = 0;
    server.headersTimeout = headersTimeoutMs;
    server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => handleRequest(context, req, res, isMain));
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => handleUpgrade(context, req, socket));
    // Expect: 100-continue is the target's to answer (slow path): Node must not send its own 100.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handleRequest(context, req, res, isMain));
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      handleConnect(context, req, socket, head, (inside) => tunnelServer.emit('connection', inside)),
    );
    // Every connection starts on the fast path (./fast-path/connection.ts); Node's own
    // connection listener is its slow path, for the requests the fast path leaves.
    const [slowPath] = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const accepted = new Set<Socket>();
    socketsOf.set(server, accepted);
    server.on('connection', (socket: Socket) => {
      openSockets.add(socket);
      accepted.add(socket);
      socket.once('close', () => {
        openSockets.delete(socket);
        accepted.delete(socket);
      });
      fastPath.serve(socket, sockets.source(socket), (handed, headSince) => {
        slowPath!.call(server, handed);
        if (headSince !== undefined) sockets.armHeadDeadline(handed, headSince, timedOut);
      });
    });
    server.maxHeadersCount = 0; // no limit: Node would drop headers past the 1000th without a word
    // Node could not read a request: the proxy's JSON answer, and a call line that says why.
    server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      const code = error.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'bad_request';
      const line = error.rawPacket?.toString('latin1', 0, Math.min(error.rawPacket.length, 200)).split('\r\n')[0] ?? '';
      const source = sockets.callSource(socket, pipeline.config());
      const refusal = unreadableRequestError(code, source.caller?.id ?? null, { parserCode: error.code, line: line === '' ? undefined : line });
      const [method = '', path = ''] = line.split(' ');
      pipeline.refused(source, { host: '', method: /^[A-Z]{1,20}$/.test(method) ? method : '', path: path.slice(0, 200) }, refusal);
      if (!socket.writable) return socket.destroy();
      socket.end(rawErrorResponse(refusal));
    });
    return server;
  }

  const server = configure(newServer(), true);
  const tunnelServer = configure(newServer(), false);
  await listen(server, options.port, options.host, 'The routing proxy (proxy.port)');
  const port = (server.address() as net.AddressInfo).port;
  mainUrl = httpUrl(options.host, port);

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
    calls: pipeline,
    async openEgress(serviceName) {
      const existing = egress.get(serviceName);
      if (existing) return (existing.address() as net.AddressInfo).port;
      const egressServer = configure(newServer(), false);
      const source: ConnectionSource = { callerName: serviceName, via: 'egress' };
      egressServer.prependListener('connection', (socket: Socket) => sockets.setSource(socket, source));
      egress.set(serviceName, egressServer);
      await listen(egressServer, 0, options.host);
      return (egressServer.address() as net.AddressInfo).port;
    },
    whenIdle: (host, port, timeoutMs) => pipeline.whenIdle(host, port, timeoutMs),
    async openRouterListener(host) {
      const relayed = new Set<Socket>();
      const routerServer = net.createServer((socket) => {
        // Only the router relays here. A service container that connects straight to this
        // address could write another container's address in its PROXY line.
        if (socket.remoteAddress !== undefined && directory.callerByAddress?.(socket.remoteAddress) !== undefined) return void socket.destroy();
        relayed.add(socket);
        socket.once('close', () => relayed.delete(socket));
        sockets.setSource(socket, { callerName: undefined, via: 'router' });
        readProxyHeader(socket, (address) => {
          sockets.setSource(socket, { callerName: directory.callerByAddress?.(address), via: 'router' });
          tunnelServer.emit('connection', socket);
        });
      });
      routerServers.add(routerServer);
      await listen(routerServer, 0, host, 'The routing proxy (listener for the docker router)');
      return {
        port: (routerServer.address() as net.AddressInfo).port,
        close: () => {
          routerServers.delete(routerServer);
          for (const socket of relayed) socket.destroy();
          return closeServer(routerServer);
        },
      };
    },
    async openEntry(host, entryPort) {
      const entryServer = configure(newServer(), false);
      const source: ConnectionSource = { callerName: undefined, via: 'entry' };
      entryServer.prependListener('connection', (socket: Socket) => sockets.setSource(socket, source));
      entryServer.removeAllListeners('connect');
      entryServer.on('connect', (_req: IncomingMessage, socket: Socket) => {
        socket.on('error', () => socket.destroy());
        socket.end(
          rawErrorResponse({
            code: 'bad_request',
            message: 'The entry is not a forward proxy: send requests to it as to the service (GET /path).',
            from: 'mini-program',
            to: null,
          }),
        );
      });
      // The entry's upgrades choose service and user by the control headers (./upgrade.ts), not by Host.
      entryServer.removeAllListeners('upgrade');
      entryServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => handleEntryUpgrade(context, req, socket, head));
      await listen(entryServer, entryPort, host, 'The entry (entry.port)');
      entryServers.add(entryServer);
      const bound = (entryServer.address() as net.AddressInfo).port;
      return { port: bound, url: httpUrl(host, bound) };
    },
    async closeEgress(serviceName) {
      const egressServer = egress.get(serviceName);
      egress.delete(serviceName);
      if (egressServer) await closeListener(egressServer);
    },
    stop() {
      stopping ??= (async () => {
        const servers = [server, ...egress.values(), ...routerServers, ...entryServers];
        routerServers.clear();
        entryServers.clear();
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
