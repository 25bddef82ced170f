// The policy engine: which rule applies to a call (run-time rules first, then the
// file's; the first match wins), the seeded random source for faults, and the circuit
// breakers. The proxy's paths ask it once per call and carry out what the rule says
// (shaping.ts, faults.ts, the retry loop in the exchange).

import { performance } from 'node:perf_hooks';
import { IDEMPOTENT_METHODS, MINI_PROGRAM, type PolicyRule, type RequestShaping, type RetryPolicy } from '../config/policies.js';
import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import type { Logger } from '../logging/logger.js';
import { CircuitBreaker } from './breaker.js';
import { errorBody } from './errors.js';
import { abortError, describeFault } from './fault-injection.js';
import { SeededRandom } from './random.js';
import { shapePath } from './request-shaping.js';
import type { Shaping } from './shaping.js';
import type { Caller, CallPolicies, CallRequest, Fault, PolicyMark, PolicyOutcome, RetryRule } from './types.js';

export { MINI_PROGRAM };

/** Bodies up to this size are kept while they are sent, so that a retry can send them again; larger ones stream and are never retried. */
export const MAX_KEPT_BODY = 1024 * 1024;

/** How many bytes `random-then-close` sends. */
const RANDOM_BYTES = 64;

/** Why a try failed before a response head came. */
export type TryFailure = 'connect-failure' | 'reset' | 'timeout';

export interface PolicyEngineOptions {
  seed: number;
  logger: Logger;
}

/** The rule engine, and the call pipeline's `CallPolicies` seam (emulator/calls/types.ts). */
export class PolicyEngine implements CallPolicies {
  random: SeededRandom;
  private runtime: readonly PolicyRule[] = [];
  private combinedConfig: EmulatorConfig | undefined;
  private combined: readonly PolicyRule[] = [];
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly logger: Logger;

  constructor(options: PolicyEngineOptions) {
    this.random = new SeededRandom(options.seed);
    this.logger = options.logger;
  }

  get seed(): number {
    return this.random.seed;
  }

  /** A new seed (policiesSeed edited while running): the sequence starts over. */
  reseed(seed: number): void {
    this.random = new SeededRandom(seed);
  }

  /**
   * The rule for a call, or undefined. `from` is the caller's service name, or
   * MINI_PROGRAM for calls through the entry; `target` is the request target (path and query).
   */
  match(config: EmulatorConfig, from: string | undefined, to: string, method: string, target: string): PolicyRule | undefined {
    if (config !== this.combinedConfig) this.combine(config);
    const rules = this.combined;
    if (rules.length === 0) return undefined;
    let path: string | undefined;
    for (const rule of rules) {
      if (rule.to !== undefined && rule.to !== to) continue;
      if (rule.from !== undefined && rule.from !== from) continue;
      if (rule.methods !== undefined && !rule.methods.has(method)) continue;
      if (rule.path !== undefined) {
        if (path === undefined) {
          const question = target.indexOf('?');
          path = question === -1 ? target : target.slice(0, question);
        }
        if (rule.pathPrefix ? !path.startsWith(rule.path) : path !== rule.path) continue;
      }
      return rule;
    }
    return undefined;
  }

  /** Whether any rule is in force: without one, calls skip the engine and keep their cached plans. */
  active(config: EmulatorConfig): boolean {
    return this.rulesInForce(config).length > 0;
  }

