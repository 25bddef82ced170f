/**
 * Library code never prints: it reports through a Logger that the CLI (or a test)
 * injects. `service` carries a line a service wrote; `call` one inter-service call.
 */
export interface CallRecord {
  /** Caller service name, or undefined when the caller id is unknown. */
  readonly from: string | undefined;
  /** Calls through the entry (`from` = `mini-program`): the name of the user in `entry.users`. */
  readonly user?: string | undefined;
  /** Target service name, or undefined when unknown. */
  readonly to: string | undefined;
  /** Host name as the caller wrote it. */
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The proxy error code (README: "Errors the proxy returns") when the emulator answered instead of the target. */
  readonly error: string | undefined;
  readonly durationMs: number;
  /** Epoch ms when the call arrived. */
  readonly time: number;
  /** The call rule that applied (its name, or where it is: "policies[0]"). */
  readonly policy?: string;
  /** What the rule did: "abort 503", "delay 300ms", "reset", "circuit open", "shaped". */
  readonly actions?: readonly string[];
  /** Every try when there was more than one (retries), in order. */
  readonly tries?: readonly TryRecord[];
}

/** One try of a call that a rule retried. */
export interface TryRecord {
  /** The instance ("host:port") it went to. */
  readonly upstream: string;
  /** The response status, when one came. */
  readonly status?: number;
  /** connect-failure, reset, timeout, when none came. */
  readonly error?: string;
  readonly durationMs: number;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A line of a service's stdout/stderr. */
  service(name: string, line: string, stream: 'stdout' | 'stderr'): void;
  /** An event about a service (started, crashed, restarting), shown with its prefix. */
  serviceEvent(name: string, message: string, level: 'info' | 'warn' | 'error'): void;
  call(record: CallRecord): void;
}

/** A logger that drops everything: the default for the programmatic API. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  service() {},
  serviceEvent() {},
  call() {},
};
