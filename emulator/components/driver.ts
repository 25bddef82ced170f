import type { ComponentConfig } from '../config/components.js';
import type { Logger } from '../logging/logger.js';
import type { Server } from './server.js';

/** What a component's module tells the orchestration in components.ts: how to run, probe and describe its server. */
export interface ComponentDriver<C extends ComponentConfig> {
  readonly name: C['kind'];
  /** Binaries that run the server as a process, first found wins. */
  readonly binaries: readonly string[];
  /** How to install one, for the error when neither a binary nor docker is there. */
  readonly install: string;
  readonly containerPort: number;
  /** Where the image keeps its data. */
  readonly mountPath: string;
  /** `PING`, `SELECT 1`: the readiness check, in messages. */
  readonly check: string;
  /** What the data folder was created by; a different answer later means incompatible files. */
  identity(runtime: 'process' | 'docker', config: C, binary: string | undefined): Promise<string> | string;
  /** Creates the server's files in a fresh data folder (mysqld's system tables). */
  initialise?(start: ProcessStart<C>): Promise<void>;
  startProcess(start: ProcessStart<C>): Promise<Server>;
  /** Where the emulator itself reaches a process server (default: 127.0.0.1 and its port). */
  processTarget?(start: ProcessStart<C>): AdminTarget;
  container(config: C): { cmd?: string[]; env: Record<string, string> };
  showContainerLine?(line: string): boolean;
  /** Resolves once the server answers; rejects with the reason while it does not. */
  ready(config: C, target: AdminTarget): Promise<void>;
  /** Runs once per start after `ready`: users, databases, and the init files on fresh data. */
  afterReady?(config: C, target: AdminTarget, fresh: boolean, logger: Logger): Promise<void>;
  /** The platform's variables for a server at `address` (`host:port`). */
  env(config: C, address: string): Record<string, string>;
}

export interface ProcessStart<C> {
  readonly config: C;
  readonly binary: string;
  readonly port: number;
  /** `.emulator/data/<name>/server`. */
  readonly dir: string;
  /** `.emulator/data/<name>`. */
  readonly componentDir: string;
  readonly logger: Logger;
}

/** How the emulator connects for readiness and set-up: as the administrator. */
export interface AdminTarget {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
  readonly runtime: 'process' | 'docker';
}
