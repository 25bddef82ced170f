import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator, type Emulator } from '../../emulator.js';
import { EmulatorError } from '../../errors.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags, onStopSignal } from '../shared.js';
import { createTerminalLogger } from '../terminal-logger.js';
import { groupAlive, signalGroup } from '../../util/process-group.js';

/** Time the command gets to exit after the stop signal before it is killed. */
const COMMAND_GRACE_MS = 5_000;
/**
 * With a terminal, Ctrl-C reaches the command by itself (same foreground process
 * group); we forward the signal only if it is still running after this long, so a
 * runner does not see two Ctrl-Cs (which many read as "force quit").
 */
const TTY_FORWARD_DELAY_MS = 1_000;
/** Time the command's leftover background processes get after SIGTERM. */
const LEFTOVER_GRACE_MS = 2_000;

/** EMULATOR_URL_<NAME>: upper case, anything but letters and digits as "_". */
export function urlVariable(name: string): string {
  return `EMULATOR_URL_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** What the command finds in its environment. */
export function execEnv(emulator: Emulator): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EMULATOR_PROXY: emulator.proxyUrl,
    EMULATOR_DNS: `${emulator.dns.host}:${emulator.dns.port}`,
    EMULATOR_ENTRY_URL: emulator.entryUrl, // dyc-emulator/tt reads it
  };
  for (const name of emulator.config.services.keys()) env[urlVariable(name)] = emulator.url(name);
  for (const component of Object.values(emulator.components)) Object.assign(env, component.env); // REDIS_ADDRESS…, as the services get them
  return env;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1);
}

/** SIGTERM whatever the command left running in its process group, SIGKILL after a grace period. */
async function endGroup(pid: number): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  while (Date.now() < deadline) {
    await sleep(50);
    if (!groupAlive(pid)) return;
  }
  signalGroup(pid, 'SIGKILL');
}

export const execCommand: Command = {
  summary: 'Start everything, wait until healthy, run a command against it, tear down (for CI)',
  args: '-- <command> [args...]',
  details: [
    'The command gets EMULATOR_PROXY (the proxy URL), EMULATOR_DNS (host:port), EMULATOR_ENTRY_URL',
    '(the entry, for callContainer) and EMULATOR_URL_<NAME> (each service straight) in its environment,',
    "and the components' variables (REDIS_ADDRESS, MYSQL_ADDRESS, … as the services get them). The proxy,",
    'the entry and the DNS server listen on free ports (not proxy.port, entry.port and dns.port), so exec',
    'can run next to `up`.',
    'Exits with the command’s exit code (128+n if it was killed by signal n), or 1 if start-up failed.',
    'Ctrl-C (or SIGTERM) stops the command, then every service; exits 128+n.',
    'Without a terminal (CI), the command runs in its own process group, and whatever it',
    'leaves running is stopped with it.',
  ].join('\n'),
  options: {
    ...RUNTIME_OPTION,
    quiet: { type: 'boolean', short: 'q', description: 'do not show service logs and calls (start-up failures still are)' },
  },
  async run(values, positionals) {
    if (positionals.length === 0) {
      throw new EmulatorError('usage', 'exec needs a command to run.', { fix: 'Write it after "--": npx emulator exec -- npm test' });
    }
    const config = configFromFlags(values);
    const logger = createTerminalLogger(config.services.keys());
    const quietLogger = values.quiet ? { ...logger, service() {}, call() {} } : logger;
    // In CI the command gets a process group of its own, so that a stop reaches its
    // children too; with a terminal it must stay in the foreground group to read the tty.
    const ownGroup = process.stdin.isTTY !== true;
    const abort = new AbortController();
    let child: ChildProcess | undefined;
    let stopSignal: NodeJS.Signals | undefined;

    const signalCommand = (signal: NodeJS.Signals): void => {
      if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      if (ownGroup) signalGroup(child.pid, signal);
      else child.kill(signal);
    };
    const interrupted = onStopSignal((signal) => {
      stopSignal = signal;
      abort.abort(new Error(`interrupted by ${signal}`));
      if (ownGroup) signalCommand(signal);
      else setTimeout(() => signalCommand(signal), TTY_FORWARD_DELAY_MS).unref();
      setTimeout(() => signalCommand('SIGKILL'), COMMAND_GRACE_MS).unref();
    });
    // A forced exit (a second Ctrl-C) must not orphan the command either.
    const killOnExit = (): void => signalCommand('SIGKILL');
    process.once('exit', killOnExit);

    let emulator: Emulator;
    try {
      // Free ports for the proxy and DNS (EMULATOR_PROXY and EMULATOR_DNS say where), so exec runs
      // next to `up` or another exec of the same config, as parallel CI jobs do.
      emulator = await startEmulator({ config, logger: quietLogger, signal: abort.signal });
    } catch (error) {
      process.removeListener('exit', killOnExit);
      if (abort.signal.aborted) return interrupted; // startEmulator stopped what it had started
      throw error;
    }
    try {
      if (abort.signal.aborted) return await interrupted;
      const [command, ...args] = positionals as [string, ...string[]];
      const running = spawn(command, args, { stdio: 'inherit', env: execEnv(emulator), detached: ownGroup });
      child = running;
      const code = await new Promise<number>((resolve, reject) => {
        running.once('error', (error) =>
          reject(
            new EmulatorError('usage', `Cannot run "${command}": ${error.message}`, { fix: 'Check the command after "--" (is it installed and on PATH?).' }),
          ),
        );
        running.once('exit', (exit, signal) => resolve(exitCode(exit, signal)));
      });
      if (ownGroup && running.pid !== undefined) await endGroup(running.pid);
      // An interrupted run is not a success, even if the runner exited 0 on SIGINT.
      return stopSignal === undefined ? code : await interrupted;
    } finally {
      process.removeListener('exit', killOnExit);
      await emulator.stop();
    }
  },
};
