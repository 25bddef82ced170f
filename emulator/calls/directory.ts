import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import type { Availability as InstanceAvailability } from '../runtimes/types.js';
import type { CallOutcome } from '../util/balancer.js';

/**
 * Where a call goes now, or why it cannot. A `ready` answer from a load balancer is one
 * call in flight there until `done` says how it ended; `no_healthy_target`: instances
 * run, but every one is out of rotation.
 */
export type Availability =
  | (Extract<InstanceAvailability, { state: 'ready' }> & { done?: (outcome: CallOutcome) => void })
  | (Exclude<InstanceAvailability, { state: 'ready' }> & { code?: 'no_healthy_target' });

/** What the proxy asks the orchestrator on every call; both may change at any time (reload). */
export interface ServiceDirectory {
  config(): EmulatorConfig;
  /** Picks an instance of the service (round-robin over healthy replicas). */
  upstream(service: ServiceConfig): Availability;
  /** Docker runtime: the name of the service whose container has this address, if any. */
  callerByAddress?(address: string): string | undefined;
  /** Ports on this machine where service instances listen: a pass-through to them would skip the allow-list. */
  instancePorts?(): Iterable<number>;
  /** Other ports of the emulator on this machine the proxy must not relay to (the dashboard), with what they are. */
  protectedPorts?(): Iterable<[number, string]>;
}
