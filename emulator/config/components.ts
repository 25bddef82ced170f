import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * `components`: the platform's databases (SPEC "Components"). The schema part and its
 * resolution live here, beside the rest of the config, so that schema.ts and load.ts
 * only gain a line each.
 */

const port = z.number().int().min(1).max(65535);

const common = {
  runtime: z
    .enum(['process', 'docker'])
    .optional()
    .describe(
      'Where the server runs. Default: a container when any service runs in docker, else a local process when the binary is on PATH, else a container.',
    ),
  image: z.string().min(1).optional().describe('Container image (docker runtime).'),
  port: port.optional().describe('Host port the server is reached on from processes. Default: a free port.'),
  username: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,32}$/)
    .optional(),
  password: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[^'"\\\s]+$/)
    .optional()
    .describe('Password (no quotes, backslashes or spaces). Default: "emulator".'),
  startTimeout: z.number().positive().max(600).optional().describe('Seconds the server has to answer (PING / SELECT 1). Default 60.'),
};

export const redisSchema = z
  .strictObject({
    ...common,
    image: common.image.describe('Container image (docker runtime). Default redis:7.'),
    username: common.username.describe('REDIS_USERNAME. Default "default" (the ACL user that `requirepass` protects).'),
  })
  .describe('A Redis server; services get REDIS_ADDRESS, REDIS_USERNAME and REDIS_PASSWORD.');

export const mysqlSchema = z
  .strictObject({
    ...common,
    image: common.image.describe('Container image (docker runtime). Default mysql:8.0.'),
    username: common.username.describe('MYSQL_USERNAME. Default "app".'),
    database: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,64}$/)
      .optional()
      .describe('MYSQL_DATABASE, created if missing. Default "app".'),
    init: z
      .union([z.string().min(1), z.array(z.string().min(1))])
      .optional()
      .describe('SQL file(s), relative to the config file, run once in MYSQL_DATABASE when its data directory is new.'),
  })
  .describe('A MySQL server (mysqld or mariadbd locally, mysql:8.0 in docker); services get MYSQL_ADDRESS, MYSQL_USERNAME, MYSQL_PASSWORD and MYSQL_DATABASE.');

export const componentsSchema = z
  .strictObject({
    redis: redisSchema.optional(),
    mysql: mysqlSchema.optional(),
    mongo: z.unknown().optional().describe('Not supported yet.'),
  })
  .describe('The platform’s database components: real servers, data in .emulator/data/<component>/ next to this file.');

export const COMPONENT_KEYS = {
  top: Object.keys(componentsSchema.shape),
  redis: Object.keys(redisSchema.shape),
  mysql: Object.keys(mysqlSchema.shape),
};

export type ComponentsEntry = z.infer<typeof componentsSchema>;
export type ComponentName = 'redis' | 'mysql';

interface CommonComponentConfig {
  /** undefined: decided at start (docker services, binary on PATH, engine). */
  readonly runtime: 'process' | 'docker' | undefined;
  readonly image: string;
  readonly port: number | undefined;
  readonly username: string;
  readonly password: string;
  readonly startTimeoutMs: number;
}

export interface RedisComponentConfig extends CommonComponentConfig {
  readonly kind: 'redis';
}

export interface MysqlComponentConfig extends CommonComponentConfig {
  readonly kind: 'mysql';
  readonly database: string;
  /** Absolute paths of the init SQL files, in order. */
  readonly init: readonly string[];
}

export type ComponentConfig = RedisComponentConfig | MysqlComponentConfig;

export interface ComponentsConfig {
  readonly redis?: RedisComponentConfig;
  readonly mysql?: MysqlComponentConfig;
  /** `.emulator/data` next to the config file: one folder per component. */
  readonly dataDir: string;
}

export const COMPONENT_DEFAULTS = {
  password: 'emulator',
  redisUsername: 'default',
  redisImage: 'redis:7',
  mysqlUsername: 'app',
  mysqlDatabase: 'app',
  mysqlImage: 'mysql:8.0',
  startTimeoutSeconds: 60,
} as const;

