// Step 1 of a call: who calls whom, and whether they may. Every routing error is made
// here, once, for both proxy paths; then the policies complete the plan.

import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import { innerCallLabel, innerCallHost, serviceIndex, splitLabel, type InnerCallDomain } from '../inner-call/index.js';
import { closestMatch, quoteList } from '../util/strings.js';
import { decideEntry } from './entry.js';
import type { ProxyErrorDetails } from './errors.js';
import { mergeShaping } from './shaping.js';
import type { CallPlan, CallPolicies, CallRequest, CallSource, Decision } from './types.js';

/**
 * Decides a request: the plan of a call, the emulator's refusal, or "not an inner call".
 * `policies` (when active under this config) may refuse or complete the plan.
 */
export function decide(config: EmulatorConfig, source: CallSource, request: CallRequest, policies?: CallPolicies): Decision {
  const routed = route(config, source, request);
  if (routed.kind !== 'call' || policies === undefined || !policies.active(config)) return routed;
  return withPolicies(config, routed.plan, request, policies);
}

/** The routing part of a decision (what a connection caches): who calls whom, the entry's user and shaping. */
export function route(config: EmulatorConfig, source: CallSource, request: CallRequest): Decision {
  if (source.via === 'entry') return decideEntry(config, source, request);
  const route = routeInnerCall(config, request.host, source.caller);
  if (route.kind === 'not-inner-call') return route;
  if (route.kind === 'error') return { kind: 'refuse', error: route.error, from: route.from, to: route.to };
  const { from, to } = route;
  return { kind: 'call', plan: { from, to, timeoutMs: config.proxy.callTimeoutMs, shaping: undefined, fault: undefined, retry: undefined } };
}

/**
 * The policies' part of a decision, on a routed plan (which a connection may have
 * cached: it is not changed). A rule's shaping comes after the entry's own.
 */
export function withPolicies(config: EmulatorConfig, base: CallPlan, request: CallRequest, policies: CallPolicies): Decision {
  const { from, to } = base;
  const outcome = policies.plan(config, from, to, request);
  if (outcome === undefined) return { kind: 'call', plan: base };
  if (outcome.refuse !== undefined) return { kind: 'refuse', error: outcome.refuse, from: from.kind === 'mini-program' ? undefined : from, to };
  return {
    kind: 'call',
    plan: {
      from,
      to,
      timeoutMs: outcome.timeoutMs ?? base.timeoutMs,
      shaping: base.shaping === undefined ? outcome.shaping : mergeShaping(base.shaping, outcome.shaping),
      fault: outcome.fault,
      retry: outcome.retry,
      policy: outcome.policy,
    },
  };
}
export type RouteDecision =
  | { kind: 'not-inner-call' }
  | { kind: 'error'; error: ProxyErrorDetails; from: ServiceConfig | undefined; to: ServiceConfig | undefined }
  | { kind: 'call'; from: ServiceConfig; to: ServiceConfig };

/**
 * Decides what a request for `host` means: which service calls which, or which
 * proxy error (README: "Errors the proxy returns") it gets. `caller` is the service the connection really came from
 * (undefined for the host: tests and curl act as the `{from}` they name).
 */
export function routeInnerCall(config: EmulatorConfig, host: string, caller: ServiceConfig | undefined): RouteDecision {
  const name = innerCallLabel(host);
  if (name === undefined) return { kind: 'not-inner-call' };
  const fail = (error: Omit<ProxyErrorDetails, 'from' | 'to'>, from?: ServiceConfig, to?: ServiceConfig, fromId?: string, toId?: string): RouteDecision => ({
    kind: 'error',
    error: { ...error, from: from?.id ?? fromId ?? null, to: to?.id ?? toId ?? null },
    from,
    to,
  });
  if (name.port !== undefined && name.port !== 80) {
    return fail({
      code: 'bad_inner_call_host',
      message: `Inner-call names serve plain HTTP on port 80 only, but the request was for port ${name.port}. Drop the port: http://${name.label}.${name.domain}/...`,
    });
  }
  const index = serviceIndex(config);
  const parsed = splitLabel(name.label, index.ids, caller?.id);
  switch (parsed.kind) {
    case 'malformed':
      return fail({
        code: 'bad_inner_call_host',
        message: `"${host}" is not a valid inner-call host: ${parsed.reason}. The form is {fromServiceId}-{toServiceId}.${name.domain}, e.g. ${exampleHost(config, name.domain)}.`,
      });
    case 'unknown': {
      const unknown = parsed.unknownIds[0]!;
      const suggestion = closestMatch(unknown, index.ids);
      return fail({
        code: 'unknown_service',
        message:
          `No service has the id "${unknown}" (in "${name.label}"). Known ids: ${quoteList(index.ids)}.` +
          (suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`),
      });
    }
    case 'call': {
      const from = index.byId.get(parsed.fromId)!;
      const to = index.byId.get(parsed.toId)!;
      if (caller !== undefined && caller !== from) {
        return fail(
          {
            code: 'caller_mismatch',
            message:
              `Service "${caller.name}" (id ${caller.id}) called ${host}, which names "${from.id}" as the caller. ` +
              `Build the host from the caller's own SERVICE_ID: http://${innerCallHost(caller.id, to.id, name.domain)}/...`,
          },
          from,
          to,
        );
      }
      if (!from.allow.has(to.name)) {
        return fail(
          {
            code: 'inner_call_denied',
            message:
              `Service "${from.name}" (id ${from.id}) is not allowed to call "${to.name}" (id ${to.id}). ` +
              `To allow it, add "${to.name}" to services.${from.name}.allow in ${config.file}${from.allowLine === undefined ? '' : ` (line ${from.allowLine})`} ` +
              `(in the console: 访问控制 → 服务间调用 of ${from.id}).`,
          },
          from,
          to,
        );
      }
      return { kind: 'call', from, to };
    }
  }
}

function exampleHost(config: EmulatorConfig, domain: InnerCallDomain): string {
  const [a, b] = [...config.services.values()];
  return innerCallHost(a?.id ?? 'gw01', (b ?? a)?.id ?? 'orders', domain);
}
