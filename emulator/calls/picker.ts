// Which instance serves a call: one LoadBalancer (util/balancer.ts) per service over its
// ready replicas, set up from the service's `loadBalancer`. It sits with the call
// pipeline, above the supervisors, which only say which instances are ready.

import type { LoadBalancerConfig } from '../config/policies.js';
import type { ServiceConfig } from '../config/types.js';
import type { Logger } from '../logging/logger.js';
import type { Availability as InstanceAvailability } from '../runtimes/types.js';
import { isAliveStatus, probe } from '../runtimes/readiness.js';
import { LoadBalancer, type BalancerOptions, type SlotSnapshot } from '../util/balancer.js';
import type { Availability } from './directory.js';
import type { CallPlan } from './types.js';
import type { UpstreamPicker } from './upstream.js';

/** An instance as the balancer sees it. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** What the picker needs from a service's supervisor. */
export interface InstanceSource {
  /** The ready instances; the same array while none comes or goes. */
  readyInstances(): readonly Endpoint[];
  /** Its own answer when none is ready: why, and when it may be (`until`, a fixed-port restart the slow path waits for). */
  availability(): InstanceAvailability;
}

interface Entry {
  readonly balancer: LoadBalancer<Endpoint>;
  settings: LoadBalancerConfig;
  healthcheck: string;
  ready: readonly Endpoint[] | undefined;
}

export class InstancePicker implements UpstreamPicker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: {
      logger: Logger;
      /** The supervisor of a service, if it has one (a service being added has none yet). */
      source(service: ServiceConfig): InstanceSource | undefined;
    },
  ) {}

  pick(plan: CallPlan): Availability {
    return this.pickFor(plan.to);
  }

  pickFor(service: ServiceConfig): Availability {
    const source = this.options.source(service);
    if (source === undefined) return { state: 'unavailable', reason: 'it is not running' };
    const ready = source.readyInstances();
    if (ready.length === 0) {
      const own = source.availability();
      return own.state === 'ready' ? { state: 'unavailable', reason: 'it is between instances' } : own;
    }
    const entry = this.entryFor(service);
    if (ready !== entry.ready) {
      entry.ready = ready;
      entry.balancer.update(ready.map((instance) => ({ key: `${instance.host}:${instance.port}`, target: instance })));
    }
    const slot = entry.balancer.pick();
    if (slot === undefined) return { state: 'unavailable', code: 'no_healthy_target', reason: entry.balancer.describeEmpty() };
    return { state: 'ready', host: slot.target.host, port: slot.target.port, done: slot.release };
  }

  /** The balancer's view of a service's instances (admin API, `routes`). */
  rotation(service: ServiceConfig): SlotSnapshot[] {
    return this.entries.get(service.name)?.balancer.snapshot() ?? [];
  }

  /** A service removed from the config: its balancer stops probing. */
  forget(name: string): void {
    this.entries.get(name)?.balancer.stop();
    this.entries.delete(name);
  }

  stop(): void {
    for (const entry of this.entries.values()) entry.balancer.stop();
    this.entries.clear();
  }

  private entryFor(service: ServiceConfig): Entry {
    let entry = this.entries.get(service.name);
    if (entry === undefined) {
      entry = { balancer: new LoadBalancer(this.balancerOptions(service)), settings: service.loadBalancer, healthcheck: service.healthcheck, ready: undefined };
      this.entries.set(service.name, entry);
    } else if (entry.settings !== service.loadBalancer || entry.healthcheck !== service.healthcheck) {
      // A config edit: new settings for the next call; counts and ejections stay.
      entry.settings = service.loadBalancer;
      entry.healthcheck = service.healthcheck;
      entry.balancer.configure(this.balancerOptions(service));
    }
    return entry;
  }

  private balancerOptions(service: ServiceConfig): BalancerOptions<Endpoint> {
    const { logger } = this.options;
    const { name, healthcheck, loadBalancer } = service;
    return {
      algorithm: loadBalancer.algorithm,
      maxFailures: loadBalancer.maxFailures,
      unhealthyStatus: loadBalancer.unhealthyStatus,
      // An ejected instance returns when the platform's liveness probe passes again.
      healthCheck: async (instance) => {
        const result = await probe(instance.host, instance.port, healthcheck);
        return 'status' in result && isAliveStatus(result.status);
      },
      onEvent: (event) => {
        if (event.kind === 'ejected') {
          logger.serviceEvent(
            name,
            `instance ${event.key} out of rotation after ${event.failures} failures in a row (last: ${event.reason}); back when GET ${healthcheck} passes`,
            'warn',
          );
        } else {
          logger.serviceEvent(name, `instance ${event.key} back in rotation (${event.reason})`, 'info');
        }
      },
    };
  }
}
