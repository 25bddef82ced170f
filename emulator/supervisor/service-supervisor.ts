import { performance } from 'node:perf_hooks';
import type { RunnableService } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { httpHealthCheck, waitReady } from '../runtimes/readiness.js';
import { describeExit, formatLogLines, type Availability, type Instance, type Runtime, type StartContext } from '../runtimes/types.js';
import { httpUrl } from '../util/addresses.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A replica that stayed up this long is trusted again: its backoff starts over. */
const STABLE_AFTER_MS = 30_000;

type ReplicaState =
  | { kind: 'starting' }
  | { kind: 'ready'; instance: Instance; since: number }
  | { kind: 'crashed'; reason: string; restartAt: number; timer: NodeJS.Timeout }
  | { kind: 'failed'; reason: string }
  | { kind: 'stopped' };

/** What the dashboard shows of a service (SPEC: Dashboard → Services). */
export type ServiceState = 'starting' | 'healthy' | 'restarting' | 'crashed' | 'failed' | 'stopped';

export interface ReplicaSnapshot {
  readonly label: string;
  readonly state: ServiceState;
  readonly pid?: number;
  readonly containerId?: string;
  readonly host?: string;
  readonly port?: number;
  /** Epoch ms since when it has been healthy. */
  readonly since?: number;
  /** Why it crashed or failed. */
  readonly reason?: string;
  /** Epoch ms of the next restart of a crashed replica. */
  readonly restartAt?: number;
  /** The health check that let it serve (answered 200 or 404): path, epoch ms. */
  readonly health?: { readonly path: string; readonly at: number };
}

export interface ServiceSnapshot {
  readonly name: string;
  readonly state: ServiceState;
  /** Restarts after a crash plus reloads (file changes, config edits, restarts asked for). */
  readonly restarts: number;
  readonly replicas: readonly ReplicaSnapshot[];
}

export interface SupervisorOptions {
  runtime: Runtime;
  logger: Logger;
  context: Omit<StartContext, 'replica'>;
  /** Resolves when no call is in flight to the instance any more (before it is stopped). */
  drain(instance: Instance): Promise<void>;
  /** The service's stable address (its published port), for the "ready" line. */
  publishedUrl?(): string | undefined;
}

/**
 * Keeps the replicas of one service running: starts them, waits for health,
 * restarts a crashed one with exponential backoff, reloads them without downtime,
 * and tells whoever routes calls where they may go right now.
 */
export class ServiceSupervisor {
  private replicas: ReplicaState[] = [];
  private readonly instances = new Set<Instance>();
  private backoff: number[] = [];
  private next = 0;
  private readyList: readonly Instance[] = [];
  private stopped = false;
  private reloading: Promise<boolean> | undefined;
  private queued: { service: RunnableService; reason: string; done: Promise<boolean> } | undefined;
  /** Set while a stop-then-start reload runs: calls wait on it instead of getting 503. */
  private hold: { promise: Promise<void>; release: () => void } | undefined;
  /** Woken whenever a replica's state changes (see `ready`). */
  private readonly waiters = new Set<() => void>();
  private restarts = 0;
  /** Set once the first start succeeded: a replica starting after that is restarting. */
  private running = false;
  private readonly health = new WeakMap<Instance, { path: string; at: number }>();

  constructor(
    private service: RunnableService,
    private readonly options: SupervisorOptions,
  ) {}

  get name(): string {
    return this.service.name;
  }

