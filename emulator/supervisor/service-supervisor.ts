import { performance } from 'node:perf_hooks';
import type { ServiceConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Availability } from '../proxy/server.js';
import { waitHealthy } from '../runtimes/health.js';
import type { Instance, Runtime, StartContext } from '../runtimes/types.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A replica that stayed up this long is trusted again: its backoff starts over. */
const STABLE_AFTER_MS = 30_000;

type ReplicaState =
  | { kind: 'starting'; since: number }
  | { kind: 'ready'; instance: Instance; since: number }
  | { kind: 'crashed'; reason: string; restartAt: number }
  | { kind: 'stopped' };

/**
 * Keeps the replicas of one service running: starts them, waits for health,
 * restarts a crashed one with exponential backoff, and tells the proxy where
 * calls may go right now.
 */
export class ServiceSupervisor {
  private readonly replicas: ReplicaState[];
  private readonly instances = new Set<Instance>();
  private readonly backoff: number[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private next = 0;
  private stopped = false;

  constructor(
    readonly service: ServiceConfig,
    private readonly runtime: Runtime,
    private readonly logger: Logger,
    private readonly context: Omit<StartContext, 'replica'>,
  ) {
    this.replicas = Array.from({ length: service.replicas }, () => ({ kind: 'stopped' }));
    this.backoff = this.replicas.map(() => BACKOFF_START_MS);
  }

  /** Starts every replica and waits until all are healthy; throws the first failure. */
  async start(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    await Promise.all(this.replicas.map((_, index) => this.startReplica(index, signal)));
    this.logger.serviceEvent(this.service.name, `ready in ${Math.round(performance.now() - started)} ms (port ${this.ports().join(', ')})`, 'info');
  }

  availability(): Availability {
    const count = this.replicas.length;
    for (let i = 0; i < count; i++) {
      const state = this.replicas[(this.next + i) % count]!;
      if (state.kind === 'ready') {
        this.next = (this.next + i + 1) % count;
        return { state: 'ready', host: state.instance.host, port: state.instance.port };
      }
    }
    return { state: 'unavailable', reason: this.describeUnavailable() };
  }

  /** Direct URL of the first ready replica (for calls from the mini-program side). */
  url(): string | undefined {
    const ready = this.replicas.find((state) => state.kind === 'ready');
    return ready?.kind === 'ready' ? `http://${ready.instance.host}:${ready.instance.port}` : undefined;
  }

  ports(): number[] {
    return this.replicas.flatMap((state) => (state.kind === 'ready' ? [state.instance.port] : []));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    this.replicas.fill({ kind: 'stopped' });
    await Promise.allSettled([...this.instances].map((instance) => instance.stop()));
  }

  private async startReplica(index: number, signal?: AbortSignal): Promise<void> {
    this.replicas[index] = { kind: 'starting', since: Date.now() };
    const instance = await this.runtime.start(this.service, { ...this.context, replica: index + 1 });
    this.instances.add(instance);
    void instance.exited.then(() => this.instances.delete(instance));
    if (this.stopped) {
      await instance.stop();
      return;
    }
    try {
      await waitHealthy(instance, this.service, signal);
    } catch (error) {
      await instance.stop();
      throw error;
    }
    if (this.stopped) {
      await instance.stop();
      return;
    }
    const since = Date.now();
    this.replicas[index] = { kind: 'ready', instance, since };
    void instance.exited.then((status) => {
      const current = this.replicas[index];
      if (this.stopped || current?.kind !== 'ready' || current.instance !== instance) return;
      const how = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
      this.onCrash(index, `${instance.label} ${how}`, Date.now() - since);
    });
  }

  private onCrash(index: number, reason: string, upForMs: number): void {
    if (upForMs >= STABLE_AFTER_MS) this.backoff[index] = BACKOFF_START_MS;
    const delay = this.backoff[index]!;
    this.backoff[index] = Math.min(delay * 2, BACKOFF_MAX_MS);
    this.replicas[index] = { kind: 'crashed', reason, restartAt: Date.now() + delay };
    this.logger.serviceEvent(this.service.name, `${reason}; restarting in ${formatDelay(delay)}`, 'error');
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.stopped) return;
      this.startReplica(index).then(
        () => this.logger.serviceEvent(this.service.name, 'restarted', 'info'),
        (error: unknown) => {
          if (this.stopped) return;
          const message = error instanceof EmulatorError ? error.message.split('\n')[0]! : String(error);
          this.onCrash(index, message, 0);
        },
      );
    }, delay);
    this.restartTimers.add(timer);
  }

  private describeUnavailable(): string {
    const state = this.replicas[0]!;
    switch (state.kind) {
      case 'starting':
        return 'it is starting';
      case 'crashed':
        return `it crashed (${state.reason}) and restarts in ${formatDelay(Math.max(0, state.restartAt - Date.now()))}`;
      case 'stopped':
        return 'it is not running';
      case 'ready':
        return 'it is running';
    }
  }
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}
