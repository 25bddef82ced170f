// Resolution of `policies` (call rules) and `loadBalancer`: the checks that need the
// whole config (service names), and the resolved shapes the call path reads. The
// same function resolves rules from the file and rules set at run time (admin API,
// `emu.setPolicies`), so both are held to the same rules.

import type { z } from 'zod';
import type { JsonPath } from '../util/jsonc.js';
import { didYouMean, quoteList } from '../util/strings.js';
import type { LoadBalancerEntry, PolicyRuleEntry } from './policies-schema.js';
import { HOP_BY_HOP } from '../util/headers.js';

/** Calls through the entry (the mini-program's gateway) match rules with this `from`. */
export const MINI_PROGRAM = 'mini-program';

export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export interface PolicyProblem {
  path: JsonPath;
  message: string;
  fix?: string;
}

export interface RetryPolicy {
  /** Tries after the first. */
  readonly attempts: number;
  readonly backoffMs: number;
  readonly connectFailure: boolean;
  readonly reset: boolean;
  readonly timeout: boolean;
  readonly any5xx: boolean;
  readonly statuses: ReadonlySet<number>;
  /** The conditions as written, for logs. */
  readonly on: readonly string[];
}

export interface RequestShaping {
  /** Lower-case names; `set` names are removed too (then set once). */
  readonly dropHeaders: ReadonlySet<string>;
  readonly setHeaders: readonly (readonly [string, string])[];
  readonly addHeaders: readonly (readonly [string, string])[];
  readonly dropQuery: ReadonlySet<string>;
  readonly setQuery: readonly (readonly [string, string])[];
  readonly addQuery: readonly (readonly [string, string])[];
  readonly path: string | undefined;
  readonly method: string | undefined;
  /** Whether the query string is touched at all (most rules only shape headers). */
  readonly touchesQuery: boolean;
}

export type FaultType = 'reset' | 'empty' | 'malformed-chunk' | 'random-then-close';

export interface FaultPolicy {
  /** 0–100. */
  readonly percent: number;
  readonly abort: number | undefined;
  readonly delayMs: number;
  readonly type: FaultType | undefined;
}

export interface PolicyRule {
  /** The rule's `name`, or where it is ("policies[0]", "run-time rule 0"). */
  readonly label: string;
  readonly origin: 'file' | 'runtime';
  /** Service name, MINI_PROGRAM, or undefined for any. */
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly path: string | undefined;
  /** `path` ended with `*`: a prefix (without the star). */
  readonly pathPrefix: boolean;
  readonly timeoutMs: number | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly request: RequestShaping | undefined;
  readonly fault: FaultPolicy | undefined;
  readonly circuitBreaker: { readonly consecutiveFailures: number; readonly openMs: number } | undefined;
  /** The rule as written (admin API GET, `emulator routes`). */
  readonly entry: PolicyRuleEntry;
}

export interface LoadBalancerConfig {
  readonly algorithm: 'round-robin' | 'least-connections' | 'weighted';
  readonly maxFailures: number;
  readonly unhealthyStatus: readonly number[];
}

export const DEFAULT_LOAD_BALANCER: LoadBalancerConfig = { algorithm: 'round-robin', maxFailures: 0, unhealthyStatus: [] };

export const POLICY_DEFAULTS = {
  backoffMs: 25,
  retryOn: ['connect-failure', 'reset'] as readonly string[],
  openSeconds: 30,
  faultPercent: 100,
} as const;

/** Headers that carry the framing or the connection: the proxy owns them, a rule may not shape them. */
const UNSHAPEABLE = new Set([...HOP_BY_HOP, 'content-length', 'transfer-encoding', 'host']);

export interface ServiceNames {
  /** Service names, and id → name. */
  readonly names: ReadonlySet<string>;
  readonly nameById: ReadonlyMap<string, string>;
}

/**
 * Resolves validated rule entries. `at` is where the list is (["policies"] in the file,
 * [] for a run-time list); problems are pushed to `problems`.
 */
