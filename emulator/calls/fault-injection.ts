// What a rule's fault says, in words: the abort's JSON error and the record's actions.
// The paths perform faults with calls/faults.ts (the same four connection faults as
// WireMock's CONNECTION_RESET_BY_PEER, EMPTY_RESPONSE, MALFORMED_RESPONSE_CHUNK and
// RANDOM_DATA_THEN_CLOSE).

import type { FaultPolicy } from '../config/policies.js';
import type { ProxyErrorDetails } from './errors.js';

/** The JSON error of an `abort`. */
export function abortError(fault: FaultPolicy, rule: string, from: string | null, to: string | null): ProxyErrorDetails {
  return {
    code: 'fault_injected',
    status: fault.abort,
    message: `Fault injected by the call rule ${rule}: abort with ${fault.abort}${fault.percent < 100 ? ` (${fault.percent} % of matching calls)` : ''}. Remove or change the rule to stop it.`,
    from,
    to,
  };
}

/** Words for the call record. */
export function describeFault(fault: FaultPolicy): string[] {
  const actions: string[] = [];
  if (fault.delayMs > 0) actions.push(`delay ${fault.delayMs}ms`);
  if (fault.abort !== undefined) actions.push(`abort ${fault.abort}`);
  if (fault.type !== undefined) actions.push(fault.type);
  return actions;
}
