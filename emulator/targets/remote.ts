import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { EmulatorError } from '../errors.js';
import { isAliveStatus } from '../runtimes/readiness.js';
import type { Logger } from '../logging/logger.js';
import { closeServer, listen } from '../util/net.js';
import { endToEndHeaders } from '../util/headers.js';
import { forwardedHeaders, innerCallParties, sendError } from './http-util.js';
import { LoadBalancer, type BalancerAlgorithm as Algorithm, type CallOutcome, type Slot as BalancerSlot } from '../util/balancer.js';

/**
 * `url` and `targets` services: an in-process relay on loopback that the emulator
 * treats as the service's one instance. The proxy routes, checks the allow-list and
 * caller identity, applies policies and records the call exactly as for a local
 * service; the relay then sends the call to the remote server(s) over pooled
 * keep-alive connections, http or https, and turns what can go wrong there (TLS,
 * DNS, refused connections) into the proxy's error shape with the fix.
 */

export interface RemoteTargetConfig {
  /** Absolute http(s) URL; its path is the base the call's path is appended to. */
  readonly url: string;
  readonly weight: number;
  readonly fallback: boolean;
}

export interface RemoteOptions {
  readonly name: string;
  readonly id: string;
  readonly targets: readonly RemoteTargetConfig[];
  readonly tls: { readonly ca: string | undefined; readonly insecure: boolean };
  /** An explicit health path: each target is probed with it and leaves or rejoins the rotation. */
  readonly healthcheck: string | undefined;
  readonly loadBalancer: { readonly algorithm: Algorithm; readonly maxFailures: number; readonly unhealthyStatus: readonly number[] };
  /** The config key that holds the URL(s), for error messages: `services.orders.url`. */
  readonly configPath: string;
  readonly logger: Logger;
  /** How often targets are probed (explicit `healthcheck`), or retried after an ejection without one. Default 2 s / 10 s. */
  readonly probeIntervalMs?: number;
  readonly ejectionMs?: number;
}

export interface TargetState {
  readonly url: string;
  readonly weight: number;
  readonly fallback: boolean;
  readonly inRotation: boolean;
  readonly active: number;
  readonly failures: number;
}

