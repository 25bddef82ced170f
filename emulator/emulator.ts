import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { loadConfig, parseHostPort, type LoadOptions } from './config/load.js';
import type { EmulatorConfig, RuntimeKind, ServiceConfig } from './config/types.js';
import { startDnsServer, systemResolvers, type DnsServer } from './dns/server.js';
import { EmulatorError } from './errors.js';
import { silentLogger, type CallRecord, type Logger } from './logging/logger.js';
import { startProxy, type ProxyServer, type ServiceDirectory } from './proxy/server.js';
import { portTakenError, processRuntime } from './runtimes/process/process-runtime.js';
import { isPortFree } from './util/net.js';
import type { Runtime } from './runtimes/types.js';
import { ServiceSupervisor } from './supervisor/service-supervisor.js';

export interface StartOptions {
  /** A config file path (default `emulator.config.json` in the working directory) or a resolved config. */
  config?: string | EmulatorConfig;
  /** Forces services that have a `docker` section onto that runtime. */
  runtime?: RuntimeKind;
  /** Overrides `proxy.port` (0 = a free port). */
  proxyPort?: number;
  /** Overrides `dns.port` (0 = a free port). */
  dnsPort?: number;
  logger?: Logger;
  /** Aborting it cancels a start that is still waiting for services. */
  signal?: AbortSignal;
}