  /** Starts every replica and waits until all are healthy; throws the first failure. */
  async start(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    this.replicas = Array.from({ length: this.service.replicas }, () => ({ kind: 'starting' }));
    this.backoff = this.replicas.map(() => BACKOFF_START_MS);
    const results = await Promise.allSettled(this.replicas.map((_, index) => this.startInstance(this.service, index, signal)));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) {
      await Promise.allSettled(results.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)));
      const reason = failure.reason instanceof EmulatorError ? failure.reason.message.split('\n')[0]! : String(failure.reason);
      this.replicas = this.replicas.map(() => ({ kind: 'failed', reason }));
      throw failure.reason;
    }
    results.forEach((result, index) => this.setReady(index, (result as PromiseFulfilledResult<Instance>).value));
    this.running = true;
    const published = this.options.publishedUrl?.();
    const where = published === undefined ? `port ${this.ports().join(', ')}` : `${published}, instance port ${this.ports().join(', ')}`;
    this.options.logger.serviceEvent(this.service.name, `ready in ${Math.round(performance.now() - started)} ms (${where})`, 'info');
  }

  /**
   * Zero-downtime reload, with new code or a new definition: new instances start
   * beside the old ones; once all are healthy, calls switch to them, calls in flight
   * on the old ones finish, then the old ones stop. If the new ones fail, the old
   * ones keep serving. A reload asked for during another runs once after it.
   * Resolves to whether the reload took effect.
   */
  reload(reason: string, service: RunnableService = this.service): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (this.reloading) {
      if (this.queued) {
        this.queued.service = service;
        if (!this.queued.reason.includes(reason)) this.queued.reason += `, ${reason}`;
        return this.queued.done;
      }
      const queued = { service, reason, done: undefined as unknown as Promise<boolean> };
      queued.done = this.reloading.then(() => {
        this.queued = undefined;
        return this.reload(queued.reason, queued.service);
      });
      this.queued = queued;
      return queued.done;
    }
    const inPlace = reloadsInPlace(this.service, service);
    this.reloading = (inPlace ? this.restartInPlace(reason, service) : this.swap(reason, service)).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
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
    const reason = this.describeUnavailable();
    return this.hold === undefined ? { state: 'unavailable', reason } : { state: 'unavailable', reason, until: this.hold.promise };
  }

  /**
   * Like `availability`, but waits (up to `timeoutMs`) while the service is starting,
   * reloading or restarting after a crash, so that a caller sees a delay instead of an
   * error. Resolves at once when it has failed or is stopped.
   */
  async ready(timeoutMs: number): Promise<Availability> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const availability = this.availability();
      const over = this.replicas.length > 0 && this.replicas.every((state) => state.kind === 'failed' || state.kind === 'stopped'); // not yet started: wait
      if (availability.state === 'ready' || this.stopped || over) return availability;
      const left = deadline - Date.now();
      if (left <= 0) return availability;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /**
   * The ready instances, for a load balancer above (emulator/calls/picker.ts): the same
   * array while none comes or goes, so a caller can tell a change by identity.
   */
  readyInstances(): readonly Instance[] {
    let count = 0;
    let same = true;
    for (const state of this.replicas) {
      if (state.kind !== 'ready') continue;
      if (this.readyList[count] !== state.instance) same = false;
      count++;
    }
    if (!same || count !== this.readyList.length) this.readyList = this.replicas.flatMap((state) => (state.kind === 'ready' ? [state.instance] : []));
    return this.readyList;
  }

  /** Direct URL of the first ready replica (for calls from the mini-program side). */
  url(): string | undefined {
    const ready = this.replicas.find((state) => state.kind === 'ready');
    return ready?.kind === 'ready' ? httpUrl(ready.instance.host, ready.instance.port) : undefined;
  }

  ports(): number[] {
    return this.replicas.flatMap((state) => (state.kind === 'ready' ? [state.instance.port] : []));
  }

  /** The state of the service and of each replica, for the dashboard. */
  snapshot(): ServiceSnapshot {
    const label = (index: number): string => (this.replicas.length > 1 ? `${this.service.name}#${index + 1}` : this.service.name);
    const replicas = this.replicas.map((state, index): ReplicaSnapshot => {
      switch (state.kind) {
        case 'ready': {
          const { instance } = state;
          return {
            label: instance.label,
            state: 'healthy',
            pid: instance.pid,
            containerId: instance.containerId,
            host: instance.host,
            port: instance.port,
            since: state.since,
            health: this.health.get(instance),
          };
        }
        case 'starting':
          return { label: label(index), state: this.running ? 'restarting' : 'starting' };
        case 'crashed':
          return { label: label(index), state: 'crashed', reason: state.reason, restartAt: state.restartAt };
        case 'failed':
          return { label: label(index), state: 'failed', reason: state.reason };
        default:
          return { label: label(index), state: 'stopped' };
      }
    });
    // The worst replica speaks for the service; a reload in progress shows as restarting.
    const order: ServiceState[] = ['failed', 'crashed', 'restarting', 'starting', 'stopped', 'healthy'];
    let state: ServiceState = replicas.length === 0 ? 'stopped' : order.find((candidate) => replicas.some((replica) => replica.state === candidate))!;
    if (this.stopped) state = 'stopped';
    else if (this.reloading && state === 'healthy') state = 'restarting';
    return { name: this.service.name, state, restarts: this.restarts, replicas };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.replicas) if (state.kind === 'crashed') clearTimeout(state.timer);
    this.replicas = this.replicas.map(() => ({ kind: 'stopped' }));
    this.releaseHold();
    this.notify();
    await Promise.allSettled([...this.instances].map((instance) => instance.stop()));
  }

  private async swap(reason: string, service: RunnableService): Promise<boolean> {
    const started = performance.now();
    const { logger } = this.options;
    logger.serviceEvent(service.name, `reloading (${reason}): the running instance serves until the new one is healthy`, 'info');
    const count = service.replicas;
    const results = await Promise.allSettled(Array.from({ length: count }, (_, index) => this.startInstance(service, index)));
    const fresh = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure || this.stopped) {
      await Promise.allSettled(fresh.map((instance) => instance.stop()));
      if (failure) {
        logger.serviceEvent(service.name, `reload failed; the previous version keeps serving. ${describeFailure(failure.reason)}`, 'error');
      }
      return false;
    }

    // Switch: from here on new calls go to the new instances.
    const previous = this.replicas;
    this.service = service;
    this.replicas = fresh.map(() => ({ kind: 'starting' }));
    this.backoff = fresh.map(() => BACKOFF_START_MS);
    fresh.forEach((instance, index) => this.setReady(index, instance));
    this.restarts++;
    this.running = true;
    logger.serviceEvent(service.name, `reloaded in ${Math.round(performance.now() - started)} ms (${reason})`, 'info');

    await this.retire(previous);
    return true;
  }

  /**
   * The reload of a service whose code listens on a fixed port: old and new cannot run
   * side by side, so the old instance finishes its calls and stops, then the new one
   * starts. Calls that arrive meanwhile wait for it (the proxy holds them on `until`),
   * so callers see a delay rather than errors. If the new one fails, nothing serves
   * until the next save: the old code is gone from disk.
   */
  private async restartInPlace(reason: string, service: RunnableService): Promise<boolean> {
    const started = performance.now();
    const { logger } = this.options;
    logger.serviceEvent(service.name, `reloading (${reason}): stop, then start, as its port ${service.port} is fixed; calls wait meanwhile`, 'info');
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.hold = { promise, release };
    const previous = this.replicas;
    this.replicas = Array.from({ length: service.replicas }, () => ({ kind: 'starting' }));
    this.notify();
    await this.retire(previous);
    const results = await Promise.allSettled(this.replicas.map((_, index) => this.startInstance(service, index)));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    this.service = service;
    if (failure || this.stopped) {
      await Promise.allSettled(results.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)));
      if (failure && !this.stopped) {
        const first = failure.reason instanceof EmulatorError ? failure.reason.message.split('\n')[0]! : String(failure.reason);
        this.replicas = this.replicas.map(() => ({ kind: 'failed', reason: first }));
        logger.serviceEvent(
          service.name,
          `reload failed; nothing serves it until the next save (its port ${service.port} is fixed, so the previous version could not keep running beside it). ${describeFailure(failure.reason)}`,
          'error',
        );
      }
      this.releaseHold();
      this.notify();
      return false;
    }
    this.backoff = results.map(() => BACKOFF_START_MS);
    results.forEach((result, index) => this.setReady(index, (result as PromiseFulfilledResult<Instance>).value));
    this.restarts++;
    this.releaseHold();
    logger.serviceEvent(service.name, `reloaded in ${Math.round(performance.now() - started)} ms (${reason})`, 'info');
    return true;
  }

  /** Stops replaced replicas once the calls they are serving have finished; a pending crash restart is cancelled. */
  private async retire(replaced: readonly ReplicaState[]): Promise<void> {
    await Promise.allSettled(
      replaced.map(async (state) => {
        if (state.kind === 'crashed') clearTimeout(state.timer);
        if (state.kind !== 'ready') return;
        await this.options.drain(state.instance);
        await state.instance.stop();
      }),
    );
  }

  private releaseHold(): void {
    this.hold?.release();
    this.hold = undefined;
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Starts one instance and waits for its health check; stops it again on failure. */
  private async startInstance(service: RunnableService, index: number, signal?: AbortSignal): Promise<Instance> {
    const instance = await this.options.runtime.start(service, { ...this.options.context, replica: index + 1 });
    this.instances.add(instance);
    void instance.exited.then(() => this.instances.delete(instance));
    try {
      if (this.stopped) throw new EmulatorError('service_start_failed', `${service.name} was stopped while starting.`);
      await waitHealthy(instance, service, signal, (message) => this.options.logger.serviceEvent(instance.label, message, 'warn'));
      this.health.set(instance, { path: service.healthcheck, at: Date.now() });
      return instance;
    } catch (error) {
      await instance.stop();
      throw error;
    }
  }

  private setReady(index: number, instance: Instance): void {
    if (this.stopped) {
      void instance.stop();
      return;
    }
    const since = Date.now();
    this.replicas[index] = { kind: 'ready', instance, since };
    this.notify();
    void instance.exited.then((status) => {
      const current = this.replicas[index];
      // Stopped on purpose (stop, reload) once it is no longer the current instance.
      if (this.stopped || current?.kind !== 'ready' || current.instance !== instance) return;
      this.onCrash(index, `${instance.label} ${describeExit(status)}`, Date.now() - since);
    });
  }

  private onCrash(index: number, reason: string, upForMs: number): void {
    if (upForMs >= STABLE_AFTER_MS) this.backoff[index] = BACKOFF_START_MS;
    const delay = this.backoff[index] ?? BACKOFF_START_MS;
    this.backoff[index] = Math.min(delay * 2, BACKOFF_MAX_MS);
    const replicas = this.replicas;
    const timer = setTimeout(() => {
      // A reload replaced this replica set meanwhile: nothing to restart.
      if (this.stopped || this.replicas !== replicas) return;
      this.restarts++;
      this.replicas[index] = { kind: 'starting' };
      this.startInstance(this.service, index).then(
        (instance) => {
          if (this.replicas !== replicas) return void instance.stop();
          this.setReady(index, instance);
          this.options.logger.serviceEvent(this.service.name, 'restarted', 'info');
        },
        (error: unknown) => {
          if (this.stopped || this.replicas !== replicas) return;
          // The first line only: it is repeated in every "restarting in" line (the full error was the crash's).
          const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
          this.onCrash(index, message, 0);
        },
      );
    }, delay);
    this.replicas[index] = { kind: 'crashed', reason, restartAt: Date.now() + delay, timer };
    this.notify();
    this.options.logger.serviceEvent(this.service.name, `${reason}; restarting in ${formatDelay(delay)}`, 'error');
  }

  private describeUnavailable(): string {
    const state = this.replicas[0];
    switch (state?.kind) {
      case 'starting':
        return 'it is starting';
      case 'crashed':
        return `it crashed (${state.reason}) and restarts in ${formatDelay(Math.max(0, state.restartAt - Date.now()))}`;
      case 'failed':
        return `it failed to start (${state.reason}); save a file of it to try again`;
      case 'ready':
        return 'it is running';
      default:
        return 'it is not running';
    }
  }
}

