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
  /** Settles when the instance has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  /** The last lines it wrote, for error messages. */
  recentLogs(): string[];
  /** Stops it (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Where a service can be reached now, or why it cannot: what a supervisor tells whoever
 * routes calls (the proxy), without knowing who that is.
 */
export type Availability = { state: 'ready'; host: string; port: number } | { state: 'unavailable'; reason: string };

/** What a runtime needs besides the service to start an instance. */
export interface StartContext {
  readonly config: EmulatorConfig;
  readonly logger: Logger;
  /** `http://127.0.0.1:port`: the proxy port that identifies this service as the caller. */
  readonly egressUrl: string;
  readonly replica: number;
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