  /**
   * What the first matching rule does to this call: an open circuit refuses it; the
   * fault is decided now, from the seeded source; shaping, timeout and retries complete
   * the plan. `from` is the caller (calls through the entry match as MINI_PROGRAM).
   */
  plan(config: EmulatorConfig, from: Caller, to: ServiceConfig, request: CallRequest): PolicyOutcome | undefined {
    const rule = this.match(config, from.name, to.name, request.method, request.path);
    if (rule === undefined) return undefined;
    const breaker = this.breaker(rule, from.name, to.name);
    const now = performance.now();
    const admission = breaker?.admit(now);
    if (admission === 'reject') {
      return {
        refuse: {
          code: 'circuit_open',
          message: `The circuit ${from.name} → ${to.name} is open (call rule ${rule.label}: ${rule.circuitBreaker!.consecutiveFailures} failures in a row); calls fail fast until a trial call succeeds.`,
          from: from.id,
          to: to.id,
          retryAfter: breaker!.retryAfterSeconds(now),
        },
      };
    }
    const decided = rule.fault !== undefined && this.random.chance(rule.fault.percent) ? rule.fault : undefined;
    let actions: readonly string[];
    if (decided === undefined) actions = rule.request === undefined ? NO_ACTIONS : SHAPED;
    else {
      const described = describeFault(decided);
      if (rule.request !== undefined) described.push('shaped');
      actions = described;
    }
    let fault: Fault | undefined;
    if (decided !== undefined) {
      const delayMs = decided.delayMs > 0 ? decided.delayMs : undefined;
      if (decided.abort !== undefined)
        fault = { kind: 'abort', status: decided.abort, body: errorBody(abortError(decided, rule.label, from.id, to.id)), ...(delayMs ? { delayMs } : {}) };
      else if (decided.type !== undefined)
        fault =
          decided.type === 'random-then-close'
            ? { kind: decided.type, bytes: this.random.bytes(RANDOM_BYTES), ...(delayMs ? { delayMs } : {}) }
            : { kind: decided.type, ...(delayMs ? { delayMs } : {}) };
      else if (delayMs !== undefined) fault = { kind: 'delay', ms: delayMs };
    }
    const terminal = fault !== undefined && fault.kind !== 'delay';
    // One object per call and no spreads: this runs on every call a rule matches.
    return {
      timeoutMs: rule.timeoutMs,
      shaping: rule.request === undefined ? undefined : shapingFor(rule.request, request.path),
      fault,
      retry: rule.retry !== undefined && mayRetry(rule, request.method) ? retryRuleFor(rule.retry) : undefined,
      policy:
        admission === undefined && actions.length <= 1 && decided === undefined
          ? markFor(rule)
          : {
              label: rule.label,
              timeout: rule.timeoutMs !== undefined,
              actions,
              settle:
                admission === undefined
                  ? undefined
                  : (status, error) => {
                      // A fault or a caller that went away says nothing about the target.
                      if (terminal || status === 499) return breaker!.cancel(admission);
                      const failure =
                        error === 'upstream_timeout'
                          ? 'timeout'
                          : error === 'upstream_error'
                            ? 'connection error'
                            : status >= 500
                              ? `status ${status}`
                              : undefined;
                      breaker!.report(admission, failure, performance.now());
                    },
            },
    };
  }

  /** Replaces the run-time rules (admin API PUT, `emu.setPolicies`); they are checked before the file's. */
  setRuntimeRules(rules: readonly PolicyRule[]): void {
    this.runtime = rules;
    this.combinedConfig = undefined;
  }

  get runtimeRules(): readonly PolicyRule[] {
    return this.runtime;
  }

  /** The rules in force, in the order they are checked. */
  rulesInForce(config: EmulatorConfig): readonly PolicyRule[] {
    if (config !== this.combinedConfig) this.combine(config);
    return this.combined;
  }

  /** The breaker of `rule` for this caller and target (one per pair), created on first use. */
  breaker(rule: PolicyRule, from: string | undefined, to: string): CircuitBreaker | undefined {
    const settings = rule.circuitBreaker;
    if (settings === undefined) return undefined;
    const key = `${rule.origin}:${rule.label}:${from ?? ''}:${to}`;
    let breaker = this.breakers.get(key);
    if (breaker === undefined || breaker.consecutiveFailures !== settings.consecutiveFailures || breaker.openMs !== settings.openMs) {
      breaker = new CircuitBreaker(settings.consecutiveFailures, settings.openMs, (state, why) => {
        const line = `circuit ${from ?? '?'} → ${to} (${rule.label}) ${state}: ${why}`;
        if (state === 'open') this.logger.warn(line);
        else this.logger.info(line);
      });
      this.breakers.set(key, breaker);
    }
    return breaker;
  }

