import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import { didYouMean } from '../util/strings.js';

/** A config's services by id, built once per config (the proxy asks on every call). */
export interface ServiceIndex {
  readonly ids: ReadonlySet<string>;
  readonly byId: ReadonlyMap<string, ServiceConfig>;
}

const indexes = new WeakMap<EmulatorConfig, ServiceIndex>();

export function serviceIndex(config: EmulatorConfig): ServiceIndex {
  let index = indexes.get(config);
  if (!index) {
    const byId = new Map([...config.services.values()].map((service) => [service.id, service]));
    index = { ids: new Set(byId.keys()), byId };
    indexes.set(config, index);
  }
  return index;
}

/**
 * The service named `nameOrId`, or else the one with that id: how every user-facing
 * place (the testing API, the CLI, config `allow`) names a service.
 */
export function findService(config: EmulatorConfig, nameOrId: string): ServiceConfig | undefined {
  return config.services.get(nameOrId) ?? serviceIndex(config).byId.get(nameOrId);
}

/** {@link findService}, or a usage error that lists the services and the closest match. */
export function requireService(config: EmulatorConfig, nameOrId: string, fix = 'Use a service name or id from the config.'): ServiceConfig {
  const service = findService(config, nameOrId);
  if (service !== undefined) return service;
  throw new EmulatorError('usage', `No service is named or has the id "${nameOrId}".${servicesHint(config, nameOrId)}`, { fix });
}

/** What a name or id that names no service is told: ` Did you mean "orders"? Services: api, orders (id ord-1).` */
export function servicesHint(config: EmulatorConfig, nameOrId: string): string {
  const services = [...config.services.values()];
  const known = services.map((candidate) => (candidate.id === candidate.name ? candidate.name : `${candidate.name} (id ${candidate.id})`));
  const candidates = services.flatMap((candidate) => [candidate.name, candidate.id]);
  return `${didYouMean(nameOrId, candidates)} Services: ${known.join(', ')}.`;
}
