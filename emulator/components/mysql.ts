import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MysqlComponentConfig } from '../config/components.js';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { AdminTarget, ComponentDriver, ProcessStart } from './driver.js';
import { findBinary, outputOf, runToCompletion, spawnServer, type Server } from './server.js';

type Connection = import('mysql2/promise').Connection;

/** mariadbd and mysqld log `[ERROR]`/`[Warning]`; only errors are worth showing in `up`. */
const ERROR_LINE = /\[ERROR\]/;
/** Small caches: this is a laptop's development database, and start-up time matters more. */
const MARIADB_TUNING = ['--innodb-buffer-pool-size=64M', '--innodb-log-file-size=16M'];

const runningAsRoot = (): boolean => process.getuid?.() === 0;

const flavours = new Map<string, Promise<'mariadb' | 'mysql'>>();

/** `mariadb` or `mysql`: whose datadir format and whose set-up tool. Asked once per binary (a spawn costs ~0.1 s). */
function flavour(binary: string): Promise<'mariadb' | 'mysql'> {
  let known = flavours.get(binary);
  if (known === undefined) {
    // Debian's mysqld is a link to mariadbd: the name answers without a spawn.
    if (path.basename(realpathSync(binary)).startsWith('mariadb')) known = Promise.resolve('mariadb');
    else
      known = outputOf(binary, ['--version']).then((version) =>
        /mariadb/i.test(version ?? '') || path.basename(binary).startsWith('mariadb') ? 'mariadb' : 'mysql',
      );
    flavours.set(binary, known);
  }
  return known;
}

/** The unix socket of a process server: short (the limit is ~104 bytes), one per data folder. */
function socketPath(componentDir: string): string {
  return path.join(os.tmpdir(), `dyc-emulator-mysql-${createHash('sha256').update(componentDir).digest('hex').slice(0, 12)}.sock`);
}

async function connect(target: AdminTarget, password: string, database?: string, multipleStatements = false): Promise<Connection> {
  const mysql = await import('mysql2/promise'); // loaded when a mysql component runs, not on every CLI start
  return mysql.createConnection({
    ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
    user: 'root',
    // Process: root without a password, on the socket only (--initialize-insecure, install-db with
    // normal authentication). Container: the image's MYSQL_ROOT_PASSWORD.
    password: target.runtime === 'docker' ? password : '',
    ...(database && { database }),
    multipleStatements,
    connectTimeout: 2_000,
  });
}

