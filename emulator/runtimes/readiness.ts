/**
 * When a started instance counts as ready, as one small interface (testcontainers'
 * wait strategies): an HTTP health probe for services, a log line for the docker router.
 * `waitReady` races the check against the instance's exit, a timeout and an AbortSignal,
 * and says which of them won and why the check was not satisfied.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExitStatus, Instance } from './types.js';

export interface ReadinessCheck {
  /** What is awaited, for messages: `GET /v1/ping on port 8001`. */
  readonly description: string;
  /** Resolves once ready; stops trying when `signal` aborts. */
  until(instance: Instance, signal: AbortSignal): Promise<void>;
  /** Why the check was not satisfied the last time it looked (`connection refused`, `the answer was 500`). */
  lastFailure(): string | undefined;
}

/** Why an instance did not become ready: it exited first, or time ran out (with what the check saw last). */
export type NotReady = { reason: 'exited'; status: ExitStatus } | { reason: 'timeout'; lastFailure: string | undefined };

/**
 * Waits for `check`, racing the instance's exit and `timeoutMs`. Resolves undefined when
 * ready, or to why not; throws `signal.reason` when aborted.
 */
export async function waitReady(
  instance: Instance,
  check: ReadinessCheck,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<NotReady | undefined> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw options.signal.reason;
    const outcome = await Promise.race([
      check.until(instance, stop.signal).then(() => 'ready' as const),
      instance.exited.then((status) => ({ status })),
      sleep(options.timeoutMs, 'timeout' as const, { ref: false, signal: stop.signal }),
    ]);
    if (options.signal?.aborted) throw options.signal.reason;
    if (outcome === 'ready') return undefined;
    if (outcome === 'timeout') return { reason: 'timeout', lastFailure: check.lastFailure() };
    return { reason: 'exited', status: outcome.status };
  } catch (error) {
    // The sleep (or the check) rejects with the abort reason when the caller aborted.
    if (options.signal?.aborted) throw options.signal.reason;
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}

/** Short: a refused connection costs nothing, and every start and reload waits for this. */
const PROBE_INTERVAL_MS = 20;
const PROBE_TIMEOUT_MS = 2_000;

/** The platform's liveness rule: 200, and also 404, count as alive. */
export function isAliveStatus(status: number): boolean {
  return status === 200 || status === 404;
}

/** One GET of the health path: the status, or what went wrong in words. */
export function probe(host: string, port: number, path: string): Promise<{ status: number } | { failure: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: PROBE_TIMEOUT_MS, headers: { 'user-agent': 'dyc-emulator-health' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ failure: describeProbeError(error) }));
  });
}

function describeProbeError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens on the port yet)';
    case 'ECONNRESET':
      return 'the connection was reset';
    default:
      return error.code === undefined ? error.message : `${error.message} (${error.code})`;
  }
}

/**
 * Ready when GET `path` answers 200 or 404 (the platform's liveness probe). An instance
 * that can move (`useHost`: a process) and gets no answer on 127.0.0.1 is also probed
 * on ::1: Node's `listen(PORT, 'localhost')` binds ::1 only where localhost is IPv6
 * first (macOS). If it answers there, it is called there from then on; `notice` says so.
 */
export function httpHealthCheck(path: string, port: number, notice?: (message: string) => void): ReadinessCheck {
  let last: string | undefined;
  return {
    description: `GET ${path} on port ${port}`,
    lastFailure: () => last,
    async until(instance, signal) {
      // Ends when ready, or when `waitReady` has decided otherwise and aborts it.
      while (!signal.aborted) {
        const result = await probe(instance.host, instance.port, path);
        if ('status' in result && isAliveStatus(result.status)) return;
        if (!('status' in result) && instance.useHost !== undefined && instance.host === '127.0.0.1') {
          const v6 = await probe('::1', instance.port, path);
          if ('status' in v6 && isAliveStatus(v6.status)) {
            // A server on `::` (both families) may have come up between the two probes: stay on IPv4 then.
            const again = await probe(instance.host, instance.port, path);
            if ('status' in again && isAliveStatus(again.status)) return;
            instance.useHost('::1');
            notice?.(`answers on [::1]:${instance.port} only (it listens on "localhost", which is IPv6 here); calls go there.`);
            return;
          }
        }
        last = 'status' in result ? `the answer was ${result.status}` : result.failure;
        await sleep(PROBE_INTERVAL_MS, undefined, { signal }).catch(() => {});
      }
    },
  };
}

/** Ready once the instance has written a line matching `line` (`seen` resolves then). */
export function logLineCheck(line: RegExp, seen: Promise<void>): ReadinessCheck {
  return {
    description: `a line matching ${line}`,
    lastFailure: () => undefined,
    until: () => seen,
  };
}
