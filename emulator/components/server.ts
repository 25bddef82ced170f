import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { describeExit, formatLogLines, LogTail, type ExitStatus } from '../runtimes/types.js';
import { groupAlive, signalGroup } from '../util/process-group.js';

/** A database server flushes and closes its files on SIGTERM; that can take a few seconds. */
const STOP_GRACE_MS = 10_000;

/** Servers' process groups still alive, for the exit hook. */
const groups = new Set<number>();

/**
 * Last resort on a forced exit (a second Ctrl-C, a script that exits without stopping its
 * emulator): SIGKILL every server still alive, as the process runtime does for services.
 * Synchronous, as 'exit' listeners must be; installed while a server runs.
 */
function killAll(): void {
  for (const pid of groups) signalGroup(pid, 'SIGKILL');
  groups.clear();
}

function track(pid: number): void {
  if (groups.size === 0) process.on('exit', killAll);
  groups.add(pid);
}

function untrack(pid: number): void {
  groups.delete(pid);
  if (groups.size === 0) process.off('exit', killAll);
}

/** One run of a component's server, a process or a container. */
export interface Server {
  /** Settles when the server has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  recentLogs(): string[];
  /** Stops it gracefully (then by force). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Where to look for a server binary: PATH, then the sbin folders that Debian and
 * Homebrew put daemons in but that a normal user's PATH often lacks (mariadbd is
 * /usr/sbin/mariadbd on Debian).
 */
export function findBinary(names: readonly string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/opt/homebrew/sbin'];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export interface SpawnOptions {
  label: string;
  logger: Logger;
  cwd?: string;
  /**
   * The component's data folder, also put in the server's environment as DYC_EMULATOR_COMPONENT:
   * redis-server rewrites its command line, and this still tells whose server a process is.
   */
  componentDir: string;
  /** Lines worth showing in the `up` output (the rest is kept for error messages only). */
  show?: (line: string) => boolean;
}

/** Starts a server binary in its own process group, like a service (no orphans, Ctrl-C reaches it through us). */
export function spawnServer(command: string, args: string[], options: SpawnOptions): Server {
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C', DYC_EMULATOR_COMPONENT: options.componentDir },
  });
  const tail = new LogTail(50);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      tail.push(line);
      if (options.show?.(line)) options.logger.service(options.label, line, 'stderr');
    });
  }
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      tail.push(`cannot run ${command}: ${error.message}`);
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid;
  if (pid !== undefined) track(pid);
  let stopping: Promise<void> | undefined;
  return {
    exited,
    recentLogs: () => tail.snapshot(),
    stop() {
      stopping ??= (async () => {
        if (pid === undefined) return;
        signalGroup(pid, 'SIGTERM');
        const deadline = Date.now() + STOP_GRACE_MS;
        await Promise.race([exited, sleep(STOP_GRACE_MS, undefined, { ref: false })]);
        while (groupAlive(pid) && Date.now() < deadline) await sleep(25);
        if (groupAlive(pid)) {
          signalGroup(pid, 'SIGKILL');
          const killDeadline = Date.now() + 1_000;
          while (groupAlive(pid) && Date.now() < killDeadline) await sleep(10);
        }
        await exited;
        untrack(pid);
      })();
      return stopping;
    },
  };
}

/** Runs a setup command (e.g. mariadb-install-db) to completion; throws with its output on failure. */
export function runToCompletion(command: string, args: string[], what: string, fix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const tail = new LogTail(30);
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => tail.push(line));
    child.once('error', (error) => reject(new EmulatorError('component_start_failed', `${what}: cannot run ${command}: ${error.message}`, { fix })));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      reject(
        new EmulatorError(
          'component_start_failed',
          `${what}: ${path.basename(command)} ${describeExit({ code, signal })}.\n${formatLogLines(tail.snapshot())}`,
          { fix },
        ),
      );
    });
  });
}

/** Output of `command args` (e.g. `mysqld --version`), or undefined when it fails. */
export function outputOf(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', () => resolve(undefined));
    child.once('close', (code) => resolve(code === 0 ? out.trim() : undefined));
  });
}