export interface RemoteRelay {
  readonly host: string;
  readonly port: number;
  targets(): TargetState[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const PROBE_TIMEOUT_MS = 2_000;

interface Target {
  readonly url: URL;
  /** What to connect to: the host name without an IPv6 address's brackets, and the port (the scheme's default if none). */
  readonly host: string;
  readonly port: number;
  readonly key: string;
  readonly weight: number;
  readonly fallback: boolean;
  /** The base path without its trailing slash ('' for the root). */
  readonly basePath: string;
  readonly secure: boolean;
}

export async function startRemoteRelay(options: RemoteOptions): Promise<RemoteRelay> {
  const { logger } = options;
  const ca = readCa(options);
  // One pool per relay: keep-alive like the proxy's own upstream pool; `servername`
  // (SNI) and certificate checks follow each target's host name.
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo', timeout: 60_000 }),
    https: new https.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo', timeout: 60_000, ca, rejectUnauthorized: !options.tls.insecure }),
  };
  const targets: Target[] = options.targets.map((config) => {
    const url = new URL(config.url);
    const secure = url.protocol === 'https:';
    return {
      url,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (secure ? 443 : 80)),
      key: url.href,
      weight: config.weight,
      fallback: config.fallback,
      basePath: url.pathname.replace(/\/+$/, ''),
      secure,
    };
  });
  const byKey = new Map(targets.map((target) => [target.key, target]));
  const several = targets.length > 1;
  const describe = (target: Target): string => (several ? `target ${target.url.href}` : target.url.href);
  const explicit = options.healthcheck;
  // The same load balancer as replicas (util/balancer.ts), over the remote servers.
  const balancer = new LoadBalancer<Target>({
    algorithm: options.loadBalancer.algorithm,
    maxFailures: options.loadBalancer.maxFailures,
    unhealthyStatus: options.loadBalancer.unhealthyStatus,
    // An ejected target returns when its health check passes; without one it is tried again
    // after a while, on probation (Envoy's outlier ejection does the same).
    healthCheck: explicit === undefined ? undefined : async (target) => (await probeTarget(target, explicit, agents, options)).ok,
    healthCheckIntervalMs: explicit === undefined ? (options.ejectionMs ?? 10_000) : (options.probeIntervalMs ?? 2_000),
    onEvent(event) {
      const target = byKey.get(event.key);
      if (target === undefined) return;
      if (event.kind === 'ejected')
        logger.serviceEvent(options.name, `${describe(target)} left the rotation (${event.failures} failures in a row, the last: ${event.reason})`, 'warn');
      else
        logger.serviceEvent(
          options.name,
          `${describe(target)} is back in the rotation (${explicit !== undefined && event.reason === 'health check passed' ? `GET ${explicit} passed` : event.reason})`,
          'info',
        );
    },
  });
  /** Targets whose last probe failed (explicit healthcheck): kept out of the member list until one passes. */
  const failingProbe = new Map<Target, string>();
  const refreshMembers = (): void =>
    balancer.update(
      targets.filter((target) => !failingProbe.has(target)).map((target) => ({ key: target.key, target, weight: target.weight, fallback: target.fallback })),
    );
  refreshMembers();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const slot = balancer.pick();
    if (slot === undefined) {
      const probes = targets
        .filter((target) => failingProbe.has(target))
        .map((target) => `${target.url.href} (GET ${explicit} → ${failingProbe.get(target)!.replace(/\.$/, '')})`);
      const why = probes.length === targets.length ? probes.join(', ') : [balancer.describeEmpty(), ...probes].join('; ');
      return sendError(
        req,
        res,
        options.id,
        'no_healthy_target',
        `No target of "${options.name}" is in the rotation: ${why}. Calls resume when a health check passes.`,
      );
    }
    relay(req, res, slot);
  }

  function relay(req: IncomingMessage, res: ServerResponse, slot: BalancerSlot<Target>): void {
    const target = slot.target;
    const headers = forwardedHeaders(req.rawHeaders, target.url.host);
    const path = target.basePath + (req.url ?? '/');
    const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    let settled = false;
    const settle = (outcome: CallOutcome): void => {
      if (settled) return;
      settled = true;
      balancer.done(slot, outcome);
    };
    const attempt = (retry: boolean): void => {
      const request = (target.secure ? https : http).request({
        protocol: target.url.protocol,
        host: target.host,
        port: target.port,
        method: req.method,
        path,
        headers,
        agent: target.secure ? agents.https : agents.http,
        setHost: false,
        servername: target.url.hostname,
      });
      request.once('socket', (socket: Socket) => socket.setNoDelay(true));
      request.on('response', (upstream) => {
        const status = upstream.statusCode ?? 502;
        settle({ kind: 'response', status });
        res.writeHead(status, upstream.statusMessage, endToEndHeaders(upstream.rawHeaders));
        upstream.pipe(res);
        upstream.once('close', () => {
          if (!upstream.complete) res.destroy();
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (res.headersSent) return void res.destroy();
        // A pooled connection the server closed while idle: safe to try once more without a body.
        if (retry && bodyless && request.reusedSocket && error.code === 'ECONNRESET') return attempt(false);
        if (res.destroyed) return settle({ kind: 'failure', reason: 'timeout' });
        settle({ kind: 'failure', reason: error.code === 'ECONNRESET' ? 'reset' : 'connect-failure' });
        sendError(req, res, options.id, 'upstream_error', `${options.name} (${target.url.href}): ${describeRemoteError(error, target.url, options)}`);
      });
      // The caller (the proxy) went away, e.g. its call timeout: abort the remote call too.
      res.once('close', () => {
        if (!res.writableFinished) {
          request.destroy();
          settle({ kind: 'failure', reason: 'timeout' });
        }
      });
      if (bodyless) request.end();
      else req.pipe(request);
    };
    attempt(true);
  }

  /** Explicit healthcheck: every target is probed; a failing one leaves the member list, a passing one returns. */
  async function probeAll(initial: boolean): Promise<void> {
    let changed = false;
    await Promise.all(
      targets.map(async (target) => {
        const result = await probeTarget(target, explicit!, agents, options);
        if (stopped) return;
        const wasFailing = failingProbe.has(target);
        if (result.ok) {
          if (!wasFailing && !initial) return;
          failingProbe.delete(target);
          changed = true;
          if (wasFailing || several)
            logger.serviceEvent(
              options.name,
              `${describe(target)} ${wasFailing ? 'is back in the rotation' : 'is healthy'} (GET ${explicit} → ${result.status})`,
              'info',
            );
        } else {
          failingProbe.set(target, result.problem);
          if (wasFailing) return;
          changed = true;
          logger.serviceEvent(
            options.name,
            `${describe(target)} ${initial ? 'is not healthy yet' : 'left the rotation'}: GET ${explicit} → ${result.problem}`,
            'warn',
          );
        }
      }),
    );
    if (changed) refreshMembers();
  }

  /**
   * WebSocket and other upgrades: the request head goes to the target as sent (Host
   * replaced), then bytes pass both ways until either side closes.
   */
  function upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Upgraded connections leave the http server's bookkeeping: stop() closes them itself.
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const slot = balancer.pick();
    if (slot === undefined) return void socket.end(rawError(req, 'no_healthy_target', `No target of "${options.name}" is in the rotation.`));
    const target = slot.target;
    const { host, port } = target;
    const upstream = target.secure
      ? tls.connect({ host, port, servername: target.url.hostname, ca, rejectUnauthorized: !options.tls.insecure })
      : net.connect({ host, port });
    let connected = false;
    upstream.once(target.secure ? 'secureConnect' : 'connect', () => {
      connected = true;
      balancer.done(slot, { kind: 'none' });
      const lines = [`${req.method} ${target.basePath}${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        if (req.rawHeaders[i]!.toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      lines.push(`Host: ${target.url.host}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (connected) return void socket.destroy();
      balancer.done(slot, { kind: 'failure', reason: 'connect-failure' });
      socket.end(rawError(req, 'upstream_error', `${options.name} (${target.url.href}): ${describeRemoteError(error, target.url, options)}`));
    });
    socket.once('close', () => upstream.destroy());
    upstream.once('close', () => socket.destroy());
  }

  function rawError(req: IncomingMessage, code: 'upstream_error' | 'no_healthy_target', message: string): string {
    const { from, to } = innerCallParties(req.headers.host, options.id);
    const body = `${JSON.stringify({ error: code, message, from, to })}\n`;
    const status = code === 'upstream_error' ? '502 Bad Gateway' : '503 Service Unavailable';
    return `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Emulator-Error: ${code}\r\nConnection: close\r\n\r\n${body}`;
  }

  const upgraded = new Set<Socket>();
  const server = http.createServer(handle);
  server.on('upgrade', upgrade);
  server.keepAliveTimeout = 65_000; // longer than the proxy's idle pool time, so it never reuses a closing connection
  server.requestTimeout = 0;
  await listen(server, 0, '127.0.0.1', `The relay of service "${options.name}"`);
  const port = (server.address() as AddressInfo).port;

  if (explicit !== undefined) {
    await probeAll(true);
    const loop = (): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopped) return;
        void probeAll(false).finally(() => {
          if (!stopped) loop();
        });
      }, options.probeIntervalMs ?? 2_000);
      timers.add(timer);
    };
    loop();
  }

  let stopping: Promise<void> | undefined;
  const relayHandle: RemoteRelay = {
    host: '127.0.0.1',
    port,
    targets: () => {
      const slots = new Map(balancer.snapshot().map((slot) => [slot.key, slot]));
      return targets.map((target) => {
        const slot = slots.get(target.key);
        return {
          url: target.url.href,
          weight: target.weight,
          fallback: target.fallback,
          inRotation: slot?.inRotation ?? false,
          active: slot?.active ?? 0,
          failures: slot?.failures ?? 0,
        };
      });
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        for (const timer of timers) clearTimeout(timer);
        balancer.stop();
        for (const socket of upgraded) socket.destroy();
        await closeServer(server);
        agents.http.destroy();
        agents.https.destroy();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return relayHandle.stop();
    },
  };
  return relayHandle;
}

