// One call, whichever listener it came in on: decide → pick → begin → (the path's
// exchange) → end. Both proxy paths use this object; neither repeats its logic.

import { performance } from 'node:perf_hooks';
import type { EmulatorConfig } from '../config/types.js';
import { InFlight } from '../util/in-flight.js';
import type { Mutable } from '../util/types.js';
import type { CallRecord, TryRecord } from '../logging/logger.js';
import { decide, route, withPolicies } from './decide.js';
import { MINI_PROGRAM, sameControl } from './entry.js';
import type { Availability, ServiceDirectory } from './directory.js';
import { PROXY_ERRORS as STATUS_OF, type CallError, type CallErrorCode, type ProxyErrorCode } from './errors.js';
import { CallDetailsBuilder, type CallObserver } from './record.js';
import type { AttemptOutcome, CallPlan, CallPolicies, CallRequest, CallSource, Decision, EntryControl } from './types.js';
import { directoryPicker, type UpstreamPicker } from './upstream.js';

export interface CallPipelineOptions {
  readonly directory: ServiceDirectory;
  /** Default: the directory's own choice (round-robin over healthy replicas). */
  readonly picker?: UpstreamPicker;
  readonly policies?: CallPolicies;
  /** Receives every CallRecord, once per call. */
  readonly record: (record: CallRecord) => void;
}

/** The last decision of a connection: it usually makes the same call again and again. */
export interface DecisionMemo {
  host?: string;
  /** Through the entry: the control headers the decision was made for. */
  control?: EntryControl | undefined;
  config?: EmulatorConfig;
  decision?: Decision;
}

const roundTenth = (ms: number): number => Math.round(ms * 10) / 10;
const MB = 1024 * 1024;

export class CallPipeline {
  private readonly picker: UpstreamPicker;
  /** Set by whoever wants call details (the dashboard); undefined costs nothing. */
  observer: CallObserver | undefined;
  // Calls in flight per upstream "host:port", so a reload can wait for an old instance to drain.
  private readonly inFlight = new InFlight();

  constructor(readonly options: CallPipelineOptions) {
    this.picker = options.picker ?? directoryPicker(options.directory);
  }

  config(): EmulatorConfig {
    return this.options.directory.config();
  }

  /** Step 1. With a memo, a decision is reused while host, config and caller stay the same and no policy is active. */
  decide(source: CallSource, request: CallRequest, memo?: DecisionMemo): Decision {
    const config = this.options.directory.config();
    const { policies } = this.options;
    if (memo === undefined) return decide(config, source, request, policies);
    // The routing is cached per connection (through the entry, per control headers, not Host);
    // the policies (per method, path, or call) are asked each time.
    const same = source.via === 'entry' ? sameControl(memo.control, request.control) : memo.host === request.host;
    if (!same || memo.config !== config || memo.decision === undefined) {
      memo.decision = route(config, source, request);
      memo.host = request.host;
      memo.control = request.control;
      memo.config = config;
    }
    const routed = memo.decision;
    if (routed.kind !== 'call' || policies === undefined || !policies.active(config)) return routed;
    return withPolicies(config, routed.plan, request, policies);
  }

  /** Step 2. */
  pick(plan: CallPlan, request: CallRequest): Availability {
    return this.picker.pick(plan, request);
  }

  /** Step 3: the call starts (in-flight count, clock, details when observed). `key` is `host:port` of the instance. */
  begin(source: CallSource, request: CallRequest, plan: CallPlan, key: string | undefined, started = performance.now()): Call {
    if (key !== undefined) this.entered(key);
    // An observer may take only some calls (the dashboard takes a bounded number a second).
    const observed = this.observer !== undefined && (this.observer.wants?.() ?? true);
    return new Call(this, source, request, plan, key, started, observed ? new CallDetailsBuilder(started) : undefined);
  }

  /** A request the emulator answered itself (routing error, 503, bad request): its one record. */
  refused(
    source: CallSource,
    request: CallRequest,
    error: CallError,
    names: { from?: string | undefined; to?: string | undefined } = {},
    started = performance.now(),
    arrived = Date.now(),
  ): CallRecord {
    return this.recordOther(source, request, STATUS_OF[error.code], error.code, started, arrived, names);
  }

  /** The record of what is not an inner call (pass-through, CONNECT) or never became one: `to` unset unless named. */
  recordOther(
    source: CallSource,
    request: CallRequest,
    status: number,
    error: ProxyErrorCode | undefined,
    started: number,
    arrived: number,
    names: { from?: string | undefined; to?: string | undefined } = {},
  ): CallRecord {
    return this.emit({
      from: names.from ?? source.caller?.name ?? (source.via === 'entry' ? MINI_PROGRAM : undefined),
      to: names.to,
      host: request.host,
      method: request.method,
      path: request.path,
      status,
      error,
      durationMs: roundTenth(performance.now() - started),
      time: arrived,
    });
  }

