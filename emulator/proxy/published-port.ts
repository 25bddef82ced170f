import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { ServiceConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import { closeServer, listen } from '../util/net.js';
import { describeSocketError, rawErrorResponse, type ProxyErrorDetails } from '../calls/errors.js';
import type { Availability } from '../runtimes/types.js';
import { sendProxyError } from './slow-path.js';
import { endToEndHeaders } from '../util/headers.js';
import { httpUrl } from '../util/addresses.js';
import { InFlight } from '../util/in-flight.js';

/**
 * A service's stable address, what docker compose calls its published port: the
 * emulator listens on it for the whole life of `up` and forwards each request to the
 * service's current instance, so the URL survives reloads and crash restarts (the
 * instance's own port changes with each new process). While the service starts,
 * reloads or restarts, requests wait for it (bounded by its start timeout) instead of
 * failing. This is the address for callers outside the mini-program's services:
 * Postman, curl, the simulator, a test. It is not an inner call: no allow-list, no
 * caller identity, and the request goes on as it came (Host included).
 *
 * Node's http server and client, not the proxy's fast path: direct calls are a
 * person's calls, not the hot path.
 */
export interface PublishedPortOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** For messages: `services.<name>.publishedPort`. */
  service: { name: string; id: string };
  /** Where requests go now; waits while the service is (re)starting. */
  upstream(): Promise<Availability>;
  /** Seconds without response headers before 504, as `proxy.callTimeout`. */
  callTimeoutMs(): number;
}

export interface PublishedPort {
  readonly port: number;
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** Resolves once no request is in flight to host:port (or after `timeoutMs`): a reload retires an instance only then. */
  whenIdle(host: string, port: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const RETRY_AFTER_SECONDS = 1;

export function publishedPortTakenError(service: ServiceConfig): EmulatorError {
  const port = service.publishedPort;
  return new EmulatorError(
    'port_in_use',
    `Service "${service.name}" is published on port ${port} (services.${service.name}.publishedPort), but something else is listening on it.`,
    {
      fix: `Stop what uses port ${port} (\`ss -ltnp | grep :${port}\` shows it; is another \`emulator up\` running?), or choose another publishedPort.`,
    },
  );
}

export async function startPublishedPort(options: PublishedPortOptions): Promise<PublishedPort> {
  const { service } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo', timeout: 4_000 });
  const inFlight = new InFlight();
  const sockets = new Set<Socket>();

  const unavailable = (reason: string): ProxyErrorDetails => ({
    code: 'service_unavailable',
    message: `Service "${service.name}" (id ${service.id}) is not ready: ${reason}.`,
    from: null,
    to: service.id,
    retryAfter: RETRY_AFTER_SECONDS,
  });

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = await options.upstream();
    if (res.destroyed) return;
    if (target.state !== 'ready') return sendProxyError(res, unavailable(target.reason));
    const key = `${target.host}:${target.port}`;
    inFlight.enter(key);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inFlight.leave(key);
    };
    res.once('close', finish);
    const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    const headers = endToEndHeaders(req.rawHeaders);
    const attempt = (retry: boolean): void => {
      const upstreamReq = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers, agent, setHost: false });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        upstreamReq.destroy();
      }, options.callTimeoutMs());
      upstreamReq.on('response', (upstreamRes) => {
        clearTimeout(timer);
        res.sendDate = false;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.rawHeaders));
        upstreamRes.pipe(res);
        upstreamRes.once('close', () => {
          if (!upstreamRes.complete) res.destroy(); // a cut body must not pass for a whole one
        });
      });
      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (res.headersSent) return void res.destroy();
        // A pooled connection the instance closed while idle: safe to retry once without a body.
        if (retry && bodyless && upstreamReq.reusedSocket && error.code === 'ECONNRESET' && !timedOut) return attempt(false);
        sendProxyError(
          res,
          timedOut
            ? {
                code: 'upstream_timeout',
                message: `${service.name}: no response within ${options.callTimeoutMs() / 1000} s (proxy.callTimeout).`,
                from: null,
                to: service.id,
              }
            : { code: 'upstream_error', message: `${service.name}: ${describeSocketError(error)}`, from: null, to: service.id },
        );
      });
      res.once('close', () => {
        if (!res.writableFinished) upstreamReq.destroy();
      });
      if (bodyless) upstreamReq.end();
      else req.pipe(upstreamReq);
    };
    attempt(true);
  }

  /** WebSocket and other upgrades: the head as it came, then bytes both ways. */
  async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const target = await options.upstream();
    if (socket.destroyed) return;
    if (target.state !== 'ready') return void socket.end(rawErrorResponse(unavailable(target.reason)));
    const key = `${target.host}:${target.port}`;
    const upstream = net.connect({ host: target.host, port: target.port });
    inFlight.enter(key);
    upstream.once('close', () => inFlight.leave(key));
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (upstream.bytesRead > 0 || !socket.writable) return void socket.destroy();
      socket.end(rawErrorResponse({ code: 'upstream_error', message: `${service.name}: ${describeSocketError(error)}`, from: null, to: service.id }));
    });
    upstream.once('connect', () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    socket.once('close', () => upstream.destroy());
  }

  const server = http.createServer();
  server.requestTimeout = 0; // long uploads and streams are legitimate
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void onRequest(req, res).catch(() => res.destroy()));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void onUpgrade(req, socket, head).catch(() => socket.destroy()));
  await listen(server, options.port, options.host, `The published port of service "${service.name}" (services.${service.name}.publishedPort)`);
  const port = (server.address() as net.AddressInfo).port;

  let stopping: Promise<void> | undefined;
  const handle: PublishedPort = {
    port,
    url: httpUrl(options.host, port),
    whenIdle: (host, instancePort, timeoutMs) => inFlight.whenIdle(`${host}:${instancePort}`, timeoutMs),
    stop() {
      stopping ??= (async () => {
        for (const socket of sockets) socket.destroy();
        await closeServer(server as unknown as net.Server);
        agent.destroy();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}
