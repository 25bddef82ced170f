import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmulatorError } from '../errors.js';
import { isProcessAlive as isAlive } from '../util/process-group.js';

/**
 * `.emulator/data/<component>/` next to the config:
 *
 *   server/          the server's own files (redis dir, mysqld datadir), so that a
 *                    server which insists on an empty datadir gets one
 *   component.json   what created server/ (a MariaDB datadir cannot be opened by MySQL 8)
 *   emulator.lock    pid and host of the `up` using it, so a second one fails clearly
 */
export interface ComponentMeta {
  /** e.g. `mariadbd 10.11.19 (process)` or `image mysql:8.0 (docker)`. */
  readonly server: string;
  readonly created: string;
}

interface LockContent {
  pid: number;
  host: string;
  config: string;
}

export function componentDir(dataDir: string, name: string): string {
  return path.join(dataDir, name);
}

export function serverDir(dataDir: string, name: string): string {
  return path.join(dataDir, name, 'server');
}

/** True when the server has not written anything yet (new, or reset). */
export function isFresh(dataDir: string, name: string): boolean {
  const dir = serverDir(dataDir, name);
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

export function readMeta(dataDir: string, name: string): ComponentMeta | undefined {
  try {
    return JSON.parse(readFileSync(path.join(componentDir(dataDir, name), 'component.json'), 'utf8')) as ComponentMeta;
  } catch {
    return undefined;
  }
}

export function writeMeta(dataDir: string, name: string, server: string): void {
  const meta: ComponentMeta = { server, created: new Date().toISOString() };
  writeFileSync(path.join(componentDir(dataDir, name), 'component.json'), `${JSON.stringify(meta, null, 2)}\n`);
}

/** The live `up` holding a component's data dir, if any (a lock of a dead process is stale). */
export function lockHolder(dataDir: string, name: string): LockContent | undefined {
  const file = path.join(componentDir(dataDir, name), 'emulator.lock');
  let content: LockContent;
  try {
    content = JSON.parse(readFileSync(file, 'utf8')) as LockContent;
  } catch {
    return undefined;
  }
  // Another machine sharing the folder (a network mount): we cannot tell, so it counts as held.
  if (content.host !== os.hostname()) return content;
  return isAlive(content.pid) ? content : undefined;
}

export interface DataLock {
  release(): void;
  /** The lock was left by an `up` that is gone (killed): its server may still run. */
  readonly stale: boolean;
}

/**
 * Takes a component's data dir for this process: two servers writing one datadir corrupt it.
 * A lock left by a killed `up` is taken over.
 */
export function lockDataDir(dataDir: string, name: string, configFile: string): DataLock {
  const dir = componentDir(dataDir, name);
  mkdirSync(path.join(dir, 'server'), { recursive: true });
  const file = path.join(dir, 'emulator.lock');
  const content: LockContent = { pid: process.pid, host: os.hostname(), config: configFile };
  let stale = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx'); // fails if it exists: the check and the take are one step
      writeSync(fd, JSON.stringify(content));
      closeSync(fd);
      let released = false;
      return {
        stale,
        release() {
          if (released) return;
          released = true;
          rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = lockHolder(dataDir, name);
      if (holder !== undefined) throw inUseError(dir, name, holder);
      rmSync(file, { force: true }); // stale: its process is gone
      stale = true;
    }
  }
  throw inUseError(dir, name, undefined);
}

export function inUseError(dir: string, name: string, holder: LockContent | undefined): EmulatorError {
  const who =
    holder === undefined
      ? 'another emulator'
      : `the emulator with pid ${holder.pid}${holder.host === os.hostname() ? '' : ` on ${holder.host}`} (${holder.config || 'a config built in code'})`;
  return new EmulatorError('data_in_use', `The data of components.${name} (${dir}) is in use by ${who}.`, {
    fix: `Stop that \`emulator up\` first (Ctrl-C in its terminal${holder ? `, or \`kill ${holder.pid}\`` : ''}), or run this config from a copy in another folder.`,
  });
}

/** pid files the servers write in `.emulator/data/<name>/` (mysqld's --pid-file, redis's --pidfile). */
const PID_FILES = ['mysqld.pid', 'redis.pid'];

/**
 * Stops a server that an `up` killed with SIGKILL left running on this data folder (its own
 * process group outlives the emulator): a second server on the same files would fail or
 * corrupt them. Only a process whose command line names the folder is touched.
 */
export async function stopOrphanedServer(dataDir: string, name: string): Promise<number | undefined> {
  const dir = componentDir(dataDir, name);
  for (const pidFile of PID_FILES) {
    let pid: number;
    try {
      pid = Number(readFileSync(path.join(dir, pidFile), 'utf8').trim());
    } catch {
      continue;
    }
    if (!isAlive(pid) || !commandLineOf(pid).includes(dir)) continue;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      process.kill(pid, 'SIGTERM');
    }
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    return pid;
  }
  return undefined;
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return ''; // not Linux, or gone: leave it alone
  }
}

/** Deletes the data of the given components; refuses while an `up` holds one of them. Returns the folders removed. */
export function resetData(dataDir: string, names: readonly string[]): string[] {
  for (const name of names) {
    const holder = lockHolder(dataDir, name);
    if (holder !== undefined) {
      const error = inUseError(componentDir(dataDir, name), name, holder);
      throw new EmulatorError('data_in_use', `Cannot reset: ${error.message}`, { fix: error.fix ?? '' });
    }
  }
  const removed: string[] = [];
  for (const name of names) {
    const dir = componentDir(dataDir, name);
    if (!existsSync(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Names of the components that have data under `dataDir`. */
export function componentsWithData(dataDir: string): string[] {
  try {
    return readdirSync(dataDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}
