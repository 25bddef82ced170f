import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LoadOptions } from './config/load.js';
import { withPortsInUse, type EmulatorConfig, type RuntimeKind, type ServiceConfig } from './config/types.js';
import { startDnsServer, systemResolvers, type DnsServer } from './dns/server.js';
import { EmulatorError } from './errors.js';
import { CallTrace } from './logging/call-trace.js';
import { silentLogger, type CallRecord, type Logger } from './logging/logger.js';
import { startProxy, type ProxyServer, type ServiceDirectory } from './proxy/server.js';
import { portTakenError, ProcessRuntime } from './runtimes/process/process-runtime.js';
import { DockerRuntime } from './runtimes/docker/docker-runtime.js';
import { isPortFree } from './util/net.js';
import type { Runtime } from './runtimes/types.js';
import { ServiceSupervisor } from './supervisor/service-supervisor.js';
import { diffConfigs, isEmpty } from './config/diff.js';
import { startHotReload, type HotReload } from './watch/hot-reload.js';
import { resolveConfig, type ConfigSourceOptions } from './config/overrides.js';
import { innerCallAgent, type InnerCallAgent } from './testing/request.js';
import { innerCallUrl, requireService } from './inner-call/index.js';

/**
 * `config` (a file path, default `emulator.config.json` in the working directory, or
 * an object shaped like the file with `root` for its relative paths) and per-test
 * overrides (`services`, `env`, `cloudEnv`) come from {@link ConfigSourceOptions}.
 */
export interface StartOptions extends ConfigSourceOptions {
  /** Forces services that have a `docker` section onto that runtime. */
  runtime?: RuntimeKind;
  /** Port of the routing proxy. Default 0: a free port, so emulators never collide (the CLI passes `proxy.port`). */
  proxyPort?: number;
  /** Port of the DNS server. Default 0: a free port (the CLI passes `dns.port`). */
  dnsPort?: number;
  /** Receives service output, events and calls. Default: silent (library code never prints). */
  logger?: Logger;
  /** Aborting it cancels a start that is still waiting for services. */
  signal?: AbortSignal;
  /**
   * Hot reload: restart a service when its files change, apply config edits live.
   * Default false here (tests want a fixed world); `emulator up` turns it on.
   */
  watch?: boolean;
}

export interface Emulator {
  /**
   * The config in force now (it changes when the file is edited and `watch` is on), with
   * the ports the proxy and the DNS server actually listen on.
   */
  readonly config: EmulatorConfig;
  /** `http://127.0.0.1:port` of the routing proxy: use as HTTP_PROXY, or send Host: {from}-{to}.inner-call... */
  readonly proxyUrl: string;
  /** Where the DNS server listens (UDP and TCP). */
  readonly dns: { readonly host: string; readonly port: number };
  /** The service (name or id) straight, without the proxy (calls from the mini-program side). */
  url(name: string): string;
  /** `http://{fromId}-{toId}.inner-call.dyc.ivolces.com{path}` for two services (names or ids). */
  innerCallUrl(from: string, to: string, path?: string): string;
  /**
   * A supertest agent acting as service `from` (name or id) calling `to`: requests go to
   * the proxy with `Host: {fromId}-{toId}.inner-call.dyc.ivolces.com`, so the allow-list
   * applies and denials come back as the proxy's JSON errors.
   * @example await emu.request('gateway', 'orders').get('/orders/1').expect(200)
   */
  request(from: string, to: string): InnerCallAgent;
  /** The last 1000 calls through the proxy, oldest first: from, to (names), method, path, status, error, durationMs, time. */
  calls(): CallRecord[];
  /** Forgets the calls recorded so far, so that `calls()` shows only what comes next. */
  clearCalls(): void;
  /** Stops services, proxy and DNS. Idempotent: every call returns the same promise. */
  stop(): Promise<void>;
  /** `stop()`, for `await using emu = await startEmulator()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const CALL_HISTORY = 1_000;

/**
 * Starts everything a config describes, in order: proxy, DNS server, one egress
 * port per service, then all services in parallel until each is healthy. Either
 * all of it runs or nothing does: a failure stops what had started and throws an
 * EmulatorError with the failing service's last log lines.
 *
 * @example
 * await using emu = await startEmulator({ services: { orders: { env: { FLAG: '1' } } } });
 * await emu.request('gateway', 'orders').get('/orders/1').expect(200);
 */
export async function startEmulator(options: StartOptions = {}): Promise<Emulator> {
  const logger = options.logger ?? silentLogger;
  const loadOptions: LoadOptions = options.runtime === undefined ? {} : { runtime: options.runtime };
  let config = resolveConfig(options, loadOptions);
  const started = performance.now();

  // 2. Fixed ports must be free now: failing later would mean a half-started emulator.
  for (const service of config.services.values()) {
    if (service.kind === 'process' && service.port !== undefined && !(await isPortFree(service.port))) throw portTakenError(service, service.port);
  }

  const history = new CallTrace(CALL_HISTORY);
  const supervisors = new Map<string, ServiceSupervisor>();
  const directory: ServiceDirectory = {
    config: () => config,
    upstream: (service) => supervisors.get(service.name)?.availability() ?? { state: 'unavailable', reason: 'it is not running' },
    callerByAddress: (address) => docker.callerByAddress(address),
    instancePorts: () => [...supervisors.values()].flatMap((supervisor) => supervisor.ports()),
  };
  const tracingLogger: Logger = {
    ...logger,
    call(record) {
      history.push(record);
      logger.call(record);
    },
  };

  const dnsUpstream = config.dns.upstream.length > 0 ? [...config.dns.upstream] : systemResolvers();
  // Created now, connects to the engine only if a service needs it (step 5, or a later config edit).
  const docker = new DockerRuntime({ logger: tracingLogger, openRouterListener: (host) => proxy.openRouterListener(host), dnsUpstream, configFile: config.file });
  const processRuntime = new ProcessRuntime();
  const runtime: Runtime = {
    start(service, context) {
      switch (service.kind) {
        case 'process':
          return processRuntime.start(service, context);
        case 'docker':
          return docker.start(service, context);
      }
    },
  };

  let proxy: ProxyServer;
  let dns: DnsServer;
  let hotReload: HotReload | undefined;

  const createSupervisor = async (service: ServiceConfig): Promise<ServiceSupervisor> => {
    const egressPort = await proxy.openEgress(service.name);
    const supervisor = new ServiceSupervisor(service, {
      runtime,
      logger: tracingLogger,
      context: {
        get config() {
          return config; // the one in force when an instance starts (cloudEnv may change)
        },
        logger: tracingLogger,
        egressUrl: `http://${config.proxy.host}:${egressPort}`,
      },
      drain: (instance) => proxy.whenIdle(instance.host, instance.port, config.proxy.callTimeoutMs),
    });
    supervisors.set(service.name, supervisor);
    return supervisor;
  };

  /** Moves the running emulator to a new, valid config: routing at once, services as needed. */
  const applyConfig = async (next: EmulatorConfig): Promise<void> => {
    const changes = diffConfigs(config, next);
    if (isEmpty(changes)) return;
    for (const setting of changes.needsRestart) logger.warn(`${setting} changed: restart the emulator to apply it.`);
    config = next; // the proxy reads it on every call: allow and ids apply to the next call
    for (const name of changes.rerouted) {
      const service = next.services.get(name)!;
      logger.info(`config: ${name} may now call ${service.allow.size === 0 ? 'nothing' : [...service.allow].join(', ')}`);
    }
    await Promise.allSettled([
      ...changes.removed.map(async (name) => {
        logger.info(`config: ${name} removed`);
        await supervisors.get(name)?.stop();
        supervisors.delete(name);
        await proxy.closeEgress(name);
      }),
      ...changes.added.map(async (name) => {
        logger.info(`config: ${name} added`);
        const supervisor = await createSupervisor(next.services.get(name)!);
        await supervisor.start().catch((error: unknown) => logger.serviceEvent(name, `did not start: ${error instanceof Error ? error.message : String(error)}`, 'error'));
      }),
      ...changes.changed.map((name) => supervisors.get(name)?.reload('config changed', next.services.get(name)!)),
    ]);
  };

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    await hotReload?.stop();
    await Promise.allSettled([...supervisors.values()].map((supervisor) => supervisor.stop()));
    await Promise.allSettled(cleanups.reverse().map((cleanup) => cleanup()));
  };

