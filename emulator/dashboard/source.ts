import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallDetails } from '../calls/record.js';
import type { EmulatorConfig } from '../config/types.js';
import type { CallTrace } from '../logging/call-trace.js';
import type { LogBuffer } from '../logging/log-buffer.js';
import type { ServiceSnapshot } from '../supervisor/service-supervisor.js';

/**
 * Everything the dashboard reads and may change, provided by the running emulator.
 * The dashboard holds no state of its own beyond the live streams' cursors.
 */
export interface DashboardSource {
  /** The config in force now. */
  config(): EmulatorConfig;
  /** The body of GET /_emulator/info (config file, services with their urls). */
  info(): unknown;
  /** Admin endpoints another feature serves itself (the stubs' /_emulator/stubs/…): true when it answered. */
  extraAdmin?(req: IncomingMessage, res: ServerResponse): boolean;
  /** `http://127.0.0.1:port` of the routing proxy: replays go through it, acting as the call's `from`. */
  proxyUrl(): string;
  /** Supervised services, then rows for stand-ins and components (with their `runtime`). */
  services(): (ServiceSnapshot & { readonly runtime?: string })[];
  /** Zero-downtime restart of one service (new instances, then the old ones stop); false if it did not take. */
  restart(name: string): Promise<boolean>;
  readonly calls: CallTrace;
  /**
   * Starts handing each call's headers, bodies and timings to `sink` (the proxy's call
   * observer), or stops with undefined. The dashboard asks only while a page is open:
   * with nobody looking, the proxy copies nothing.
   */
  capture?(sink: ((details: CallDetails) => void) | undefined): void;
  readonly logs: LogBuffer;
  /** Re-reads the config file and applies it as hot reload does; throws an EmulatorError when it is invalid. */
  reloadConfig(): Promise<EmulatorConfig>;
  /** Call policies in force (file and run-time rules), once that feature exists. */
  policies?(): PoliciesView | undefined;
  /** Stub services' journals, once that feature exists. */
  stubs?(): StubsView | undefined;
}

/** What the Policies view shows; any JSON-able rule shape. */
export interface PoliciesView {
  readonly file: readonly unknown[];
  readonly runtime: readonly unknown[];
}

/** What the Stubs view shows. */
export interface StubsView {
  readonly stubs: readonly {
    readonly name: string;
    readonly dir?: string;
    readonly mappings?: number;
    readonly journal: readonly unknown[];
    readonly unmatched: readonly unknown[];
  }[];
}