export function resolvePolicies(
  entries: readonly PolicyRuleEntry[],
  services: ServiceNames,
  origin: 'file' | 'runtime',
  at: JsonPath,
  problems: PolicyProblem[],
): PolicyRule[] {
  const known = [...services.names, ...services.nameById.keys()];
  const service = (value: string | undefined, path: JsonPath, allowEntry: boolean): string | undefined => {
    if (value === undefined || value === '*') return undefined;
    if (allowEntry && value === MINI_PROGRAM) return MINI_PROGRAM;
    if (services.names.has(value)) return value;
    const byId = services.nameById.get(value);
    if (byId !== undefined) return byId;
    problems.push({
      path,
      message: `"${value}" is not a service name or id.${didYouMean(value, allowEntry ? [...known, MINI_PROGRAM] : known)}`,
      fix: `Use one of ${quoteList(services.names)}${allowEntry ? `, "${MINI_PROGRAM}" (calls through the entry)` : ''} or "*" for any.`,
    });
    return undefined;
  };
  return entries.map((entry, index) => {
    const here = (...rest: JsonPath): JsonPath => [...at, index, ...rest];
    const label = entry.name ?? (origin === 'file' ? `policies[${index}]` : `run-time rule ${index}`);
    const path = entry.path;
    if (path !== undefined && path.indexOf('*') !== -1 && path.indexOf('*') !== path.length - 1) {
      problems.push({
        path: here('path'),
        message: `"${path}" has a * before its end.`,
        fix: 'Write an exact path ("/api/orders") or a prefix with one trailing * ("/api/*").',
      });
    }
    const retry = entry.retry === undefined ? undefined : resolveRetry(entry.retry);
    const fault = entry.fault;
    if (fault !== undefined && fault.abort !== undefined && fault.type !== undefined) {
      problems.push({
        path: here('fault'),
        message: 'has both "abort" and "type".',
        fix: 'Keep one: "abort" answers with a status, "type" breaks the connection.',
      });
    }
    if (fault !== undefined && fault.abort === undefined && fault.type === undefined && fault.delayMs === undefined) {
      problems.push({ path: here('fault'), message: 'injects nothing.', fix: 'Add "abort": 503, "delayMs": 300 or "type": "reset".' });
    }
    return {
      label,
      origin,
      from: service(entry.from, here('from'), true),
      to: service(entry.to, here('to'), false),
      methods: entry.methods === undefined ? undefined : new Set(entry.methods),
      path: path === undefined || path === '*' || path === '/*' ? undefined : path.endsWith('*') ? path.slice(0, -1) : path,
      pathPrefix: path?.endsWith('*') === true,
      timeoutMs: entry.timeout === undefined ? undefined : entry.timeout * 1000,
      retry,
      request: entry.request === undefined ? undefined : resolveShaping(entry.request, here('request'), problems),
      fault:
        fault === undefined
          ? undefined
          : { percent: fault.percent ?? POLICY_DEFAULTS.faultPercent, abort: fault.abort, delayMs: fault.delayMs ?? 0, type: fault.type },
      circuitBreaker:
        entry.circuitBreaker === undefined
          ? undefined
          : { consecutiveFailures: entry.circuitBreaker.consecutiveFailures, openMs: (entry.circuitBreaker.openSeconds ?? POLICY_DEFAULTS.openSeconds) * 1000 },
      entry,
    };
  });
}

function resolveRetry(retry: NonNullable<PolicyRuleEntry['retry']>): RetryPolicy {
  const on = (retry.on ?? POLICY_DEFAULTS.retryOn).map(String);
  const statuses = new Set(on.filter((condition) => /^\d+$/.test(condition)).map(Number));
  return {
    attempts: retry.attempts,
    backoffMs: retry.backoffMs ?? POLICY_DEFAULTS.backoffMs,
    connectFailure: on.includes('connect-failure'),
    reset: on.includes('reset'),
    timeout: on.includes('timeout'),
    any5xx: on.includes('5xx'),
    statuses,
    on,
  };
}

function resolveShaping(request: NonNullable<PolicyRuleEntry['request']>, at: JsonPath, problems: PolicyProblem[]): RequestShaping {
  const check = (names: Iterable<string>, path: JsonPath): void => {
    for (const name of names) {
      if (UNSHAPEABLE.has(name.toLowerCase())) {
        problems.push({
          path: [...path, name],
          message: `"${name}" cannot be shaped: the proxy keeps the request's framing and connection headers as the client sent them.`,
          fix: 'Remove it from the rule; to reach another target, change `to` or the path instead of Host.',
        });
      }
    }
  };
  check(request.remove?.headers ?? [], [...at, 'remove', 'headers']);
  check(Object.keys(request.set?.headers ?? {}), [...at, 'set', 'headers']);
  check(Object.keys(request.add?.headers ?? {}), [...at, 'add', 'headers']);
  const setHeaders = Object.entries(request.set?.headers ?? {});
  const setQuery = Object.entries(request.set?.query ?? {});
  const addQuery = Object.entries(request.add?.query ?? {});
  const dropQuery = new Set([...(request.remove?.query ?? []), ...setQuery.map(([name]) => name)]);
  return {
    dropHeaders: new Set([...(request.remove?.headers ?? []), ...setHeaders.map(([name]) => name)].map((name) => name.toLowerCase())),
    setHeaders,
    addHeaders: Object.entries(request.add?.headers ?? {}),
    dropQuery,
    setQuery,
    addQuery,
    path: request.set?.path,
    method: request.set?.method,
    touchesQuery: dropQuery.size > 0 || addQuery.length > 0,
  };
}

