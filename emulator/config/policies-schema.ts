import { z } from 'zod';

/**
 * The shape of `policies` (call rules) and a service's `loadBalancer`: the
 * ServiceCallout seed (SPEC "Call policies", "Several instances and targets").
 * Kept apart from schema.ts so that file stays a readable overview.
 */

/** HTTP methods as tokens; upper case, as they appear on the wire. */
const method = z.string().regex(/^[A-Z][A-Z-]*$/);

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/);
/** Header values go on the wire as they are: no CR, LF or NUL. */
const headerValue = z.string().regex(/^[^\r\n\0]*$/);
const queryName = z.string().min(1);

export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '5xx'] as const;
export const FAULT_TYPES = ['reset', 'empty', 'malformed-chunk', 'random-then-close'] as const;

const retryCondition = z.union([z.enum(RETRY_CONDITIONS), z.string().regex(/^[1-5]\d\d$/), z.number().int().min(100).max(599)]);

const retrySchema = z
  .strictObject({
    attempts: z.number().int().min(0).max(10).describe('Tries after the first (0 turns retries off).'),
    backoffMs: z.number().int().min(0).max(60_000).optional().describe('Wait between tries in ms. Default 25 (Envoy’s and Istio’s base interval).'),
    on: z
      .array(retryCondition)
      .optional()
      .describe('What is retried: "connect-failure", "reset", "timeout", "5xx", or a status such as "503". Default ["connect-failure", "reset"].'),
  })
  .describe('Retries of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, or the rule’s `methods`) whose body is at most 1 MB.');

const shapingHeaders = z.record(headerName, headerValue);
const shapingQuery = z.record(queryName, z.string());

const requestSchema = z
  .strictObject({
    remove: z
      .strictObject({
        headers: z.array(headerName).optional().describe('Header names to drop (any case).'),
        query: z.array(queryName).optional().describe('Query parameters to drop (every value).'),
      })
      .optional(),
    set: z
      .strictObject({
        headers: shapingHeaders.optional().describe('Headers to replace (or add when missing).'),
        query: shapingQuery.optional().describe('Query parameters to replace (or add when missing).'),
        path: z
          .string()
          .startsWith('/')
          .regex(/^[\x21-\x7e]*$/)
          .optional()
          .describe('The path sent to the target (the query string is kept).'),
        method: method.optional().describe('The method sent to the target.'),
      })
      .optional(),
    add: z
      .strictObject({
        headers: shapingHeaders.optional().describe('Headers to add as one more line, beside any the request has.'),
        query: shapingQuery.optional().describe('Query parameters to append.'),
      })
      .optional(),
  })
  .describe('Changes to the request before it leaves, in this order: remove, set, add.');

const faultSchema = z
  .strictObject({
    percent: z.number().min(0).max(100).optional().describe('Share of matching calls that get the fault, 0–100. Default 100.'),
    abort: z.number().int().min(200).max(599).optional().describe('Answer with this HTTP status (JSON error fault_injected) without calling the target.'),
    delayMs: z.number().int().min(0).max(600_000).optional().describe('Hold the call this long before it goes on (or before the abort).'),
    type: z
      .enum(FAULT_TYPES)
      .optional()
      .describe('A broken answer, as WireMock’s faults: reset (CONNECTION_RESET_BY_PEER), empty (EMPTY_RESPONSE), malformed-chunk, random-then-close.'),
  })
  .describe('Injected faults, decided by the seeded random source (EMULATOR_SEED or policiesSeed).');

const circuitBreakerSchema = z
  .strictObject({
    consecutiveFailures: z.number().int().min(1).max(1000).describe('Failures in a row (5xx, timeout, connection error) that open the circuit.'),
    openSeconds: z.number().positive().max(3600).optional().describe('Seconds the circuit stays open before one trial call decides. Default 30.'),
  })
  .describe('While open, calls get 503 circuit_open without reaching the target.');

export const policyRuleSchema = z
  .strictObject({
    name: z.string().min(1).max(100).optional().describe('A name for logs and `emulator routes`. Default: its place, e.g. policies[0].'),
    from: z.string().min(1).optional().describe('Caller: a service name or id, "mini-program" (calls through the entry), or "*". Default "*".'),
    to: z.string().min(1).optional().describe('Target: a service name or id, or "*". Default "*".'),
    methods: z.array(method).min(1).optional().describe('Methods the rule matches (upper case). Default: all.'),
    path: z.string().startsWith('/').optional().describe('Path the rule matches: exact, or a prefix with a trailing * ("/api/*"). Default: all.'),
    timeout: z
      .number()
      .positive()
      .max(3600)
      .optional()
      .describe('Seconds to the response head, per try; then 504 upstream_timeout. Default proxy.callTimeout.'),
    retry: retrySchema.optional(),
    request: requestSchema.optional(),
    fault: faultSchema.optional(),
    circuitBreaker: circuitBreakerSchema.optional(),
  })
  .describe('A call rule: the first rule that matches a call (from, to, method, path) applies.');

export const policiesSchema = z
  .array(policyRuleSchema)
  .describe('Call rules (timeouts, retries, request shaping, faults, circuit breakers); the first match applies.');

export const policiesSeedSchema = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1)
  .describe(
    'Seed of the random source that decides faults, so a failing run replays exactly. EMULATOR_SEED overrides it. Default: a new seed per run, printed at `up`.',
  );

export const loadBalancerSchema = z
  .strictObject({
    algorithm: z
      .enum(['round-robin', 'least-connections', 'weighted'])
      .optional()
      .describe('How calls are spread over instances (or targets). Default round-robin; "weighted" uses the targets’ weights.'),
    maxFailures: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe('Failures in a row that take an instance out of rotation until its health check passes; 0 (default) never does.'),
    unhealthyStatus: z
      .array(z.number().int().min(100).max(599))
      .optional()
      .describe('Response statuses that count as failures, e.g. [503]. Connection errors and timeouts always do.'),
  })
  .describe('Load balancing over replicas (and targets).');

export type PolicyRuleEntry = z.infer<typeof policyRuleSchema>;
export type LoadBalancerEntry = z.infer<typeof loadBalancerSchema>;
