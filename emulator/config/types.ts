import type { ComponentsConfig } from './components.js';
import type { LoadBalancerConfig, PolicyRule } from './policies.js';

/** The resolved config: validated once by `loadConfig`; the rest of the code trusts it. */

/** Where a runnable service runs (`up --runtime`, `StartOptions.runtime`). */
export type RuntimeKind = 'process' | 'docker';
export type CloudEnv = 'DEV' | 'PROD';

/** `ip:port` of a resolver or a listener. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Which files of its `dir` reload a service: `default` (everything but dependency, VCS
 * and build folders and editors' side files), explicit `globs` (`!glob` excludes; an
 * empty list watches nothing), or `off`.
 */
export type WatchSetting = { readonly kind: 'default' } | { readonly kind: 'globs'; readonly globs: readonly string[] } | { readonly kind: 'off' };

/** What every kind of service has. */
interface ServiceBase {
  /** Key in `services`: used in logs, CLI arguments and `allow`. */
  readonly name: string;
  /** Douyin service id: the label parts of inner-call host names. */
  readonly id: string;
  /** Absolute working directory. */
  readonly dir: string;
  /** The stable address `emulator up` listens on for this service (undefined: a free port per run). */
  readonly publishedPort: number | undefined;
  /** envFile merged with env (env wins). */
  readonly env: Readonly<Record<string, string>>;
  /** Names of the services this one may call. */
  readonly allow: ReadonlySet<string>;
  /**
   * Line of `services.<name>.allow` in the config file (of the service when it has no
   * `allow`), so that `inner_call_denied` can say where to add a target.
   */
  readonly allowLine: number | undefined;
  readonly watch: WatchSetting;
  readonly healthcheck: string;
  readonly replicas: number;
  readonly loadBalancer: LoadBalancerConfig;
  readonly startTimeoutMs: number;
}

/** `command`: a process group on this machine. */
export interface ProcessServiceConfig extends ServiceBase {
  readonly kind: 'process';
  readonly command: string;
  /** Fixed port, or undefined to let the emulator choose one per instance (passed as PORT). */
  readonly port: number | undefined;
}

export interface DockerSettings {
  readonly dockerfile: string;
  /** Run this image instead of building `dir`. */
  readonly image: string | undefined;
  readonly buildArgs: Readonly<Record<string, string>>;
}

/** `docker` (without `command`, or with `--runtime docker`): a container. */
export interface DockerServiceConfig extends ServiceBase {
  readonly kind: 'docker';
  readonly docker: DockerSettings;
  /** The container port (default 8000). */
  readonly port: number;
}

/** TLS to servers that do not run here. */
export interface TlsSettings {
  /** Absolute path of a PEM file with the CA(s) to trust besides Node's roots. */
  readonly ca: string | undefined;
  /** Accept any certificate. */
  readonly insecure: boolean;
}

/** One server of a `url` or `targets` service. */
export interface RemoteTarget {
  /** Absolute http(s) URL; its path is the base that a call's path is appended to. */
  readonly url: string;
  readonly weight: number;
  readonly fallback: boolean;
}

/** `url` (one target) or `targets`: answered by remote servers through a relay on loopback. */
export interface RemoteServiceConfig extends ServiceBase {
  readonly kind: 'url' | 'targets';
  readonly targets: readonly RemoteTarget[];
  readonly tls: TlsSettings;
  /** The `healthcheck` the config gives explicitly: each target is probed with it. Undefined: none is probed. */
  readonly probe: string | undefined;
}

/** `stub`: answered from WireMock-format mapping files. */
export interface StubServiceConfig extends ServiceBase {
  readonly kind: 'stub';
  /** Absolute folder with `mappings/` and `__files/`. */
  readonly stubDir: string;
  /** Record mode: unmatched requests go to this URL and are saved as mappings. */
  readonly record: string | undefined;
  readonly tls: TlsSettings;
}

/** The kinds that do not run here: an in-process stand-in answers them (emulator/targets). */
export type StandInService = RemoteServiceConfig | StubServiceConfig;

export function isStandIn(service: ServiceConfig): service is StandInService {
  return service.kind === 'url' || service.kind === 'targets' || service.kind === 'stub';
}

