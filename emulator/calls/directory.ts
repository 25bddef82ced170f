import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import type { Availability } from '../runtimes/types.js';

export type { Availability };

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
