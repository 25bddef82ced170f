import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { applyEdits, modify, parse, type ParseError } from 'jsonc-parser';
import { EmulatorError } from '../errors.js';
import { DEFAULT_CONFIG_FILE, loadConfig, parseConfig, type LoadOptions } from './load.js';
import type { ConfigFile, ServiceEntry } from './schema.js';
import type { CloudEnv, EmulatorConfig } from './types.js';

/**
 * Changes to one service for one emulator (typically one test). Keys replace the
 * file's, except `env`, which is merged over the file's `env` key by key.
 * `port: null` removes a fixed port so that the service gets a free one.
 */
export type ServiceOverride = Omit<ServiceEntry, 'port'> & { port?: number | null };

/** Everything a test may change about a config without editing the file. */
export interface ConfigOverrides {
  /**
   * Per-service changes, by service name. A name the config does not have adds a
   * service (it then needs `command`).
   */
  services?: Record<string, ServiceOverride>;
  /** Added to every service's environment; a service's own `services.<name>.env` override still wins. */
  env?: Record<string, string>;
  /** Replaces `cloudEnv` (the `CLOUD_ENV` of every service). */
  cloudEnv?: CloudEnv;
}

/** A config written in code, shaped like `emulator.config.json`. */
export type ConfigObject = ConfigFile;

export interface ConfigSourceOptions extends ConfigOverrides {
  /**
   * A config file path (default `emulator.config.json` in the working directory),
   * a config object shaped like the file, or an already resolved config.
   */
  config?: string | ConfigObject | EmulatorConfig;
  /** The directory that relative paths of a config object resolve against (default: the working directory). */
  root?: string;
}

/** Name given to a config object in messages; its directory is `root`. */
export const INLINE_CONFIG_NAME = '<config object>';

/**
 * Resolves the `config` of `startEmulator` options: reads the file or takes the
 * object, applies the overrides to its text, and validates the result with the
 * same loader as the CLI, so an override that breaks the config is reported
 * like a bad line in the file (path, caret, fix).
 */
export function resolveConfig(options: ConfigSourceOptions, loadOptions: LoadOptions = {}): EmulatorConfig {
  const source = options.config;
  const overrides = describeOverrides(options);
  if (isResolved(source)) {
    if (overrides.length > 0) {
      throw new EmulatorError('usage', `Overrides (${overrides.join(', ')}) cannot be applied to an already resolved config.`, {
        fix: 'Pass the config as a file path or a plain object, so the overrides can be validated with it.',
      });
    }
    return source;
  }

  let text: string;
  let file: string;
  if (source === undefined || typeof source === 'string') {
    if (overrides.length === 0) return loadConfig(source ?? DEFAULT_CONFIG_FILE, loadOptions);
    file = path.resolve(source ?? DEFAULT_CONFIG_FILE);
    if (!existsSync(file)) return loadConfig(file, loadOptions); // throws config_not_found with its fix
    text = readFileSync(file, 'utf8');
  } else {
    file = path.join(path.resolve(options.root ?? '.'), INLINE_CONFIG_NAME);
    text = JSON.stringify(source, null, 2);
  }

  // A syntax error is reported against the text as the user wrote it.
  const errors: ParseError[] = [];
  parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0 || overrides.length === 0) return parseConfig(text, file, loadOptions);

  try {
    return parseConfig(applyOverrides(text, options), file, loadOptions);
  } catch (error) {
    if (error instanceof EmulatorError && error.code === 'config_invalid') {
      throw new EmulatorError(
        'config_invalid',
        `${error.message}\n  (The config as changed by the overrides passed to startEmulator: ${overrides.join(', ')}.)`,
        {
          fix: 'Fix the override or the config, as shown above.',
          cause: error,
        },
      );
    }
    throw error;
  }
}

/**
 * Edits the JSON text in place (jsonc-parser `modify`, unformatted, so inserted
 * values stay on the line they belong to and the other lines keep their numbers).
 */
export function applyOverrides(text: string, overrides: ConfigOverrides): string {
  const raw: unknown = parse(text, [], { allowTrailingComma: true, disallowComments: false });
  const servicesOf = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' && 'services' in value && isPlainObject(value.services) ? value.services : {};
  let result = text;
  const set = (jsonPath: (string | number)[], value: unknown): void => {
    result = applyEdits(result, modify(result, jsonPath, value, {}));
  };

  if (overrides.cloudEnv !== undefined) set(['cloudEnv'], overrides.cloudEnv);
  const names = new Set([...Object.keys(servicesOf(raw)), ...Object.keys(overrides.services ?? {})]);
  for (const name of names) {
    const existing = servicesOf(raw)[name];
    const override = overrides.services?.[name];
    if (!isPlainObject(existing)) {
      if (override === undefined) continue; // not an object in the file: validation reports it
      set(['services', name], { ...withoutNulls(override), env: { ...overrides.env, ...override.env } });
      continue;
    }
    for (const [key, value] of Object.entries(overrides.env ?? {})) set(['services', name, 'env', key], value);
    for (const [key, value] of Object.entries(override ?? {})) {
      if (key === 'env' && isPlainObject(value) && (existing.env === undefined || isPlainObject(existing.env))) {
        for (const [envKey, envValue] of Object.entries(value)) set(['services', name, 'env', envKey], envValue);
      } else {
        // undefined and null remove the key (e.g. `port: null` for a free port).
        set(['services', name, key], value ?? undefined);
      }
    }
  }
  return result;
}

function describeOverrides(options: ConfigOverrides): string[] {
  const parts: string[] = [];
  for (const name of Object.keys(options.services ?? {})) parts.push(`services.${name}`);
  if (options.env !== undefined && Object.keys(options.env).length > 0) parts.push('env');
  if (options.cloudEnv !== undefined) parts.push('cloudEnv');
  return parts;
}

function isResolved(config: ConfigSourceOptions['config']): config is EmulatorConfig {
  return typeof config === 'object' && config.services instanceof Map;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function withoutNulls(entry: ServiceOverride): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== null && value !== undefined));
}