  /** Resolves once no call is in flight to host:port (or after `timeoutMs`). */
  whenIdle(host: string, port: number, timeoutMs: number): Promise<void> {
    return this.inFlight.whenIdle(`${host}:${port}`, timeoutMs);
  }

  /** @internal A call (or its next try) went to host:port. */
  entered(key: string): void {
    this.inFlight.enter(key);
  }

  /** @internal A call (or its last try there) left host:port. */
  ended(key: string): void {
    this.inFlight.leave(key);
  }

  /** @internal */
  emit(record: CallRecord): CallRecord {
    this.options.record(record);
    return record;
  }
}

/** One call in flight. */
export class Call {
  readonly arrived = Date.now();
  /** 1 for the first attempt. */
  attempt = 1;
  /** Each attempt when a retry rule applies: for the record's `tries`. */
  private tries: TryRecord[] | undefined;
  /** Why the retry rule wanted another try and got none, for the record's actions. */
  private notRetried: string | undefined;
  private record: CallRecord | undefined;

  constructor(
    private readonly pipeline: CallPipeline,
    readonly source: CallSource,
    readonly request: CallRequest,
    readonly plan: CallPlan,
    /** `host:port` of the instance of the current try (it counts this call in flight); undefined when a fault answers instead of one. */
    private current: string | undefined,
    readonly started: number,
    /** Present only when an observer listens: the paths feed it headers, body bytes and timing marks. */
    readonly details: CallDetailsBuilder | undefined,
  ) {}

  get ended(): boolean {
    return this.record !== undefined;
  }

  /** `host:port` of the instance the current try goes to. */
  get key(): string | undefined {
    return this.current;
  }

  /**
   * Whether the plan's retry rule wants another attempt after `outcome`; counts the
   * attempt. A request that cannot be sent again (`resendable` false: its body was not
   * kept whole) gets none, and the record says why.
   */
  retries(outcome: AttemptOutcome, resendable = true): boolean {
    const retry = this.plan.retry;
    if (retry === undefined || this.attempt > retry.attempts || !retry.retryOn(outcome)) return false;
    if (!resendable) {
      const limit = retry.keepBodyBytes ?? 0;
      this.notRetried = limit > 0 ? `not retried: body over ${limit / MB} MB or still arriving` : 'not retried: a request with a body';
      return false;
    }
    this.attempt++;
    return true;
  }

  /**
   * The instance for the next try, picked again by the load balancer (the one that
   * failed may be out of rotation by now). The in-flight count moves there, so a reload
   * drains the instance that serves the call, not the one it left.
   */
  pickAgain(): Availability {
    const target = this.pipeline.pick(this.plan, this.request);
    if (target.state !== 'ready') return target;
    const key = `${target.host}:${target.port}`;
    if (key !== this.current) {
      this.pipeline.entered(key);
      if (this.current !== undefined) this.pipeline.ended(this.current);
      this.current = key;
    }
    return target;
  }

  /** One attempt ended (a retry rule applies): its instance and status, or why none came. */
  attemptEnded(upstream: string, outcome: number | string, startedAt: number, now = performance.now()): void {
    const durationMs = roundTenth(now - startedAt);
    (this.tries ??= []).push(typeof outcome === 'number' ? { upstream, status: outcome, durationMs } : { upstream, error: outcome, durationMs });
  }

  /** Step 5: the one record of this call (idempotent: a second end returns the first record). */
  end(status: number, error?: CallErrorCode, now = performance.now()): CallRecord {
    if (this.record !== undefined) return this.record;
    if (this.current !== undefined) this.pipeline.ended(this.current);
    const policy = this.plan.policy;
    policy?.settle?.(status, error);
    const tries = this.tries !== undefined && this.tries.length > 1 ? this.tries : undefined;
    let actions = policy?.actions;
    if (tries !== undefined) actions = [...(actions ?? []), `${tries.length} tries`];
    if (this.notRetried !== undefined) actions = [...(actions ?? []), this.notRetried];
    // Built by assignment, not by spreading optional parts: spreads cost a runtime call each, on every call.
    const record: Mutable<CallRecord> = {
      from: this.plan.from.name,
      to: this.plan.to.name,
      host: this.request.host,
      method: this.request.method,
      path: this.request.path,
      status,
      error,
      durationMs: roundTenth(now - this.started),
      time: this.arrived,
    };
    // Only calls through the entry have a user: other records keep their shape.
    if (this.plan.from.kind === 'mini-program') record.user = this.plan.from.user;
    if (policy !== undefined) {
      record.policy = policy.label;
      if (actions !== undefined && actions.length > 0) record.actions = actions;
    }
    if (tries !== undefined) record.tries = tries;
    this.pipeline.emit(record);
    this.record = record;
    if (this.details !== undefined) this.pipeline.observer?.onCall(this.details.build(record, now));
    return record;
  }
}
