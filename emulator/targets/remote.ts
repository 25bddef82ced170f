import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { closeServer, listen } from '../util/net.js';
import { endToEnd, sendError } from './http-util.js';
import { Rotation, type Algorithm, type Member } from './rotation.js';

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
  readonly member: Member;
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
  const rotation = new Rotation(
    options.targets.map((target) => ({ label: target.url, weight: target.weight, fallback: target.fallback })),
    { algorithm: options.loadBalancer.algorithm, maxFailures: options.loadBalancer.maxFailures },
  );
  const targets: Target[] = options.targets.map((config, index) => {
    const url = new URL(config.url);
    return { url, member: rotation.members[index]!, basePath: url.pathname.replace(/\/+$/, ''), secure: url.protocol === 'https:' };
  });
  const several = targets.length > 1;
  const unhealthyStatus = new Set(options.loadBalancer.unhealthyStatus);
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const describe = (target: Target): string => (several ? `target ${target.url.href}` : target.url.href);

  const leave = (target: Target, why: string): void => {
    logger.serviceEvent(options.name, `${describe(target)} left the rotation (${why})`, 'warn');
    if (options.healthcheck === undefined) {
      // Nothing probes it: it is tried again after a while, as Envoy's outlier ejection does.
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!stopped && rotation.readmit(target.member)) logger.serviceEvent(options.name, `${describe(target)} is back in the rotation (ejection time over)`, 'info');
      }, options.ejectionMs ?? 10_000);
      timers.add(timer);
    }
  };

  const onFailure = (target: Target, why: string): void => {
    if (rotation.failed(target.member)) leave(target, `${target.member.failures} failures in a row, the last: ${why}`);
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const target = targets.length === 1 && options.healthcheck === undefined && options.loadBalancer.maxFailures === 0 ? targets[0] : pickTarget();
    if (target === undefined) {
      const out = targets.map((t) => `${t.url.href} (${t.member.failures > 0 ? `${t.member.failures} failures` : 'health check failing'})`).join(', ');
      return sendError(req, res, options.id, 'no_healthy_target', `No target of "${options.name}" is in the rotation: ${out}. Calls resume when a health check passes.`);
    }
    relay(req, res, target);
  }

  function pickTarget(): Target | undefined {
    const member = rotation.pick();
    return member === undefined ? undefined : targets[member.index];
  }

  function relay(req: IncomingMessage, res: ServerResponse, target: Target): void {
    const headers = endToEnd(req.rawHeaders, new Set(['host']));
    headers.push('Host', target.url.host);
    const path = target.basePath + (req.url ?? '/');
    const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    const member = target.member;
    member.active++;
    let settled = false;
    const settle = (failure: string | undefined): void => {
      if (settled) return;
      settled = true;
      member.active--;
      if (failure === undefined) rotation.succeeded(member);
      else onFailure(target, failure);
    };
    const attempt = (retry: boolean): void => {
      const request = (target.secure ? https : http).request({
        protocol: target.url.protocol,
        host: target.url.hostname.replace(/^\[|\]$/g, ''),
        port: target.url.port || (target.secure ? 443 : 80),
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
        settle(unhealthyStatus.has(status) ? `status ${status}` : undefined);
        res.writeHead(status, upstream.statusMessage, endToEnd(upstream.rawHeaders));
        upstream.pipe(res);
        upstream.once('close', () => {
          if (!upstream.complete) res.destroy();
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (res.headersSent) return void res.destroy();
        // A pooled connection the server closed while idle: safe to try once more without a body.
        if (retry && bodyless && request.reusedSocket && error.code === 'ECONNRESET') return attempt(false);
        if (res.destroyed) return settle('the caller gave up (proxy.callTimeout?) before a response');
        const problem = describeRemoteError(error, target.url, options);
        settle(problem.split(':')[0]);
        sendError(req, res, options.id, 'upstream_error', `${options.name} (${target.url.href}): ${problem}`);
      });
      // The caller (the proxy) went away, e.g. its call timeout: abort the remote call too.
      res.once('close', () => {
        if (!res.writableFinished) {
          request.destroy();
          settle('no response before the caller gave up (proxy.callTimeout)');
        }
      });
      if (bodyless) request.end();
      else req.pipe(request);
    };
    attempt(true);
  }

  async function probeAll(initial: boolean): Promise<void> {
    await Promise.all(
      targets.map(async (target) => {
        const result = await probeTarget(target, options.healthcheck!, agents, options);
        if (stopped) return;
        if (result.ok) {
          if (rotation.readmit(target.member) || initial) {
            if (!initial || several) logger.serviceEvent(options.name, `${describe(target)} ${initial ? 'is healthy' : 'is back in the rotation'} (GET ${options.healthcheck} → ${result.status})`, 'info');
          }
        } else if (rotation.eject(target.member) || initial) {
          logger.serviceEvent(options.name, `${describe(target)} ${initial ? 'is not healthy yet' : 'left the rotation'}: GET ${options.healthcheck} → ${result.problem}`, 'warn');
          target.member.inRotation = false;
        }
      }),
    );
  }

  const server = http.createServer(handle);
  server.keepAliveTimeout = 65_000; // longer than the proxy's idle pool time, so it never reuses a closing connection
  server.requestTimeout = 0;
  await listen(server, 0, '127.0.0.1', `The relay of service "${options.name}"`);
  const port = (server.address() as AddressInfo).port;

  if (options.healthcheck !== undefined) {
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
    targets: () =>
      targets.map((target) => ({
        url: target.url.href,
        weight: target.member.weight,
        fallback: target.member.fallback,
        inRotation: target.member.inRotation,
        active: target.member.active,
        failures: target.member.failures,
      })),
    stop() {
      stopping ??= (async () => {
        stopped = true;
        for (const timer of timers) clearTimeout(timer);
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
        host: target.url.hostname.replace(/^\[|\]$/g, ''),
        port: target.url.port || (target.secure ? 443 : 80),
        path: target.basePath + path,
        headers: { host: target.url.host, 'user-agent': 'dyc-emulator-health' },
        agent: target.secure ? agents.https : agents.http,
        servername: target.url.hostname,
        timeout: PROBE_TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        // The platform's liveness rule: 200, and also 404, count as alive.
        resolve(status === 200 || status === 404 ? { ok: true, status } : { ok: false, problem: `status ${status}` });
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, problem: describeRemoteError(error, target.url, options) }));
  });
}

const UNTRUSTED_CA = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT']);

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
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || (code === 'EPROTO' && /wrong version|packet length/i.test(error.message))) {
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
