import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { startEmulator } from '../../emulator.js';
import { EmulatorError } from '../../errors.js';
import type { Command } from '../main.js';
import { configFromFlags, onStopSignal, RUNTIME_OPTION } from '../shared.js';
import { createTerminalLogger } from '../terminal-logger.js';

/** EMULATOR_URL_<NAME>: upper case, anything but letters and digits as "_". */
export function urlVariable(name: string): string {
  return `EMULATOR_URL_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export const execCommand: Command = {
  summary: 'Start everything, wait until healthy, run a command against it, tear down (for CI)',
  usage: 'exec [--config <file>] [--runtime process|docker] -- <command> [args...]',
  details: [
    'The command gets EMULATOR_PROXY (the proxy URL), EMULATOR_DNS (host:port) and',
    'EMULATOR_URL_<NAME> (each service straight) in its environment.',
    'Exits with the command’s exit code (128+n if it was killed by signal n), or 1 if start-up failed.',
  ].join('\n'),
  options: { ...RUNTIME_OPTION, quiet: { type: 'boolean', short: 'q' } },
  async run(values, positionals) {
    if (positionals.length === 0) {
      throw new EmulatorError('usage', 'exec needs a command to run.', { fix: 'Write it after "--": npx emulator exec -- npm test' });
    }
    const config = configFromFlags(values);
    const logger = createTerminalLogger(config.services.keys());
    const quietLogger = values.quiet ? { ...logger, service() {}, call() {} } : logger;
    const abort = new AbortController();
    let child: ReturnType<typeof spawn> | undefined;
    const interrupted = onStopSignal((signal) => {
      abort.abort(new Error(`interrupted by ${signal}`));
      child?.kill(signal);
    });
    const emulator = await startEmulator({ config, logger: quietLogger, signal: abort.signal });
    try {
      if (abort.signal.aborted) return await interrupted;
      const env: NodeJS.ProcessEnv = { ...process.env, EMULATOR_PROXY: emulator.proxyUrl, EMULATOR_DNS: `${emulator.dns.host}:${emulator.dns.port}` };
      for (const name of config.services.keys()) env[urlVariable(name)] = emulator.url(name);
      const [command, ...args] = positionals as [string, ...string[]];
      child = spawn(command, args, { stdio: 'inherit', env });
      const running = child;
      return await new Promise<number>((resolve, reject) => {
        running.once('error', (error) =>
          reject(new EmulatorError('usage', `Cannot run "${command}": ${error.message}`, { fix: 'Check the command after "--" (is it installed and on PATH?).' })),
        );
        running.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1)));
      });
    } finally {
      await emulator.stop();
    }
  },
};
