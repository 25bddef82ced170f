import type { ComponentInfo } from '../components/components.js';
import { isRunnable, type EmulatorConfig } from '../config/types.js';
import type { ServiceSnapshot } from '../supervisor/service-supervisor.js';
import type { StubServer } from '../targets/stub/server.js';
import type { StubsView } from './source.js';

/** The Stubs view: each stub's journal (the last 200 requests) and its unmatched requests. */
export function stubsView(stubs: ReadonlyMap<string, StubServer>): StubsView | undefined {
  if (stubs.size === 0) return undefined;
  return {
    stubs: [...stubs].map(([name, stub]) => {
      const journal = stub.requests();
      return {
        name,
        dir: stub.dir,
        mappings: stub.mappings().length,
        journal: journal.slice(-200),
        unmatched: stub.requests({ unmatched: true }).slice(-50),
      };
    }),
  };
}

/** A row of the Services view for what runs without a supervisor: a stand-in (stub, url, targets) or a component. */
export interface ExtraRow extends ServiceSnapshot {
  /** `stub`, `url`, `targets`, or `redis (process)` for a component. */
  readonly runtime: string;
}

/**
 * Stand-ins (stub, url, targets services) are healthy as long as they are configured
 * (SPEC); components run until the emulator stops (start-up waited for them to answer).
 */
export function extraRows(
  config: EmulatorConfig,
  standIn: (name: string) => { host: string; port: number } | undefined,
  components: readonly ComponentInfo[],
): ExtraRow[] {
  const rows: ExtraRow[] = [];
  for (const service of config.services.values()) {
    if (isRunnable(service)) continue;
    const where = standIn(service.name);
    rows.push({
      name: service.name,
      runtime: service.kind,
      state: 'healthy',
      restarts: 0,
      replicas: [{ label: service.name, state: 'healthy', ...(where ?? {}) }],
    });
  }
  for (const component of components) {
    const colon = component.address.lastIndexOf(':');
    rows.push({
      name: component.name,
      runtime: `component (${component.runtime})`,
      state: 'healthy',
      restarts: 0,
      replicas: [{ label: component.name, state: 'healthy', host: component.address.slice(0, colon), port: Number(component.address.slice(colon + 1)) }],
    });
  }
  return rows;
}