export interface Emulator {
  readonly config: EmulatorConfig;
  /** `http://127.0.0.1:port` of the routing proxy: use as HTTP_PROXY, or send Host: {from}-{to}.inner-call... */
  readonly proxyUrl: string;
  readonly dns: { readonly host: string; readonly port: number };
  /** The service straight, without the proxy (calls from the mini-program side). */
  url(name: string): string;
  /** `http://{fromId}-{toId}.inner-call.dyc.ivolces.com{path}` for two service names. */
  innerCallUrl(from: string, to: string, path?: string): string;
  /** Recent inter-service calls, oldest first. */
  calls(): CallRecord[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const CALL_HISTORY = 1_000;
const RUNTIMES: Partial<Record<RuntimeKind, Runtime>> = { process: processRuntime };

/**
 * Starts everything a config describes, in order: proxy, DNS server, one egress
 * port per service, then all services in parallel until each is healthy. Either
 * all of it runs or nothing does: a failure stops what had started and throws.
 */
export async function startEmulator(options: StartOptions = {}): Promise<Emulator> {
  const logger = options.logger ?? silentLogger;
  const loadOptions: LoadOptions = options.runtime === undefined ? {} : { runtime: options.runtime };
  const config = typeof options.config === 'object' ? options.config : loadConfig(options.config, loadOptions);
  const started = performance.now();

  // 1. Every service must have a runtime we can run.
  for (const service of config.services.values()) {
    if (RUNTIMES[service.runtime] === undefined) {
      throw new EmulatorError('runtime_unavailable', `Service "${service.name}" needs the ${service.runtime} runtime, which this version cannot run yet.`, {
        fix: `Give services.${service.name} a "command" to run it as a process.`,
      });
    }
  }

  // 2. Fixed ports must be free now: failing later would mean a half-started emulator.
  for (const service of config.services.values()) {
    if (service.runtime === 'process' && service.port !== undefined && !(await isPortFree(service.port))) throw portTakenError(service);
  }

  const history: CallRecord[] = [];
  const supervisors = new Map<string, ServiceSupervisor>();
  const directory: ServiceDirectory = {
    config: () => config,
    upstream: (service) => supervisors.get(service.name)?.availability() ?? { state: 'unavailable', reason: 'it is not running' },
  };
  const tracingLogger: Logger = {
    ...logger,
    call(record) {
      history.push(record);
      if (history.length > CALL_HISTORY) history.shift();
      logger.call(record);
    },
  };

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled([...supervisors.values()].map((supervisor) => supervisor.stop()));
    await Promise.allSettled(cleanups.reverse().map((cleanup) => cleanup()));
  };

  let proxy: ProxyServer;
  let dns: DnsServer;
  try {
    // 3. The routing proxy: the host's entry on proxy.port, plus one egress port per service.
    proxy = await startProxy({
      host: config.proxy.host,
      port: options.proxyPort ?? config.proxy.port,
      directory,
      logger: tracingLogger,
      admin: (req, res) => serveAdmin(req, res, { config, history, supervisors }),
    });
    cleanups.push(() => proxy.stop());

    // 4. DNS: inner-call names resolve to the proxy; everything else goes upstream.
    dns = await startDnsServer({
      host: config.dns.host,
      port: options.dnsPort ?? config.dns.port,
      answerV4: config.proxy.host,
      upstream: config.dns.upstream.length > 0 ? config.dns.upstream.map((server) => parseHostPort(server, 53)!) : systemResolvers(),
      logger: tracingLogger,
    });
    cleanups.push(() => dns.stop());

    // 5. Services, all at once; each waits for its health check.
    logger.info(`Starting ${config.services.size} service${config.services.size === 1 ? '' : 's'}: ${[...config.services.keys()].join(', ')}`);
    for (const service of config.services.values()) {
      const egressPort = await proxy.openEgress(service.name);
      supervisors.set(
        service.name,
        new ServiceSupervisor(service, RUNTIMES[service.runtime]!, tracingLogger, { config, logger: tracingLogger, egressUrl: `http://${config.proxy.host}:${egressPort}` }),
      );
    }
    const abort = new AbortController();
    options.signal?.addEventListener('abort', () => abort.abort(options.signal?.reason), { once: true });
    await Promise.all(
      [...supervisors.values()].map((supervisor) =>
        supervisor.start(abort.signal).catch((error: unknown) => {
          abort.abort(error); // the others need not keep waiting
          throw error;
        }),
      ),
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
  logger.info(`All ${config.services.size} services healthy in ${Math.round(performance.now() - started)} ms. Proxy ${proxy.url}, DNS ${dns.host}:${dns.port} (udp+tcp).`);

  let stopping: Promise<void> | undefined;
  const byName = (name: string): ServiceConfig => {
    const service = config.services.get(name);
    if (!service) throw new EmulatorError('usage', `No service named "${name}". Services: ${[...config.services.keys()].join(', ')}.`);
    return service;
  };
  const emulator: Emulator = {
    config,
    proxyUrl: proxy.url,
    dns: { host: dns.host, port: dns.port },
    url(name) {
      const url = supervisors.get(byName(name).name)?.url();
      if (url === undefined) throw new EmulatorError('service_start_failed', `Service "${name}" has no healthy instance right now.`);
      return url;
    },
    innerCallUrl(from, to, path = '/') {
      return `http://${byName(from).id}-${byName(to).id}.inner-call.dyc.ivolces.com${path.startsWith('/') ? path : `/${path}`}`;
    },
    calls: () => [...history],
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return emulator.stop();
    },
  };
  return emulator;
}

interface AdminState {
  config: EmulatorConfig;
  history: CallRecord[];
  supervisors: Map<string, ServiceSupervisor>;
}

/** `/_emulator/*` on the host's proxy port: what the CLI's `call` and tools read. */
function serveAdmin(req: IncomingMessage, res: ServerResponse, state: AdminState): void {
  const path = (req.url ?? '').split('?')[0];
  let body: unknown;
  if (path === '/_emulator/info') {
    body = {
      emulator: 'dyc-emulator',
      config: state.config.file,
      services: [...state.config.services.values()].map((service) => ({
        name: service.name,
        id: service.id,
        runtime: service.runtime,
        allow: [...service.allow],
        url: state.supervisors.get(service.name)?.url() ?? null,
      })),
    };
  } else if (path === '/_emulator/calls') {
    body = state.history;
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: 'Admin endpoints: /_emulator/info, /_emulator/calls' }) + '\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}