  /** Breaker states, for `emulator routes` and the admin API. */
  breakerStates(): { key: string; state: string }[] {
    return [...this.breakers].map(([key, breaker]) => ({ key, state: breaker.state }));
  }

  private combine(config: EmulatorConfig): void {
    this.combinedConfig = config;
    this.combined = this.runtime.length === 0 ? config.policies : [...this.runtime, ...config.policies];
  }
}

/** Whether `rule` lets a request with this method be retried (idempotent ones, or the rule's own `methods`). */
export function mayRetry(rule: PolicyRule, method: string): boolean {
  if (rule.retry === undefined || rule.retry.attempts === 0) return false;
  return rule.methods === undefined ? IDEMPOTENT_METHODS.has(method) : rule.methods.has(method);
}

/** Whether a failed try (or a response with this status) is one the rule retries. */
export function retriesOn(retry: RetryPolicy, outcome: TryFailure | number): boolean {
  if (typeof outcome === 'number') return retry.statuses.has(outcome) || (retry.any5xx && outcome >= 500 && outcome <= 599);
  if (outcome === 'connect-failure') return retry.connectFailure;
  if (outcome === 'reset') return retry.reset;
  return retry.timeout;
}

/** What a circuit breaker counts as a failure: a 5xx, a timeout, a connection error. */
export function breakerFailure(outcome: TryFailure | number): string | undefined {
  if (typeof outcome === 'number') return outcome >= 500 ? `status ${outcome}` : undefined;
  return outcome;
}

/** How a socket error reads as a try failure: refused before connecting, or reset after. */
export function tryFailureOf(error: NodeJS.ErrnoException | undefined, connected: boolean): TryFailure {
  const code = error?.code;
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || !connected)
    return 'connect-failure';
  return 'reset';
}

const shapings = new WeakMap<RequestShaping, Shaping>();

/** A rule's shaping as the paths apply it; the path (and query) is worked out per call only when the rule changes them. */
function shapingFor(shaping: RequestShaping, target: string): Shaping {
  let headers = shapings.get(shaping);
  if (headers === undefined) {
    headers = {
      remove: [...shaping.dropHeaders],
      set: shaping.setHeaders,
      add: shaping.addHeaders,
      ...(shaping.method === undefined ? {} : { method: shaping.method }),
    };
    shapings.set(shaping, headers);
  }
  if (shaping.path === undefined && !shaping.touchesQuery) return headers;
  return { ...headers, path: shapePath(target, shaping) };
}

const retryRules = new WeakMap<RetryPolicy, RetryRule>();

/** A rule's `retry` as the paths ask it, once per rule. */
function retryRuleFor(retry: RetryPolicy): RetryRule {
  let rule = retryRules.get(retry);
  if (rule === undefined) {
    rule = {
      attempts: retry.attempts,
      backoffMs: retry.backoffMs,
      keepBodyBytes: MAX_KEPT_BODY,
      retryOn: (outcome) =>
        outcome.kind === 'status'
          ? retriesOn(retry, outcome.status)
          : retriesOn(retry, outcome.failure ?? (outcome.code === 'upstream_timeout' ? 'timeout' : 'reset')),
    };
    retryRules.set(retry, rule);
  }
  return rule;
}

const NO_ACTIONS: readonly string[] = Object.freeze([]);
const SHAPED: readonly string[] = Object.freeze(['shaped']);
const marks = new WeakMap<PolicyRule, PolicyMark>();

/** The mark of a rule that does nothing different per call (no fault drawn, no breaker): made once per rule. */
function markFor(rule: PolicyRule): PolicyMark {
  let mark = marks.get(rule);
  if (mark === undefined)
    marks.set(rule, (mark = { label: rule.label, timeout: rule.timeoutMs !== undefined, actions: rule.request === undefined ? NO_ACTIONS : SHAPED }));
  return mark;
}
