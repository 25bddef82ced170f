import path from 'node:path';
import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import { errorForLog } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { watchFiles, type FileWatcher } from './file-watcher.js';

/** What hot reload drives; the orchestrator implements it. */
export interface ReloadTarget {
  config(): EmulatorConfig;
  /** Re-reads the config file; throws EmulatorError when it is invalid. */
  loadConfig(): EmulatorConfig;
  /** Moves the running emulator to `next` (allow at once, services as needed). */
  applyConfig(next: EmulatorConfig): Promise<void>;
  /** Zero-downtime reload of one service after its files changed. */
  reloadService(name: string, reason: string): Promise<unknown>;
  logger: Logger;
}

export interface HotReload {
  /** Stops every watcher, after the config change being applied. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Watches every service's files (per its `watch` globs) and the config with its env
 * files. A change to a service's files reloads that service only; a config change
 * is validated first, and an invalid one leaves the running config in place.
 */
export async function startHotReload(target: ReloadTarget): Promise<HotReload> {
  const { logger } = target;
  const serviceWatchers = new Map<string, { key: string; watcher: FileWatcher }>();
  let configWatcher: { key: string; watcher: FileWatcher } | undefined;
  let stopped = false;
  let applying = Promise.resolve();

  const onError = (error: Error): void => logger.warn(`File watching: ${error.message}`);

  /** (Re)creates the watchers whose settings changed; run after every config change. */
  async function sync(): Promise<void> {
    const config = target.config();
    const { polling, interval, debounceMs } = config.watchOptions;
    for (const [name, entry] of serviceWatchers) {
      const service = config.services.get(name);
      if (!service || watcherKey(service, config) !== entry.key) {
        serviceWatchers.delete(name);
        await entry.watcher.stop();
      }
    }
    for (const service of config.services.values()) {
      const { watch } = service;
      // `[]` watches nothing: no watcher at all.
      if (watch.kind === 'off' || (watch.kind === 'globs' && watch.globs.length === 0) || serviceWatchers.has(service.name) || stopped) continue;
      const watcher = await watchFiles({
        dir: service.dir,
        globs: watch.kind === 'globs' ? watch.globs : undefined,
        exclude: config.sourceFiles,
        polling,
        interval,
        debounceMs,
        onError,
        onChange: (files) => void target.reloadService(service.name, describeChange(files)),
      });
      serviceWatchers.set(service.name, { key: watcherKey(service, config), watcher });
    }
    const configKey = JSON.stringify([config.sourceFiles, config.watchOptions]);
    if (configWatcher?.key !== configKey && !stopped) {
      await configWatcher?.watcher.stop();
      const watcher = await watchFiles({ files: config.sourceFiles, polling, interval, debounceMs, onError, onChange: onConfigChange });
      configWatcher = { key: configKey, watcher };
    }
  }

  function onConfigChange(files: string[]): void {
    const what = files.map((file) => path.basename(file)).join(', ');
    // One config change at a time, in order. A change that fails is reported and the chain
    // goes on: without the catch, one rejection would silently end every later reload.
    applying = applying
      .then(async () => {
        if (stopped) return;
        let next: EmulatorConfig;
        try {
          next = target.loadConfig();
        } catch (error) {
          logger.error(`${what} changed, but the new config is invalid; the running config stays in place.\n${errorForLog(error)}`);
          return;
        }
        await target.applyConfig(next);
        await sync();
      })
      .catch((error: unknown) => {
        logger.error(`${what} changed, but applying the new config failed: ${errorForLog(error)}`);
      });
  }

  await sync();
  let stopping: Promise<void> | undefined;
  const handle: HotReload = {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        await applying;
        await Promise.allSettled([...serviceWatchers.values(), ...(configWatcher ? [configWatcher] : [])].map((entry) => entry.watcher.stop()));
        serviceWatchers.clear();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]: () => handle.stop(),
  };
  return handle;
}

function watcherKey(service: ServiceConfig, config: EmulatorConfig): string {
  return JSON.stringify([service.dir, service.watch, config.watchOptions, config.sourceFiles]);
}

/** `server.js changed`, or `3 files changed: a.js, b.js, c.js`. */
export function describeChange(files: string[]): string {
  if (files.length === 1) return `${files[0]} changed`;
  const shown = files.slice(0, 3).join(', ');
  return `${files.length} files changed: ${shown}${files.length > 3 ? ', …' : ''}`;
}