/**
 * One service, by kind. A new kind adds a member here, a branch in `serviceKind`
 * (config/load.ts), and whatever runs or answers it; `switch (service.kind)` then fails
 * to compile wherever it is not handled yet.
 */
export type ServiceConfig = ProcessServiceConfig | DockerServiceConfig | RemoteServiceConfig | StubServiceConfig;
export type ServiceKind = ServiceConfig['kind'];

/** The kinds that run instances under a supervisor. */
export type RunnableService = Extract<ServiceConfig, { kind: RuntimeKind }>;

export function isRunnable(service: ServiceConfig): service is RunnableService {
  return service.kind === 'process' || service.kind === 'docker';
}

/** A mini-program user the entry acts as (`entry.users.<name>`). */
export interface EntryUser {
  readonly name: string;
  readonly openid: string | undefined;
  readonly unionid: string | undefined;
  readonly anonymousOpenid: string | undefined;
}

/** The entry: the cloud gateway in front of the services (`entry` in the config). */
export interface EntryConfig {
  readonly host: string;
  readonly port: number;
  /** Name of the service a request goes to when it names none. */
  readonly service: string;
  readonly appId: string;
  /** Configured envId; undefined: any envID the client sends is accepted. */
  readonly envId: string | undefined;
  readonly source: string;
  /** In config order; the first is the default. */
  readonly users: ReadonlyMap<string, EntryUser>;
  /** No users configured: the one user is generated (fixed per config file), and `up` prints it. */
  readonly generatedUser: boolean;
}

export interface EmulatorConfig {
  /** Absolute path of the config file (`<root>/<config object>` for configs built in code). */
  readonly file: string;
  readonly services: ReadonlyMap<string, ServiceConfig>;
  readonly cloudEnv: CloudEnv;
  /**
   * The routing proxy. In the config a running emulator reports (`emu.config`), `port` is
   * the port it listens on, which is a free one unless the CLI asked for `proxy.port`.
   */
  readonly proxy: { readonly host: string; readonly port: number; readonly callTimeoutMs: number };
  /**
   * The DNS server; `port` as for the proxy. `upstream` empty: the resolvers of /etc/resolv.conf.
   * `portSet`: the file names `dns.port` (otherwise `up` may take another port when the default is in use).
   */
  readonly dns: { readonly host: string; readonly port: number; readonly portSet: boolean; readonly upstream: readonly HostPort[] };
  /** The web dashboard of `emulator up`, or false when the config turns it off. */
  readonly dashboard: { readonly host: string; readonly port: number } | false;
  readonly entry: EntryConfig;
  /** Call rules from the file, in order (run-time rules live in the running emulator). */
  readonly policies: readonly PolicyRule[];
  /** `policiesSeed`; EMULATOR_SEED wins over it when the emulator starts. */
  readonly policiesSeed: number | undefined;
  readonly watchOptions: { readonly polling: boolean; readonly interval: number; readonly debounceMs: number };
  /** Databases started before the services (SPEC "Components"). */
  readonly components: ComponentsConfig;
  /** Files whose change means the config changed: the config itself and every envFile. */
  readonly sourceFiles: readonly string[];
  /** What loaded but may not be what the user meant (envFile lines that set nothing): `up` and `validate` print them. */
  readonly warnings: readonly string[];
}

/** The config with the ports a running emulator actually listens on. */
export function withPortsInUse(config: EmulatorConfig, ports: { proxy: number; dns: number; entry: number }): EmulatorConfig {
  return { ...config, proxy: { ...config.proxy, port: ports.proxy }, dns: { ...config.dns, port: ports.dns }, entry: { ...config.entry, port: ports.entry } };
}

export const DEFAULTS = {
  proxyPort: 8080,
  entryPort: 8090,
  entryAppId: 'tt0000000000000000',
  entryEnvId: 'env-local',
  entrySource: 'callContainer',
  // Not 5353: that is mDNS, held by avahi (Linux desktops) and mDNSResponder (macOS).
  // 8053 sits beside the proxy's 8080 and outside Linux's ephemeral range (32768-60999).
  dnsPort: 8053,
  dashboardPort: 8070,
  callTimeoutSeconds: 60,
  healthcheck: '/v1/ping',
  startTimeoutSeconds: 30,
  dockerPort: 8000,
  listenHost: '127.0.0.1',
  pollIntervalMs: 100,
  debounceMs: 100,
} as const;
