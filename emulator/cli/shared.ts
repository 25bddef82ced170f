import { constants } from 'node:os';
import { loadConfig, DEFAULT_CONFIG_FILE } from '../config/load.js';
import type { EmulatorConfig, RuntimeKind } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { Values } from './command.js';

export function configFromFlags(values: Values): EmulatorConfig {
  const runtime = values.runtime;
  if (runtime !== undefined && runtime !== 'process' && runtime !== 'docker') {
    throw new EmulatorError('usage', `--runtime must be "process" or "docker", not "${String(runtime)}".`);
  }
  return loadConfig(typeof values.config === 'string' ? values.config : DEFAULT_CONFIG_FILE, runtime === undefined ? {} : { runtime: runtime as RuntimeKind });
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** `npm run` forwards the terminal's SIGINT, so one Ctrl-C can arrive twice in a row. */
const DUPLICATE_SIGNAL_MS = 500;

/**
 * Wires the stop signals once. The first one asks for a graceful stop (the returned
 * promise resolves with its exit code, 128+n); one more, after a moment, exits at once:
 * the process runtime's 'exit' hook SIGKILLs every service's process group then.
 */
export function onStopSignal(onFirst: (signal: NodeJS.Signals) => void): Promise<number> {
  return new Promise((resolve) => {
    let firstAt: number | undefined;
    const handler = (signal: NodeJS.Signals): void => {
      if (firstAt === undefined) {
        firstAt = Date.now();
        resolve(128 + (constants.signals[signal] ?? 2));
        onFirst(signal);
      } else if (Date.now() - firstAt > DUPLICATE_SIGNAL_MS) {
        process.exit(128 + (constants.signals[signal] ?? 2));
      }
    };
    for (const signal of SIGNALS) process.on(signal, handler);
  });
}