function readCa(options: RemoteOptions): Buffer | undefined {
  if (options.tls.ca === undefined) return undefined;
  try {
    return readFileSync(options.tls.ca);
  } catch (error) {
    throw new EmulatorError('config_invalid', `services.${options.name}.tls.ca: cannot read ${options.tls.ca}: ${(error as Error).message}.`, {
      fix: 'Point tls.ca at a PEM file (relative to the config file) holding the CA certificate that signed the server’s certificate.',
    });
  }
}

async function probeTarget(
  target: Target,
  path: string,
  agents: { http: http.Agent; https: https.Agent },
  options: RemoteOptions,
): Promise<{ ok: true; status: number } | { ok: false; problem: string }> {
  return new Promise((resolve) => {
    const request = (target.secure ? https : http).get(
      {
        host: target.host,
        port: target.port,
        path: target.basePath + path,
        headers: { host: target.url.host, 'user-agent': 'dyc-emulator-health' },
        agent: target.secure ? agents.https : agents.http,
        servername: target.url.hostname,
        timeout: PROBE_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(isAliveStatus(status) ? { ok: true, status } : { ok: false, problem: `status ${status}` });
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, problem: describeRemoteError(error, target.url, options) }));
  });
}

const UNTRUSTED_CA = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** What went wrong talking to a remote server, and what to change in the config. */
export function describeRemoteError(error: NodeJS.ErrnoException, url: URL, options: Pick<RemoteOptions, 'name' | 'configPath' | 'tls'>): string {
  const tlsKey = `services.${options.name}.tls`;
  const code = error.code ?? '';
  const host = url.hostname;
  const caNote = options.tls.ca === undefined ? '' : ` (tls.ca is ${options.tls.ca}, which did not sign it)`;
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return `TLS: ${host} presented a self-signed certificate${caNote}. Fix: set ${tlsKey}.ca to that certificate's PEM file, or ${tlsKey}.insecure to true.`;
  }
  if (UNTRUSTED_CA.has(code)) {
    return `TLS: ${host}'s certificate is signed by a CA this machine does not trust (${code})${caNote}. Fix: set ${tlsKey}.ca to the CA's PEM file, or ${tlsKey}.insecure to true.`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `TLS: ${host}'s certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'}. Fix: renew it, or set ${tlsKey}.insecure to true.`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: ${host}'s certificate is not for that name (${error.message}). Fix: use a host name the certificate lists in ${options.configPath}, or set ${tlsKey}.insecure to true.`;
  }
  if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    (code === 'EPROTO' && /wrong version|packet length/i.test(error.message))
  ) {
    return `TLS: ${url.host} does not speak TLS on that port. Fix: use http:// instead of https:// in ${options.configPath}.`;
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO' || /certificate|ssl|tls/i.test(error.message)) {
    return `TLS: the handshake with ${url.host} failed (${code || error.message}). Fix: check ${options.configPath} and ${tlsKey}.`;
  }
  switch (code) {
    case 'ENOTFOUND':
      return `DNS: the host name ${host} does not resolve (ENOTFOUND). Fix: check the host in ${options.configPath}, or connect the VPN that serves it.`;
    case 'EAI_AGAIN':
      return `DNS: looking up ${host} timed out (EAI_AGAIN). Fix: check this machine's network and resolver, or the host in ${options.configPath}.`;
    case 'ECONNREFUSED':
      return `connection refused by ${url.host} (ECONNREFUSED). Fix: start the server there, or correct the port in ${options.configPath}.`;
    case 'ECONNRESET':
      return `the connection to ${url.host} was reset before a complete response (ECONNRESET).`;
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `cannot reach ${url.host} (${code}). Fix: check the network path to it (VPN, firewall) or the address in ${options.configPath}.`;
    default:
      return `${error.message}${code ? ` (${code})` : ''}`;
  }
}