  try {
    // 3. The routing proxy: the host's entry on proxy.port, plus one egress port per service.
    proxy = await startProxy({
      host: config.proxy.host,
      port: options.proxyPort ?? 0,
      directory,
      logger: tracingLogger,
      admin: (req, res) => serveAdmin(req, res, { config, history, supervisors }),
    });
    cleanups.push(() => proxy.stop());

    // 4. DNS: inner-call names resolve to the proxy; everything else goes upstream.
    dns = await startDnsServer({
      host: config.dns.host,
      port: options.dnsPort ?? 0,
      answerV4: config.proxy.host,
      upstream: dnsUpstream,
      logger: tracingLogger,
    });
    cleanups.push(() => dns.stop());

    // 5. Docker: engine, session network, router container; first, so a missing engine fails before anything runs.
    cleanups.push(() => docker.stop());
    if ([...config.services.values()].some((service) => service.kind === 'docker')) await docker.prepare();

    // 6. Services, all at once; each waits for its health check.
    logger.info(`Starting ${config.services.size} service${config.services.size === 1 ? '' : 's'}: ${[...config.services.keys()].join(', ')}`);
    for (const service of config.services.values()) await createSupervisor(service);
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

    // 7. Hot reload, once everything runs.
    if (options.watch) {
      const file = config.file;
      hotReload = await startHotReload({
        config: () => config,
        loadConfig: () => resolveConfig({ ...options, config: file }, loadOptions), // overrides stay applied
        applyConfig,
        reloadService: (name, reason) => supervisors.get(name)?.reload(reason) ?? Promise.resolve(false),
        logger: tracingLogger,
      });
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  logger.info(`All ${config.services.size} services healthy in ${Math.round(performance.now() - started)} ms. Proxy ${proxy.url}, DNS ${dns.host}:${dns.port} (udp+tcp).`);

  let stopping: Promise<void> | undefined;
  const emulator: Emulator = {
    get config() {
      return withPortsInUse(config, { proxy: proxy.port, dns: dns.port });
    },
    proxyUrl: proxy.url,
    dns: { host: dns.host, port: dns.port },
    url(name) {
      const url = supervisors.get(requireService(config, name).name)?.url();
      if (url === undefined) throw new EmulatorError('service_start_failed', `Service "${name}" has no healthy instance right now.`);
      return url;
    },
    innerCallUrl(from, to, path = '/') {
      return innerCallUrl(requireService(config, from).id, requireService(config, to).id, path);
    },
    request: (from, to) => innerCallAgent(proxy.url, config, from, to),
    calls: () => history.list(),
    clearCalls() {
      history.clear();
    },
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
  history: CallTrace;
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
        runtime: service.kind,
        allow: [...service.allow],
        url: state.supervisors.get(service.name)?.url() ?? null,
      })),
    };
  } else if (path === '/_emulator/calls') {
    body = state.history.list();
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: 'Admin endpoints: /_emulator/info, /_emulator/calls' }) + '\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}