interface ComponentProblem {
  path: (string | number)[];
  message: string;
  fix?: string;
  atKey?: boolean;
}

/** Turns the validated `components` entry into its resolved form; problems go to the caller's list. */
export function resolveComponents(entry: ComponentsEntry | undefined, configFile: string, problems: ComponentProblem[]): ComponentsConfig {
  const root = path.dirname(configFile);
  const dataDir = path.join(root, '.emulator', 'data');
  if (entry === undefined) return { dataDir };
  if (entry.mongo !== undefined) {
    problems.push({
      path: ['components', 'mongo'],
      atKey: true,
      message: 'MongoDB is not supported yet (only "redis" and "mysql" are).',
      fix: 'Remove components.mongo; until it is supported, run MongoDB yourself and set MONGO_ADDRESS, MONGO_USERNAME and MONGO_PASSWORD in the services’ "env".',
    });
  }
  const timeout = (seconds: number | undefined): number => (seconds ?? COMPONENT_DEFAULTS.startTimeoutSeconds) * 1000;
  const redis: RedisComponentConfig | undefined =
    entry.redis === undefined
      ? undefined
      : {
          kind: 'redis',
          runtime: entry.redis.runtime,
          image: entry.redis.image ?? COMPONENT_DEFAULTS.redisImage,
          port: entry.redis.port,
          username: entry.redis.username ?? COMPONENT_DEFAULTS.redisUsername,
          password: entry.redis.password ?? COMPONENT_DEFAULTS.password,
          startTimeoutMs: timeout(entry.redis.startTimeout),
        };
  let mysql: MysqlComponentConfig | undefined;
  if (entry.mysql !== undefined) {
    const m = entry.mysql;
    const files = m.init === undefined ? [] : typeof m.init === 'string' ? [m.init] : m.init;
    const init = files.map((file, index) => {
      const absolute = path.resolve(root, file);
      if (!existsSync(absolute)) {
        problems.push({
          path: typeof m.init === 'string' ? ['components', 'mysql', 'init'] : ['components', 'mysql', 'init', index],
          message: `file ${absolute} does not exist.`,
          fix: 'Create it, or fix the path (relative to the config file).',
        });
      }
      return absolute;
    });
    const username = m.username ?? COMPONENT_DEFAULTS.mysqlUsername;
    if (username === 'root') {
      problems.push({
        path: ['components', 'mysql', 'username'],
        message: '"root" is the server’s administrator, not an application user.',
        fix: 'Use another name, e.g. "app".',
      });
    }
    mysql = {
      kind: 'mysql',
      runtime: m.runtime,
      image: m.image ?? COMPONENT_DEFAULTS.mysqlImage,
      port: m.port,
      username,
      password: m.password ?? COMPONENT_DEFAULTS.password,
      database: m.database ?? COMPONENT_DEFAULTS.mysqlDatabase,
      init,
      startTimeoutMs: timeout(m.startTimeout),
    };
  }
  if (redis?.port !== undefined && redis.port === mysql?.port) {
    problems.push({
      path: ['components', 'mysql', 'port'],
      message: `port ${redis.port} is already components.redis.port.`,
      fix: 'Give each component its own port, or remove "port" to get a free one.',
    });
  }
  return { ...(redis && { redis }), ...(mysql && { mysql }), dataDir };
}

/** Wording for a value that fails a component key's pattern. */
export function componentFormatMessage(key: string): string {
  switch (key) {
    case 'username':
      return 'is not a valid user name: letters, digits and "_", at most 32 characters.';
    case 'database':
      return 'is not a valid database name: letters, digits and "_", at most 64 characters.';
    case 'password':
      return 'cannot contain quotes, backslashes or white space (it is passed on command lines and in SQL).';
    default:
      return 'has the wrong format.';
  }
}
