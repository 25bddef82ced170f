import type { EmulatorConfig, RunnableService } from '../config/types.js';
import type { Logger } from '../logging/logger.js';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One running copy of a service (a process group or a container). */
export interface Instance {
  /** `orders`, or `orders#2` for the second replica: the log prefix. */
  readonly label: string;
  /** Where the proxy and the health probe reach it. */
  readonly host: string;
  readonly port: number;
  /** The process group leader (process runtime), for the dashboard. */
  readonly pid?: number;
  /** The container's id (docker runtime), for the dashboard. */
  readonly containerId?: string;
  /** Settles when the instance has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  /** The last lines it wrote, for error messages. */
  recentLogs(): string[];
  /** Process runtime: the TCP ports its process group listens on now, for health-check hints. */
  listeningPorts?(): number[];
  /**
   * Process runtime: it answers on another loopback address (`::1`, when the service
   * binds "localhost" and that is IPv6, as on macOS): probes and calls go there from now on.
   */
  useHost?(host: string): void;
  /** Stops it (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Where a service can be reached now, or why it cannot: what a supervisor tells whoever
 * routes calls (the proxy), without knowing who that is.
 */
/** `until` is set while the service restarts in place (a fixed port): a call should wait for it, not fail. */
export type Availability = { state: 'ready'; host: string; port: number } | { state: 'unavailable'; reason: string; until?: Promise<void> };

/** What a runtime needs besides the service to start an instance. */
export interface StartContext {
  readonly config: EmulatorConfig;
  readonly logger: Logger;
  /** `http://127.0.0.1:port`: the proxy port that identifies this service as the caller. */
  readonly egressUrl: string;
  readonly replica: number;
  /** REDIS_ADDRESS, MYSQL_* …: the components' variables, with addresses for this runtime. */
  readonly componentEnv?: Readonly<Record<string, string>>;
}

/** Runs instances of one kind of service (`S`): processes, containers. */
export interface Runtime<S extends RunnableService = RunnableService> {
  /** Starts an instance; resolves once it is launched (not yet healthy). */
  start(service: S, context: StartContext): Promise<Instance>;
}

/** Keeps the last N lines a service wrote. */
export class LogTail {
  private readonly lines: string[] = [];
  constructor(private readonly size = 50) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  snapshot(): string[] {
    return [...this.lines];
  }
}

/** `orders`, or `orders#2` for the second replica: an instance's log prefix. */
export function instanceLabel(service: RunnableService, replica: number): string {
  return service.replicas > 1 ? `${service.name}#${replica}` : service.name;
}

/**
 * `exited with code 1`, `was killed by SIGKILL`; the codes with a meaning of their own
 * in words: 0 (it ended by itself), 126 and 127 (the shell could not run the command).
 */
export function describeExit(status: ExitStatus): string {
  if (status.signal) return `was killed by ${status.signal}`;
  switch (status.code) {
    case null:
      return 'stopped';
    case 0:
      return 'exited on its own (code 0)';
    case 126:
      return 'exited with code 126: the command is not executable';
    case 127:
      return 'exited with code 127: command not found';
    default:
      return `exited with code ${status.code}`;
  }
}

/**
 * The variables the platform injects, whatever runs the service (README: "A service's
 * environment"): `TZ=UTC` and the components' variables (REDIS_ADDRESS…) unless the service
 * sets them, then its own env, then ours.
 */
export function platformEnv(service: RunnableService, context: StartContext, port: number): Record<string, string> {
  return { TZ: 'UTC', ...context.componentEnv, ...service.env, SERVICE_ID: service.id, CLOUD_ENV: context.config.cloudEnv, PORT: String(port) };
}

/** A service's last lines, indented under a message. */
export function formatLogLines(lines: readonly string[], none = '(it wrote nothing)'): string {
  return lines.length === 0 ? `  ${none}` : lines.map((line) => `  | ${line}`).join('\n');
}
