import path from 'node:path';
import pc from 'picocolors';
import { startEmulator, type Emulator } from '../../emulator.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags, onStopSignal } from '../shared.js';
import { createTerminalLogger } from '../terminal-logger.js';

export const upCommand: Command = {
  summary: 'Start every service, the routing proxy and the DNS server; stream logs until Ctrl-C',
  details: [
    'Starts all services of the config and waits until each answers its health check.',
    'Logs are prefixed [name]; each inter-service call prints one line, denials in red.',
    'Ctrl-C stops everything (each service gets SIGTERM, then SIGKILL after 5 s).',
  ].join('\n'),
  options: {
    ...RUNTIME_OPTION,
    'no-watch': { type: 'boolean', description: 'do not reload services when their files change, nor apply config edits' },
    'no-dashboard': { type: 'boolean', description: 'do not serve the web dashboard (default http://127.0.0.1:8070, dashboard.port)' },
  },
  async run(values) {
    const config = configFromFlags(values);
    const logger = createTerminalLogger(config.services.keys());
    const abort = new AbortController();
    let stopRequested = false;
    const stopped = onStopSignal((signal) => {
      stopRequested = true;
      logger.info(`${signal}: stopping… (press Ctrl-C again to kill at once)`);
      abort.abort(new Error(`interrupted by ${signal}`));
    });
    const dashboard = config.dashboard === false || values['no-dashboard'] === true ? false : { port: config.dashboard.port };
    let emulator: Emulator;
    try {
      emulator = await startEmulator({
        config,
        proxyPort: config.proxy.port,
        dnsPort: config.dns.port,
        dnsPortFallback: !config.dns.portSet,
        entryPort: config.entry.port,
        publishedPorts: 'config',
        logger,
        signal: abort.signal,
        watch: values['no-watch'] !== true,
        dashboard,
      });
    } catch (error) {
      if (stopRequested) return stopped;
      throw error;
    }
    // An allowed pair: a hint that answers 403 would look like a broken emulator.
    const pair = [...config.services.values()].flatMap((from) => [...from.allow].filter((to) => to !== from.name).map((to) => [from.name, to] as const))[0];
    if (pair) {
      logger.info(`Try: ${pc.cyan(`curl -x ${emulator.proxyUrl} ${emulator.innerCallUrl(pair[0], pair[1], '/v1/ping')}`)}  ·  routes: npx emulator routes`);
    }
    if (values['no-watch'] !== true)
      logger.info(`Watching ${config.services.size} services and ${path.basename(config.file)} for changes (--no-watch turns it off).`);
    if (stopRequested) {
      await emulator.stop();
      return stopped;
    }
    const code = await stopped;
    await emulator.stop();
    logger.info('Stopped.');
    return code;
  },
};
