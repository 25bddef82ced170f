import path from 'node:path';
import type { RedisComponentConfig } from '../config/components.js';
import { redisPing } from './readiness.js';
import { spawnServer, type Server } from './server.js';
import type { ComponentDriver, ProcessStart } from './driver.js';

/**
 * Redis marks warnings and start-up facts alike with `#` (`1:M 01 Dec 2026 02:24:34.101 # …`);
 * only the failures are worth a line in `up` (the rest is in the error of a failed start).
 */
const WARNING = /^\d+:[A-Z] .* # .*(error|fatal|can't|cannot|failed|wrong)/i;

/** The ACL part of the command line: `requirepass` for the default user, an ACL user otherwise. */
function authArgs(config: RedisComponentConfig): string[] {
  if (config.username === 'default') return ['--requirepass', config.password];
  return ['--user', 'default', 'off', '--user', config.username, 'on', `>${config.password}`, '~*', '&*', '+@all'];
}

export const redisDriver: ComponentDriver<RedisComponentConfig> = {
  name: 'redis',
  binaries: ['redis-server'],
  install: '`sudo apt-get install redis-server` (Debian, Ubuntu) or `brew install redis` (macOS)',
  containerPort: 6379,
  mountPath: '/data',
  check: 'PING',

  identity: () => 'redis',

  async startProcess({ config, binary, port, dir, componentDir, logger }: ProcessStart<RedisComponentConfig>): Promise<Server> {
    // set-proc-title no: its command line keeps naming the data folder (`ps` shows whose it is).
    // AOF: every write is in the file within a second, so data survives a crash of the
    // server too, not only a clean stop.
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--set-proc-title',
      'no',
      '--pidfile',
      path.join(componentDir, 'redis.pid'),
      ...authArgs(config),
    ];
    return spawnServer(binary, args, { label: 'redis', logger, cwd: dir, componentDir, show: (line) => WARNING.test(line) });
  },

  container: (config) => ({ cmd: ['redis-server', '--port', '6379', '--dir', '/data', '--appendonly', 'yes', ...authArgs(config)], env: {} }),
  showContainerLine: (line) => WARNING.test(line),

  ready: (config, target) => redisPing(target.host, target.port, config.username, config.password),

  env: (config, address) => ({ REDIS_ADDRESS: address, REDIS_USERNAME: config.username, REDIS_PASSWORD: config.password }),
};
