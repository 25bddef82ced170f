import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { Instance } from './types.js';

/** Short: a refused connection costs nothing, and every start and reload waits for this. */
const PROBE_INTERVAL_MS = 20;
const PROBE_TIMEOUT_MS = 2_000;

/** The platform's liveness rule: 200, and also 404, count as alive. */
export function isAliveStatus(status: number): boolean {
  return status === 200 || status === 404;
}

/** One GET of the health path; resolves to the status or undefined when nothing answered. */
export function probe(host: string, port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: PROBE_TIMEOUT_MS, headers: { 'user-agent': 'dyc-emulator-health' } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Waits until the instance answers its health path, racing its exit and the start
 * timeout. Fails with the instance's last log lines, so the user sees why.
 */
export async function waitHealthy(instance: Instance, service: ServiceConfig, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + service.startTimeoutMs;
  let exited: string | undefined;
  void instance.exited.then((status) => {
    exited = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
  });
  let lastStatus: number | undefined;
  while (true) {
    if (signal?.aborted) throw signal.reason;
    if (exited !== undefined) {
      throw unhealthy(instance, service, `${instance.label} ${exited} before it answered GET ${service.healthcheck} on port ${instance.port}.`);
    }
    lastStatus = await probe(instance.host, instance.port, service.healthcheck);
    if (lastStatus !== undefined && isAliveStatus(lastStatus)) return;
    if (Date.now() > deadline) {
      const seen = lastStatus === undefined ? 'nothing answered' : `the last answer was ${lastStatus}`;
      throw unhealthy(
        instance,
        service,
        `${instance.label} did not become healthy in ${service.startTimeoutMs / 1000} s (cold start timeout): GET ${service.healthcheck} on port ${instance.port}, ${seen}.`,
      );
    }
    await sleep(PROBE_INTERVAL_MS);
  }
}

function unhealthy(instance: Instance, service: ServiceConfig, message: string): EmulatorError {
  const logs = instance.recentLogs();
  const tail = logs.length === 0 ? '  (it wrote nothing)' : logs.map((line) => `  | ${line}`).join('\n');
  return new EmulatorError('service_unhealthy', `${message}\nLast log lines of ${instance.label}:\n${tail}`, {
    fix:
      `Make the service listen on the port in $PORT (${instance.port}) and answer GET ${service.healthcheck} with 200 or 404, ` +
      `or raise services.${service.name}.startTimeout.`,
  });
}