export const mysqlDriver: ComponentDriver<MysqlComponentConfig> = {
  name: 'mysql',
  binaries: ['mariadbd', 'mysqld'],
  install: '`sudo apt-get install mariadb-server` (Debian, Ubuntu) or `brew install mysql` (macOS)',
  containerPort: 3306,
  mountPath: '/var/lib/mysql',
  check: 'SELECT 1',

  async identity(runtime, config, binary) {
    return runtime === 'docker' ? `${config.image} (docker)` : `${await flavour(binary!)} (process)`;
  },

  async initialise({ binary, dir }: ProcessStart<MysqlComponentConfig>): Promise<void> {
    const fix = 'Read the output above; `npx emulator reset mysql` starts over.';
    const user = runningAsRoot() ? ['--user=root'] : [];
    if ((await flavour(binary)) === 'mysql') {
      await runToCompletion(
        binary,
        ['--no-defaults', '--initialize-insecure', `--datadir=${dir}`, ...user],
        'components.mysql: initialising the data folder',
        fix,
      );
      return;
    }
    const installDb = findBinary(['mariadb-install-db', 'mysql_install_db']);
    if (installDb === undefined) {
      throw new EmulatorError('component_unavailable', `components.mysql: found ${binary} but not mariadb-install-db, which creates its system tables.`, {
        fix: 'Install the whole server package (`sudo apt-get install mariadb-server`), or run MySQL in docker ("runtime": "docker").',
      });
    }
    const args = [
      '--no-defaults',
      `--datadir=${dir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...user,
      ...MARIADB_TUNING,
    ];
    await runToCompletion(installDb, args, 'components.mysql: initialising the data folder (mariadb-install-db)', fix);
  },

  async startProcess({ binary, port, dir, componentDir, logger }: ProcessStart<MysqlComponentConfig>): Promise<Server> {
    const socket = socketPath(componentDir);
    rmSync(socket, { force: true }); // left by a killed server; mysqld refuses to start over it
    const common = [
      '--no-defaults', // the machine's /etc/mysql/my.cnf belongs to its own server, not to ours
      `--datadir=${dir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(componentDir, 'mysqld.pid')}`,
      '--skip-name-resolve',
      ...(runningAsRoot() ? ['--user=root'] : []),
    ];
    const args = (await flavour(binary)) === 'mariadb' ? [...common, ...MARIADB_TUNING] : [...common, '--mysqlx=OFF'];
    mkdirSync(dir, { recursive: true });
    return spawnServer(binary, args, { label: 'mysql', logger, componentDir, show: (line) => ERROR_LINE.test(line) });
  },

  processTarget: ({ port, componentDir }) => ({ host: '127.0.0.1', port, socketPath: socketPath(componentDir), runtime: 'process' }),

  // The official image's contract: it creates root, the database and the user on first start.
  container: (config) => ({
    env: { MYSQL_ROOT_PASSWORD: config.password, MYSQL_DATABASE: config.database, MYSQL_USER: config.username, MYSQL_PASSWORD: config.password },
  }),
  showContainerLine: (line) => ERROR_LINE.test(line),

  async ready(config, target) {
    const connection = await connect(target, config.password);
    try {
      await connection.query('SELECT 1');
    } finally {
      await connection.end().catch(() => {});
    }
  },

  async afterReady(config, target, fresh, logger) {
    await ensureDatabase(config, target);
    if (fresh && config.init.length > 0) await runInit(config, target, logger);
  },

  env: (config, address) => ({ MYSQL_ADDRESS: address, MYSQL_USERNAME: config.username, MYSQL_PASSWORD: config.password, MYSQL_DATABASE: config.database }),
};

/**
 * The database and the user, every start: idempotent, so that a changed password or a
 * database added to the config apply without a reset.
 */
async function ensureDatabase(config: MysqlComponentConfig, target: AdminTarget): Promise<void> {
  const connection = await connect(target, config.password);
  try {
    const user = `'${config.username}'@'%'`;
    await connection.query(`CREATE DATABASE IF NOT EXISTS \`${config.database}\``);
    await connection.query(`CREATE USER IF NOT EXISTS ${user} IDENTIFIED BY '${config.password}'`);
    await connection.query(`ALTER USER ${user} IDENTIFIED BY '${config.password}'`);
    await connection.query(`GRANT ALL PRIVILEGES ON \`${config.database}\`.* TO ${user}`);
  } catch (error) {
    throw new EmulatorError(
      'component_start_failed',
      `components.mysql: cannot create database "${config.database}" and user "${config.username}": ${(error as Error).message}`,
      {
        fix: 'Check components.mysql.username and database; `npx emulator reset mysql` starts over with empty data.',
        cause: error,
      },
    );
  } finally {
    await connection.end().catch(() => {});
  }
}

/** The init files, in order, in the database, as the administrator (they may create users, procedures…). */
async function runInit(config: MysqlComponentConfig, target: AdminTarget, logger: Logger): Promise<void> {
  const connection = await connect(target, config.password, config.database, true);
  try {
    for (const file of config.init) {
      const started = Date.now();
      try {
        await connection.query(readFileSync(file, 'utf8'));
      } catch (error) {
        const detail = error as Error & { sqlMessage?: string };
        throw new EmulatorError('component_start_failed', `components.mysql.init: ${file} failed: ${detail.sqlMessage ?? detail.message}`, {
          fix: 'Fix the SQL and start again: the data folder was new, so it is emptied and the init files run again next time.',
          cause: error,
        });
      }
      logger.serviceEvent('mysql', `ran ${path.basename(file)} in ${Date.now() - started} ms`, 'info');
    }
  } finally {
    await connection.end().catch(() => {});
  }
}
