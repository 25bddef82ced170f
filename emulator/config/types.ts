/** The resolved config: validated once by `loadConfig`; the rest of the code trusts it. */

export type RuntimeKind = 'process' | 'docker';
export type CloudEnv = 'DEV' | 'PROD';

export interface ServiceConfig {
  /** Key in `services`: used in logs, CLI arguments and `allow`. */
  readonly name: string;
  /** Douyin service id: the label parts of inner-call host names. */
  readonly id: string;
  /** Absolute working directory. */
  readonly dir: string;
  readonly runtime: RuntimeKind;
  readonly command: string | undefined;
  readonly docker: { readonly dockerfile: string; readonly image: string | undefined; readonly buildArgs: Readonly<Record<string, string>> } | undefined;
  /** Fixed port, or undefined to let the emulator choose one per instance (process runtime). */
  readonly port: number | undefined;
  /** envFile merged with env (env wins). */
  readonly env: Readonly<Record<string, string>>;
  /** Names of the services this one may call. */
  readonly allow: ReadonlySet<string>;
  readonly watch: readonly string[] | false;
  readonly healthcheck: string;
  readonly replicas: number;
  readonly startTimeoutMs: number;
  /** Where to add a target to `allow`, for the text of `inner_call_denied`. */
  readonly allowHint: string;
}

export interface EmulatorConfig {
  /** Absolute path of the config file ('' for configs built in code). */
  readonly file: string;
  readonly services: ReadonlyMap<string, ServiceConfig>;
  readonly cloudEnv: CloudEnv;
  readonly proxy: { readonly host: string; readonly port: number; readonly callTimeoutMs: number };
  readonly dns: { readonly host: string; readonly port: number; readonly upstream: readonly string[] };
  readonly watchOptions: { readonly polling: boolean; readonly interval: number; readonly debounceMs: number };
  /** Files whose change means the config changed: the config itself and every envFile. */
  readonly sourceFiles: readonly string[];
}

export const DEFAULTS = {
  proxyPort: 8080,
  dnsPort: 5353,
  callTimeoutSeconds: 60,
  healthcheck: '/v1/ping',
  startTimeoutSeconds: 30,
  dockerPort: 8000,
  listenHost: '127.0.0.1',
  pollIntervalMs: 100,
  debounceMs: 100,
} as const;
