import type { ParseArgsConfig } from 'node:util';

/** One option of a command: how it parses and how its help line reads. Declared once. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's name in help, e.g. `<file>` (string options). */
  readonly value?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  readonly summary: string;
  /** What follows the options in the usage line, e.g. `<from> <to> [path]`. */
  readonly args?: string;
  /** Paragraphs after the summary in `--help`. */
  readonly details?: string;
  readonly options: OptionSpecs;
  /** Resolves to the exit code. */
  run(values: Values, positionals: string[]): Promise<number>;
}

/** Every command takes these (also before the command: `emulator -c file.json up`). */
export const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c', value: '<file>', description: 'config file (default: emulator.config.json)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const satisfies OptionSpecs;

export const RUNTIME_OPTION = {
  runtime: { type: 'string', value: '<kind>', description: 'process or docker: run services that have a "docker" section as containers (docker) or processes' },
} as const satisfies OptionSpecs;

/** The options in `node:util` parseArgs' form. */
export function parseArgsOptions(specs: OptionSpecs): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple ? { multiple: true } : {}) },
    ]),
  );
}

/** Help lines for options: `  -c, --config <file>  config file …`, aligned. */
export function optionLines(specs: OptionSpecs): string[] {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}${spec.multiple ? '...' : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return rows.map(([flag, description]) => `  ${flag.padEnd(width)}${description}`);
}

/** `emulator <name> …` help, generated from the command's declaration. */
export function commandHelp(bin: string, name: string, command: Command): string {
  const usage = `Usage: ${bin} ${name} [options]${command.args === undefined ? '' : ` ${command.args}`}`;
  const sections = [usage, '', command.summary];
  if (command.details !== undefined) sections.push('', command.details);
  sections.push('', 'Options:', ...optionLines({ ...command.options, ...GLOBAL_OPTIONS }));
  return sections.join('\n');
}
