import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pc from 'picocolors';
import { EmulatorError, isUserError } from '../errors.js';
import { didYouMean } from '../util/strings.js';
import { commandHelp, GLOBAL_OPTIONS, optionLines, parseArgsOptions, type Command, type Values } from './command.js';
import { callCommand } from './commands/call.js';
import { execCommand } from './commands/exec.js';
import { resetCommand } from './commands/reset.js';
import { routesCommand } from './commands/routes.js';
import { upCommand } from './commands/up.js';
import { validateCommand } from './commands/validate.js';

const COMMANDS: Readonly<Record<string, Command>> = {
  up: upCommand,
  exec: execCommand,
  validate: validateCommand,
  routes: routesCommand,
  call: callCommand,
  reset: resetCommand,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function mainHelp(bin: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return [
    `dyc-emulator ${version()}: Douyin Cloud services and their inner-call URLs, on your machine.`,
    '',
    `Usage: ${bin} [options] <command> [options]`,
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`),
    '',
    'Options:',
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', short: 'v', description: 'print the version' } }),
    '',
    `Help for a command: ${bin} <command> --help`,
  ].join('\n');
}

/**
 * Runs the CLI on `argv` (without node and the script); resolves to the exit code.
 * `bin` is the name the user typed (`emulator` or `dyc-emulator`), for messages.
 */
export async function main(argv: string[], bin = 'emulator'): Promise<number> {
  // Global options may come before the command: `emulator -c file.json up`.
  const global: { config?: string } = {};
  let index = 0;
  for (; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '-c' || arg === '--config') {
      const value = argv[++index];
      if (value === undefined) throw new EmulatorError('usage', `Option '${arg} <file>' needs a value.`, { fix: `Example: ${bin} -c emulator.config.json up` });
      global.config = value;
    } else if (arg.startsWith('--config=')) global.config = arg.slice('--config='.length);
    else if (arg === '--version' || arg === '-v') {
      console.log(version());
      return 0;
    } else if (arg === '--help' || arg === '-h') {
      console.log(mainHelp(bin));
      return 0;
    } else break;
  }
  const [name, ...rest] = argv.slice(index);
  if (name === undefined || name === 'help') {
    const command = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    console.log(command ? commandHelp(bin, rest[0]!, command) : mainHelp(bin));
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const known = Object.keys(COMMANDS);
    throw new EmulatorError('usage', `Unknown command "${name}".${didYouMean(name, known)}`, { fix: `Commands: ${known.join(', ')}. See \`${bin} --help\`.` });
  }
  // `exec -- cmd --help` is the command's help, not ours.
  const dashDash = rest.indexOf('--');
  const helpIndex = rest.findIndex((arg) => arg === '--help' || arg === '-h');
  if (helpIndex !== -1 && (dashDash === -1 || helpIndex < dashDash)) {
    console.log(commandHelp(bin, name, command));
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: parseArgsOptions({ ...GLOBAL_OPTIONS, ...command.options }), allowPositionals: true, strict: true });
  } catch (error) {
    throw new EmulatorError('usage', (error as Error).message, { fix: `See \`${bin} ${name} --help\`.` });
  }
  // A command that takes no arguments says so instead of ignoring them: `up orders`
  // that starts everything without a word looks as if it had started only orders.
  if (command.args === undefined && parsed.positionals.length > 0) {
    const got = parsed.positionals.map((arg) => `"${arg}"`).join(' ');
    const why = name === 'up' ? ' It starts every service of the config; to run only some, give it a config file that lists those (--config).' : '';
    throw new EmulatorError('usage', `${name} takes no arguments, but got ${got}.${why}`, {
      fix: `Run \`${bin} ${name}\` without them (options start with --; see \`${bin} ${name} --help\`).`,
    });
  }
  const values: Values = { ...(parsed.values as Values) };
  if (values.config === undefined && global.config !== undefined) values.config = global.config;
  return command.run(values, parsed.positionals);
}

export function printError(error: unknown): void {
  if (isUserError(error)) {
    console.error(pc.red(`✖ ${error.message}`));
    if (error.fix) console.error(`${pc.bold('Fix:')} ${error.fix}`);
  } else {
    console.error(pc.red('✖ dyc-emulator failed unexpectedly. Please report this with the output below.'));
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
}

/** Entry point of the bins (bin/emulator.js, bin/dyc-emulator.js). The only place that exits the process. */
export function run(bin = 'emulator'): void {
  main(process.argv.slice(2), bin).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      printError(error);
      process.exitCode = error instanceof EmulatorError && error.code === 'usage' ? 2 : 1;
    },
  );
}