/**
 * Waits until the instance answers its health path (200 or 404), racing its exit and the
 * start timeout. Fails with the instance's last log lines, so the user sees why.
 */
async function waitHealthy(instance: Instance, service: RunnableService, signal?: AbortSignal, notice?: (message: string) => void): Promise<void> {
  const check = httpHealthCheck(service.healthcheck, instance.port, notice);
  // Still no answer after a moment: say where the service listens, if not on $PORT (Flask's 5000, uvicorn's 8000).
  const hint = setTimeout(() => {
    const elsewhere = listensElsewhere(instance);
    if (elsewhere !== undefined)
      notice?.(`nothing answers on $PORT (${instance.port}) yet, but it listens on ${elsewhere}. ${listenFix(service, instance, elsewhere)}`);
  }, LISTEN_HINT_AFTER_MS);
  let notReady: Awaited<ReturnType<typeof waitReady>>;
  try {
    notReady = await waitReady(instance, check, { timeoutMs: service.startTimeoutMs, ...(signal === undefined ? {} : { signal }) });
  } finally {
    clearTimeout(hint);
  }
  if (notReady === undefined) return;
  const elsewhere = notReady.reason === 'timeout' ? listensElsewhere(instance) : undefined;
  const message =
    notReady.reason === 'exited'
      ? `${instance.label} ${describeExit(notReady.status)} before it answered ${check.description}.`
      : `${instance.label} did not become healthy in ${service.startTimeoutMs / 1000} s (cold start timeout): ${check.description}, ${notReady.lastFailure ?? 'nothing answered'}${
          elsewhere === undefined ? '' : `; it listens on ${elsewhere}`
        }.`;
  throw new EmulatorError('service_unhealthy', `${message}\nLast log lines of ${instance.label}:\n${formatLogLines(instance.recentLogs())}`, {
    fix: unhealthyFix(service, instance, notReady.reason === 'exited' ? notReady.status.code : undefined, elsewhere),
  });
}

