import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pc from 'picocolors';
import { EmulatorError, isUserError } from '../errors.js';
import { callCommand } from './commands/call.js';
import { execCommand } from './commands/exec.js';
import { routesCommand } from './commands/routes.js';
import { upCommand } from './commands/up.js';
import { validateCommand } from './commands/validate.js';

export interface Command {
  summary: string;
  usage: string;
  details: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Resolves to the exit code. */
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const;

const COMMANDS: Record<string, Command> = {
  up: upCommand,
  exec: execCommand,
  validate: validateCommand,
  routes: routesCommand,
  call: callCommand,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return [
    `dyc-emulator ${version()}: Douyin Cloud services and their inner-call URLs, on your machine.`,
    '',
    'Usage: emulator <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`),
    '',
    'Options:',
    '  -c, --config <file>  config file (default: emulator.config.json)',
    '  -h, --help           help for a command: emulator <command> --help',
    '  -v, --version        print the version',
  ].join('\n');
}

function commandHelp(name: string, command: Command): string {
  return [`Usage: emulator ${command.usage}`, '', command.summary, '', command.details].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : COMMANDS[topic];
    console.log(command ? commandHelp(topic!, command) : mainHelp());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const known = Object.keys(COMMANDS);
    const guess = known.find((candidate) => candidate.startsWith(name.slice(0, 2)));
    throw new EmulatorError('usage', `Unknown command "${name}".${guess ? ` Did you mean "${guess}"?` : ''}`, { fix: `Commands: ${known.join(', ')}. See \`emulator --help\`.` });
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    // `exec -- cmd --help` is the command's help, not ours.
    const dashDash = rest.indexOf('--');
    const helpIndex = rest.findIndex((arg) => arg === '--help' || arg === '-h');
    if (dashDash === -1 || helpIndex < dashDash) {
      console.log(commandHelp(name, command));
      return 0;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...CONFIG_OPTION, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new EmulatorError('usage', (error as Error).message, { fix: `See \`emulator ${name} --help\`.` });
  }
  return command.run(parsed.values, parsed.positionals);
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

/** Entry point of bin/emulator.js. The only place that exits the process. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      printError(error);
      process.exitCode = error instanceof EmulatorError && error.code === 'usage' ? 2 : 1;
    },
  );
}
