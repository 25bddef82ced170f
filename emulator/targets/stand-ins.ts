import type { Logger } from '../logging/logger.js';
import { startStandIn, type StandIn, type StandInSpec } from './stand-in.js';
import type { StubServer } from './stub/server.js';

/**
 * The stand-ins of every `url`, `targets` and `stub` service of a running emulator:
 * started with it, replaced when their config changes (the new one first, so a
 * broken edit leaves the old one answering), stopped with it.
 */
export class StandIns {
  private readonly running = new Map<string, StandIn>();
  private stopped = false;

  constructor(
    private readonly logger: Logger,
    /** Resolves when no call is in flight to host:port any more (the proxy knows). */
    private readonly drain: (host: string, port: number) => Promise<void>,
  ) {}

  /** Starts a service's stand-in; throws (an EmulatorError for config problems such as a broken mapping). */
  async start(spec: StandInSpec): Promise<void> {
    const standIn = await startStandIn(spec, this.logger);
    if (this.stopped) return void (await standIn.stop());
    this.running.set(spec.name, standIn);
    this.logger.serviceEvent(spec.name, describe(spec, standIn), 'info');
  }

  /** A changed definition: the new stand-in takes over once it runs. Resolves to whether it did. */
  async replace(spec: StandInSpec): Promise<boolean> {
    let next: StandIn;
    try {
      next = await startStandIn(spec, this.logger);
    } catch (error) {
      this.logger.serviceEvent(
        spec.name,
        `not reloaded; the previous definition keeps answering. ${error instanceof Error ? error.message : String(error)}`,
        'error',
      );
      return false;
    }
    if (this.stopped) {
      await next.stop();
      return false;
    }
    const previous = this.running.get(spec.name);
    this.running.set(spec.name, next);
    this.logger.serviceEvent(spec.name, `reloaded: ${describe(spec, next)}`, 'info');
    if (previous !== undefined) await this.retire(previous);
    return true;
  }

  async remove(name: string): Promise<void> {
    const previous = this.running.get(name);
    this.running.delete(name);
    if (previous !== undefined) await this.retire(previous);
  }

  has(name: string): boolean {
    return this.running.has(name);
  }

  get(name: string): StandIn | undefined {
    return this.running.get(name);
  }

  /** The stub servers by service name (journal, mappings). */
  stubs(): Map<string, StubServer> {
    const stubs = new Map<string, StubServer>();
    for (const [name, standIn] of this.running) if (standIn.stub !== undefined) stubs.set(name, standIn.stub);
    return stubs;
  }

  /** Ports the stand-ins listen on: like service instances, the proxy never passes traffic to them around the allow-list. */
  ports(): number[] {
    return [...this.running.values()].map((standIn) => standIn.port);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.allSettled(all.map((standIn) => standIn.stop()));
  }

  private async retire(standIn: StandIn): Promise<void> {
    await this.drain(standIn.host, standIn.port);
    await standIn.stop();
  }
}

function describe(spec: StandInSpec, standIn: StandIn): string {
  switch (spec.kind) {
    case 'url':
      return `relays to ${spec.targets[0]!.url} (loopback port ${standIn.port})`;
    case 'targets':
      return `relays to ${spec.targets.length} targets: ${spec.targets.map((target) => target.url + (target.fallback ? ' (fallback)' : '')).join(', ')} (loopback port ${standIn.port})`;
    case 'stub': {
      const count = standIn.stub?.mappings().length ?? 0;
      return `stub from ${spec.dir}: ${count} mapping${count === 1 ? '' : 's'}${spec.record === undefined ? '' : `, recording unmatched requests from ${spec.record.url}`} (loopback port ${standIn.port})`;
    }
  }
}