/** After this long without an answer, look once at where the service really listens. */
const LISTEN_HINT_AFTER_MS = 2_000;

/** `5000` or `5000, 5001` when the process group listens on ports but not on its $PORT. */
function listensElsewhere(instance: Instance): string | undefined {
  const ports = instance.listeningPorts?.() ?? [];
  if (ports.length === 0 || ports.includes(instance.port)) return undefined;
  return ports.join(', ');
}

function listenFix(service: RunnableService, instance: Instance, elsewhere: string): string {
  const first = elsewhere.split(',')[0];
  return `Set "port": ${first} in services.${service.name} (the emulator then passes PORT=${first} and probes there), or make it listen on the port in $PORT (${instance.port}).`;
}

/** What to do, by what went wrong: an exit code with a meaning, a port of its own, or the general advice. */
function unhealthyFix(service: RunnableService, instance: Instance, exitCode: number | null | undefined, elsewhere: string | undefined): string {
  const command = service.kind === 'process' ? ` ("${service.command}")` : '';
  if (exitCode === 0) {
    return `A service must keep running and serve HTTP: make services.${service.name}.command${command} start the server in the foreground, not a script that starts it in the background and returns.`;
  }
  if (exitCode === 127) {
    return `The shell could not find the program of services.${service.name}.command${command}: check its spelling, and that it is installed and on PATH (services inherit the emulator's PATH).`;
  }
  if (exitCode === 126) return `Make the program of services.${service.name}.command${command} executable (chmod +x), or run it through its interpreter.`;
  if (elsewhere !== undefined) return listenFix(service, instance, elsewhere);
  return (
    `Make the service listen on the port in $PORT (${instance.port}) and answer GET ${service.healthcheck} with 200 or 404, ` +
    `or raise services.${service.name}.startTimeout.`
  );
}

/**
 * Whether a reload must stop the running instance before starting the new one: a
 * process that listens on a fixed port cannot run twice at once. Containers can (each
 * has its own address), and so can processes on free ports.
 */
export function reloadsInPlace(running: RunnableService, next: RunnableService): boolean {
  return running.kind === 'process' && next.kind === 'process' && running.port !== undefined && running.port === next.port;
}

/**
 * A failed start, for a log line that follows the service's own output: its first
 * line and the fix. The last log lines that the error carries are left out, because
 * they were just printed as they came (a stack trace would show twice).
 */
function describeFailure(error: unknown): string {
  if (!(error instanceof EmulatorError)) return String(error);
  const first = error.message.split('\nLast log lines of')[0]!;
  return `${first}${error.fix ? ` Fix: ${error.fix}` : ''}`;
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}
