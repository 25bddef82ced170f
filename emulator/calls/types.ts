// The vocabulary of one call, whichever listener it came in on and whichever proxy path
// moves its bytes (docs/proxy.md, "The call pipeline"). Features that act on a call
// (policies, load balancing, the entry, the dashboard) plug in through these types.

import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import type { CallError, CallErrorCode, ProxyErrorCode } from './errors.js';
import type { Shaping } from './shaping.js';

/** Who sent a request, as the connection tells it. */
export interface CallSource {
  /** The service behind the connection (egress port, docker source address); undefined: the host, which acts as the `{from}` it names. */
  readonly caller: ServiceConfig | undefined;
  /** The listener: the host's proxy port, a service's egress port, the docker router, the mini-program entry. */
  readonly via: 'host' | 'egress' | 'router' | 'entry';
  /** The client's address, for the entry's X-Forwarded-For. */
  readonly address?: string | undefined;
}

/** `from` of a call through the entry: the mini-program, acting as a user of `entry.users`. */
export interface MiniProgramCaller {
  readonly kind: 'mini-program';
  readonly name: 'mini-program';
  readonly id: 'mini-program';
  /** The user's name in `entry.users`. */
  readonly user: string;
}

/** Who makes a call: a service (inner calls) or the mini-program (the entry). */
export type Caller = ServiceConfig | MiniProgramCaller;

/** What a client asked of the entry, in request headers that never reach the service. */
export interface EntryControl {
  /** X-Emulator-Service: a service name or id. */
  readonly service?: string;
  /** X-Emulator-User: a name in `entry.users`. */
  readonly user?: string;
  /** X-Emulator-Env: the envID the client passed to createCloud (dyc-emulator/tt sends it). */
  readonly env?: string;
}

/** What routing and policies look at. */
export interface CallRequest {
  /** Host (or the absolute URL's authority) as the caller wrote it. */
  readonly host: string;
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** Requests through the entry: the control headers (X-Emulator-Service, -User, -Env), read by the path. */
  readonly control?: EntryControl;
}

/**
 * A fault injected instead of (abort, reset, empty, malformed-chunk, random-then-close)
 * or before (delay) the call to the target.
 */
export type Fault =
  | { readonly kind: 'abort'; readonly status: number; readonly body?: string; readonly delayMs?: number }
  | { readonly kind: 'delay'; readonly ms: number }
  /** TCP reset of the caller's connection. */
  | { readonly kind: 'reset'; readonly delayMs?: number }
  /** The connection closes without a byte. */
  | { readonly kind: 'empty'; readonly delayMs?: number }
  /** A chunked 200 whose second chunk is malformed, then close. */
  | { readonly kind: 'malformed-chunk'; readonly delayMs?: number }
  /** `bytes` (not HTTP; drawn from the seeded source, so a run replays byte for byte), then close. */
  | { readonly kind: 'random-then-close'; readonly bytes: Buffer; readonly delayMs?: number };

/** How an attempt ended, for `RetryRule.retryOn`. */
export type AttemptOutcome =
  | { readonly kind: 'status'; readonly status: number }
  /** `failure`: refused or unreachable before a connection (connect-failure), closed or reset after it (reset), or no head in time (timeout). */
  | { readonly kind: 'error'; readonly code: ProxyErrorCode; readonly reason: string; readonly failure?: 'connect-failure' | 'reset' | 'timeout' };

export interface RetryRule {
  /** Attempts after the first. */
  readonly attempts: number;
  /**
   * Whether to try again. Asked only while nothing has reached the caller and the
   * request had no body to replay.
   */
  retryOn(outcome: AttemptOutcome): boolean;
  /** Wait before the next attempt; default 0. */
  readonly backoffMs?: number;
  /** Request bodies up to this many bytes are kept while sent, so an attempt can send them again; default 0 (bodiless requests only). */
  readonly keepBodyBytes?: number;
}

/** The call rule behind a plan, for the call record and the rule's own bookkeeping (a circuit breaker). */
export interface PolicyMark {
  /** The rule's name or place ("policies[0]"). */
  readonly label: string;
  /** The rule set the plan's timeout (for the words of a 504). */
  readonly timeout?: boolean;
  /** What it did before the call (fault, shaping), for the record. */
  readonly actions: readonly string[];
  /** Called once when the call ends: its status, and the error when the emulator answered. */
  settle?(status: number, error: CallErrorCode | undefined): void;
}

/** What a call will do. Shared by calls of the same caller and host while no policy applies: read-only. */
export interface CallPlan {
  readonly from: Caller;
  readonly to: ServiceConfig;
  /** No response head this long after the request body has been sent: 504. */
  readonly timeoutMs: number;
  readonly shaping: Shaping | undefined;
  readonly fault: Fault | undefined;
  readonly retry: RetryRule | undefined;
  /** The call rule that made this plan, if one did. */
  readonly policy?: PolicyMark;
}

export type Decision =
  | { readonly kind: 'call'; readonly plan: CallPlan }
  /** The emulator answers: a routing error, the allow-list, or a policy. */
  | { readonly kind: 'refuse'; readonly error: CallError; readonly from: ServiceConfig | undefined; readonly to: ServiceConfig | undefined }
  /** Not an inner-call host: pass-through, admin, or a bad Host, as the path decides. */
  | { readonly kind: 'not-inner-call' };

/** What a policy adds to a call the allow-list admitted. */
export interface PolicyOutcome {
  readonly refuse?: CallError;
  readonly timeoutMs?: number;
  readonly shaping?: Shaping;
  readonly fault?: Fault;
  readonly retry?: RetryRule;
  readonly policy?: PolicyMark;
}

/** The seam the call policies fill. */
export interface CallPolicies {
  /** Whether any policy applies under this config; false keeps plans cached per caller and host. */
  active(config: EmulatorConfig): boolean;
  /** `from` is the mini-program (`kind: 'mini-program'`) for calls through the entry. */
  plan(config: EmulatorConfig, from: Caller, to: ServiceConfig, request: CallRequest): PolicyOutcome | undefined;
}
