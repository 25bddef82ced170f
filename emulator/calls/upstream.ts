// Which instance serves a call: the seam the load balancer implements.

import type { Availability, ServiceDirectory } from './directory.js';
import type { CallPlan, CallRequest } from './types.js';

export type { Availability } from './directory.js';

export interface UpstreamPicker {
  /** An instance for this call, or why none can take it (the caller gets 503 with the reason). */
  pick(plan: CallPlan, request: CallRequest): Availability;
}

/** Today's picker: the supervisor's own choice (round-robin over healthy replicas). */
export function directoryPicker(directory: ServiceDirectory): UpstreamPicker {
  return { pick: (plan) => directory.upstream(plan.to) };
}
