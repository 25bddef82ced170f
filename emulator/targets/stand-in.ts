import type { EmulatorConfig, StandInService } from '../config/types.js';
import type { Logger } from '../logging/logger.js';
import { startRemoteRelay, type RemoteOptions, type RemoteRelay, type TargetState } from './remote.js';
import { startStub, type StubOptions, type StubServer } from './stub/server.js';

/**
 * What answers a service that does not run here (`url`, `targets`, `stub`): an
 * in-process server on loopback that the emulator treats as the service's one
 * instance, always ready. The proxy sends calls to `host:port` as to any instance, so
 * routing, the allow-list, caller identity, policies and the trace apply unchanged.
 */
export interface StandIn {
  readonly kind: 'url' | 'targets' | 'stub';
  readonly host: string;
  readonly port: number;
  /** The stub server, for its journal and mappings (stub services only). */
  readonly stub: StubServer | undefined;
  /** Remote targets and whether each is in the rotation (url and targets services). */
  targets(): TargetState[];
  stop(): Promise<void>;
}

export type StandInSpec = ({ readonly kind: 'url' | 'targets' } & Omit<RemoteOptions, 'logger'>) | ({ readonly kind: 'stub' } & Omit<StubOptions, 'logger'>);

export async function startStandIn(spec: StandInSpec, logger: Logger): Promise<StandIn> {
  if (spec.kind === 'stub') {
    const stub = await startStub({ ...spec, logger });
    return { kind: 'stub', host: stub.host, port: stub.port, stub, targets: () => [], stop: () => stub.stop() };
  }
  const relay: RemoteRelay = await startRemoteRelay({ ...spec, logger });
  return { kind: spec.kind, host: relay.host, port: relay.port, stub: undefined, targets: () => relay.targets(), stop: () => relay.stop() };
}

/** What the stand-in of a configured `url`, `targets` or `stub` service needs. */
export function standInSpec(service: StandInService, config: EmulatorConfig): StandInSpec {
  const { name, id } = service;
  if (service.kind === 'stub') {
    return {
      kind: 'stub',
      name,
      id,
      dir: service.stubDir,
      record: service.record === undefined ? undefined : { url: service.record, tls: service.tls },
      watch: config.watchOptions,
    };
  }
  return {
    kind: service.kind,
    name,
    id,
    targets: service.targets,
    tls: service.tls,
    healthcheck: service.probe,
    loadBalancer: service.loadBalancer,
    configPath: `services.${name}.${service.kind}`,
  };
}