export function resolveLoadBalancer(entry: LoadBalancerEntry | undefined): LoadBalancerConfig {
  if (entry === undefined) return DEFAULT_LOAD_BALANCER;
  return {
    algorithm: entry.algorithm ?? 'round-robin',
    maxFailures: entry.maxFailures ?? 0,
    unhealthyStatus: entry.unhealthyStatus ?? [],
  };
}

/** How to fix a bad value of a policy or load-balancer key, by the key's name. */
export function policyFieldFix(path: JsonPath): string | undefined {
  const inPolicies = path[0] === 'policies' || typeof path[0] === 'number';
  const inBalancer = path.includes('loadBalancer');
  if (!inPolicies && !inBalancer && path[0] !== 'policiesSeed') return undefined;
  const key = [...path].reverse().find((part) => typeof part === 'string');
  switch (key) {
    case 'percent':
      return 'Use a number from 0 to 100: the share of matching calls that get the fault (e.g. 10).';
    case 'abort':
      return 'Use an HTTP status from 200 to 599, e.g. "abort": 503; for a broken connection use "type": "reset" instead.';
    case 'timeout':
      return 'Use a positive number of seconds, e.g. "timeout": 2 (0.5 for half a second).';
    case 'delayMs':
    case 'backoffMs':
      return `Use a whole number of milliseconds, 0 or more, e.g. "${key}": 300.`;
    case 'attempts':
      return 'Use the number of tries after the first, 0 to 10, e.g. "attempts": 2.';
    case 'on':
      return 'Use "connect-failure", "reset", "timeout", "5xx" or a status such as "503".';
    case 'type':
      return 'Use "reset", "empty", "malformed-chunk" or "random-then-close".';
    case 'methods':
    case 'method':
      return 'Write methods in upper case, e.g. ["GET", "PUT"].';
    case 'path':
      return 'Write a path starting with "/": exact ("/api/orders") or a prefix ("/api/*").';
    case 'consecutiveFailures':
      return 'Use a whole number of failures, 1 or more, e.g. 5.';
    case 'openSeconds':
      return 'Use a positive number of seconds, e.g. 30.';
    case 'algorithm':
      return 'Use "round-robin", "least-connections" or "weighted".';
    case 'maxFailures':
      return 'Use a whole number, 0 (never eject) or more, e.g. 2.';
    case 'unhealthyStatus':
      return 'List HTTP statuses, e.g. [502, 503].';
    case 'policiesSeed':
      return 'Use a whole number from 0 to 4294967295, e.g. 42.';
    case 'headers':
    case 'query':
      return 'Header names are tokens (letters, digits, "-"); values are single-line strings.';
    default:
      return undefined;
  }
}

/** The keys an object in `schema` at `path` accepts (for "unknown key" messages), found by walking the zod schema. */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  // zod 4 keeps the structure in `_zod.def`; walk it the way the validator did.
  type Def = { type: string; innerType?: z.ZodType; element?: z.ZodType; valueType?: z.ZodType; shape?: Record<string, z.ZodType> };
  let node: z.ZodType | undefined = schema;
  const unwrap = (value: z.ZodType | undefined): z.ZodType | undefined => {
    let current = value;
    for (let i = 0; current !== undefined && i < 10; i++) {
      const def = (current as unknown as { _zod: { def: Def } })._zod.def;
      if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') current = def.innerType;
      else return current;
    }
    return current;
  };
  for (const part of path) {
    node = unwrap(node);
    if (node === undefined) return [];
    const def = (node as unknown as { _zod: { def: Def } })._zod.def;
    if (def.type === 'object') node = def.shape?.[String(part)];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'record') node = def.valueType;
    else return [];
  }
  node = unwrap(node);
  const def = node === undefined ? undefined : (node as unknown as { _zod: { def: Def } })._zod.def;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}
