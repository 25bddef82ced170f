/** The public API of dyc-emulator. Everything not exported here is internal. */
export { startEmulator, type Emulator, type StartOptions } from './emulator.js';
export type { ConfigObject, ConfigOverrides, ConfigSourceOptions, ServiceOverride } from './config/overrides.js';
export type { EntryAgent, InnerCallAgent } from './testing/request.js';
export { loadConfig, parseConfig, type LoadOptions } from './config/load.js';
export type {
  EmulatorConfig,
  ServiceConfig,
  ServiceKind,
  ProcessServiceConfig,
  DockerServiceConfig,
  DockerSettings,
  RemoteServiceConfig,
  StubServiceConfig,
  RemoteTarget,
  TlsSettings,
  WatchSetting,
  HostPort,
  RuntimeKind,
  CloudEnv,
  EntryConfig,
  EntryUser,
} from './config/types.js';
export { EmulatorError, type UserErrorCode, type SystemErrorCode } from './errors.js';
export type { Logger, CallRecord } from './logging/logger.js';
export { PROXY_ERRORS, type ProxyErrorCode } from './calls/errors.js';
export type { ComponentInfo } from './components/components.js';
export type { JournalEntry as StubRequest } from './targets/stub/server.js';
export type { PolicyRuleEntry, LoadBalancerEntry } from './config/policies-schema.js';
export type { LoadBalancerConfig as LoadBalancerSettings } from './config/policies.js';
export type { TryRecord } from './logging/logger.js';
