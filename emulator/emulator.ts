import { performance } from 'node:perf_hooks';
import type { LoadOptions } from './config/load.js';
import { isRunnable, isStandIn, withPortsInUse, type EmulatorConfig, type RunnableService, type RuntimeKind, type ServiceConfig } from './config/types.js';
import { startDnsServer, systemResolvers, type DnsServer } from './dns/server.js';
import { EmulatorError, errorForLog } from './errors.js';
import { CallTrace } from './logging/call-trace.js';
import { silentLogger, type CallRecord, type Logger } from './logging/logger.js';
import { startProxy, type ProxyServer, type ServiceDirectory } from './proxy/server.js';
import { publishedPortTakenError, startPublishedPort, type PublishedPort } from './proxy/published-port.js';
import { portTakenError, ProcessRuntime } from './runtimes/process/process-runtime.js';
import { DockerRuntime } from './runtimes/docker/docker-runtime.js';
import { isPortFree } from './util/net.js';
import type { Instance, StartContext } from './runtimes/types.js';
import { ServiceSupervisor } from './supervisor/service-supervisor.js';
import { diffConfigs, isEmpty } from './config/diff.js';
import { startHotReload, type HotReload } from './watch/hot-reload.js';
import { resolveConfig, type ConfigSourceOptions } from './config/overrides.js';
import { entryAgent, innerCallAgent, type EntryAgent, type InnerCallAgent } from './testing/request.js';
import { innerCallUrl, requireService } from './inner-call/index.js';
import { noComponents, startComponents, type ComponentInfo, type Components } from './components/components.js';
import type { ComponentName } from './config/components.js';
import { serveStubAdmin } from './targets/admin.js';
import { standInSpec } from './targets/stand-in.js';
import { StandIns } from './targets/stand-ins.js';
import type { JournalEntry, StubServer } from './targets/stub/server.js';
import { EMULATOR_SOURCE, LogBuffer } from './logging/log-buffer.js';
import { createAdminApp, type AdminApp } from './dashboard/app.js';
import { callObserver } from './dashboard/details.js';
import { extraRows, stubsView } from './dashboard/views.js';
import { startDashboard, type DashboardServer } from './dashboard/server.js';
import { servePoliciesAdmin } from './calls/admin.js';
import { InstancePicker } from './calls/picker.js';
import { PolicyEngine } from './calls/policies.js';
import { chooseSeed } from './calls/random.js';
import { parseRuntimePolicies } from './config/load.js';
import type { PolicyRuleEntry } from './config/policies-schema.js';
import { httpUrl } from './util/addresses.js';

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
  /**
   * When `dnsPort` is in use, take a free port and warn instead of failing: what `up`
   * does when the config leaves `dns.port` to its default (the process runtime does not
   * need a fixed DNS port).
   */
  dnsPortFallback?: boolean;
  /**
   * Each service's stable address (`url(name)`): `'free'` (default) takes free ports, so
   * emulators never collide; `'config'` uses `services.<name>.publishedPort` where set
   * (what `emulator up` does).
   */
  publishedPorts?: 'free' | 'config';
  /** Port of the entry (mini-program calls). Default 0: a free port (the CLI passes `entry.port`). */
  entryPort?: number;
  /** Receives service output, events and calls. Default: silent (library code never prints). */
  logger?: Logger;
  /** Aborting it cancels a start that is still waiting for services. */
  signal?: AbortSignal;
  /**
   * Hot reload: restart a service when its files change, apply config edits live.
   * Default false here (tests want a fixed world); `emulator up` turns it on.
   */
  watch?: boolean;
  /**
   * Serves the web dashboard on 127.0.0.1: true for a free port, or `{ port }`.
   * Default false here; `emulator up` turns it on (`dashboard.port`, default 8070).
   */
  dashboard?: boolean | { port?: number };
}

export interface Emulator {
  /**
   * The config in force now (it changes when the file is edited and `watch` is on), with
   * the ports the proxy and the DNS server actually listen on.
   */
  readonly config: EmulatorConfig;
  /** `http://127.0.0.1:port` of the routing proxy: use as HTTP_PROXY, or send Host: {from}-{to}.inner-call... */
  readonly proxyUrl: string;
  /** `http://127.0.0.1:port` of the web dashboard, when it was asked for. */
  readonly dashboardUrl: string | undefined;
  /** `http://127.0.0.1:port` of the entry: what `callContainer` reaches (dyc-emulator/tt's entryUrl, EMULATOR_ENTRY_URL). */
  readonly entryUrl: string;
  /**
   * A supertest agent acting as the mini-program: requests go through the entry to
   * `service` (name or id; default `entry.service`) as `user` (a name in `entry.users`;
   * default the first), with the platform's identity headers.
   * @example await emu.entry({ user: 'alice' }).get('/api/me').expect(200)
   */
  entry(options?: { user?: string; service?: string }): EntryAgent;
  /** Where the DNS server listens (UDP and TCP). */
  readonly dns: { readonly host: string; readonly port: number };
  /**
   * The service (name or id) straight, without the proxy (calls from the mini-program
   * side): its published port, which forwards to the current instance and stays the same
   * across reloads and restarts for the life of the emulator.
   */
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
  /** The running databases (`components` in the config): `emu.components.redis?.address`, `.env` (REDIS_ADDRESS…) etc. */
  readonly components: Readonly<Partial<Record<ComponentName, ComponentInfo>>>;
  /** The last 1000 calls through the proxy, oldest first: from, to (names), method, path, status, error, durationMs, time. */
  calls(): CallRecord[];
  /** Forgets the calls recorded so far, so that `calls()` shows only what comes next. */
  clearCalls(): void;
  /**
   * The requests a `stub` service (name or id) received: its journal, the last 1000, oldest
   * first: caller id, method, URL, headers, body, whether a mapping matched, the status,
   * and for unmatched ones the near misses. `{ unmatched: true }`: only those no mapping answered.
   * @example assert.equal(JSON.parse(emu.stubRequests('payments')[0].body).amount, 10)
   */
  stubRequests(name: string, filter?: { unmatched?: boolean }): JournalEntry[];
  /** Empties a stub's journal. */
  clearStubRequests(name: string): void;
  /**
   * Replaces the run-time call rules (checked before the config's `policies`), validated
   * like the file's; throws EmulatorError('policies_invalid') naming the bad key and the fix.
   * @example emu.setPolicies([{ from: 'gateway', to: 'orders', fault: { abort: 503, percent: 50 } }])
   */
  setPolicies(rules: PolicyRuleEntry[]): void;
  /** Removes the run-time call rules; the config's stay. */
  clearPolicies(): void;
  /** The seed of the random source that decides faults (EMULATOR_SEED=seed replays a run). */
  readonly seed: number;
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
  const session = new Session(options);
  let listeners: Listeners;
  try {
    listeners = await session.start();
  } catch (error) {
    await session.stop();
    throw error;
  }
  return session.handle(listeners);
}

/** The servers every call goes through; `start` opens them in step 2. */
interface Listeners {
  readonly proxy: ProxyServer;
  readonly dns: DnsServer;
  /** The entry: the proxy's listener for mini-program calls. */
  readonly entry: { readonly url: string; readonly port: number };
}

/**
 * One running emulator: its state, owned here alone, and the steps that start it,
 * move it to a new config, and stop it.
 */
class Session {
  /** The config in force, as loaded (the file's ports; `handle().config` reports the ports in use). */
  private config: EmulatorConfig;
  private readonly loadOptions: LoadOptions;
  /** The caller's logger, with every call also kept for `calls()` and every line for the dashboard. */
  private readonly logger: Logger;
  private readonly trace = new CallTrace(CALL_HISTORY);
  private readonly logs = new LogBuffer();
  /** The admin API and the dashboard: one express app, on the proxy's main port and on its own (step 2). */
  private readonly admin: AdminApp;
  private proxy: ProxyServer | undefined;
  private dashboard: DashboardServer | undefined;
  private readonly supervisors = new Map<string, ServiceSupervisor>();
  /** Each service's stable address, forwarding to its current instance. */
  private readonly published = new Map<string, PublishedPort>();
  /** url, targets and stub services: an in-process stand-in each, always ready (emulator/targets). */
  private standIns: StandIns | undefined;
  /** The fault seed: EMULATOR_SEED, policiesSeed, or new. */
  private readonly seed: ReturnType<typeof chooseSeed>;
  /** Call rules: the file's come with each config, run-time ones live here. */
  private readonly policies: PolicyEngine;
  /** One load balancer per service over its ready replicas. */
  private readonly picker: InstancePicker;
  private readonly processes = new ProcessRuntime();
  /** Created with the proxy (its router needs a listener there); connects to an engine only when a service needs one. */
  private docker: DockerRuntime | undefined;
  private hotReload: HotReload | undefined;
  private components: Components = noComponents;
  /** Undone in reverse order by `stop()`. */
  private readonly cleanups: (() => Promise<void>)[] = [];
  private stopping: Promise<void> | undefined;
  /** Where the entry listens, once step 2 opened it (for /_emulator/info). */
  private entryUrl = '';

  constructor(private readonly options: StartOptions) {
    const logger = options.logger ?? silentLogger;
    const logs = this.logs;
    this.logger = {
      info: (message) => {
        logs.push(EMULATOR_SOURCE, 'info', message);
        logger.info(message);
      },
      warn: (message) => {
        logs.push(EMULATOR_SOURCE, 'warn', message);
        logger.warn(message);
      },
      error: (message) => {
        logs.push(EMULATOR_SOURCE, 'error', message);
        logger.error(message);
      },
      service: (name, line, stream) => {
        logs.push(name, stream, line);
        logger.service(name, line, stream);
      },
      serviceEvent: (name, message, level) => {
        logs.push(name, level, message);
        logger.serviceEvent(name, message, level);
      },
      call: (record) => {
        this.trace.push(record);
        logger.call(record);
      },
    };
    this.admin = this.adminApp();
    this.loadOptions = options.runtime === undefined ? {} : { runtime: options.runtime };
    this.config = resolveConfig(options, this.loadOptions);
    for (const warning of this.config.warnings) this.logger.warn(warning);
    this.seed = chooseSeed(this.config.policiesSeed);
    this.policies = new PolicyEngine({ seed: this.seed.seed, logger: this.logger });
    this.picker = new InstancePicker({ logger: this.logger, source: (service) => this.supervisors.get(service.name) });
  }

  /** Starts everything, in numbered steps; on failure the caller `stop()`s what had started. */
  async start(): Promise<Listeners> {
    const { config, options, logger } = this;
    const started = performance.now();

    // 1. Fixed ports must be free now: failing later would mean a half-started emulator.
    for (const service of config.services.values()) {
      if (service.kind === 'process' && service.port !== undefined && !(await isPortFree(service.port))) throw portTakenError(service, service.port);
      if (options.publishedPorts === 'config' && service.publishedPort !== undefined && !(await isPortFree(service.publishedPort)))
        throw publishedPortTakenError(service);
    }

    // 2. The routing proxy (the host's entry on proxy.port, plus one egress port per
    //    service, added in step 4) and DNS (inner-call names → the proxy; the rest upstream).
    const proxy = await startProxy({
      host: config.proxy.host,
      port: options.proxyPort ?? 0,
      directory: this.directory(),
      logger,
      policies: this.policies,
      admin: this.admin.handler,
    });
    this.proxy = proxy;
    this.cleanups.push(() => proxy.stop());
    const entry = await proxy.openEntry(config.entry.host, options.entryPort ?? 0); // closed with the proxy
    this.entryUrl = entry.url;
    this.cleanups.push(async () => this.picker.stop());
    const standIns = new StandIns(logger, (host, port) => proxy.whenIdle(host, port, this.config.proxy.callTimeoutMs));
    this.standIns = standIns;
    this.cleanups.push(async () => this.admin.stop());
    if (options.dashboard !== undefined && options.dashboard !== false) {
      const port = options.dashboard === true ? 0 : (options.dashboard.port ?? 0);
      const dashboard = await startDashboard({ app: this.admin, host: config.proxy.host, port, logger });
      this.dashboard = dashboard;
      this.cleanups.push(() => dashboard.stop());
      logger.info(`Dashboard: ${dashboard.url} (watch the services start there)`);
    }
    const dnsUpstream = config.dns.upstream.length > 0 ? [...config.dns.upstream] : systemResolvers();
    const startDns = (port: number): Promise<DnsServer> =>
      startDnsServer({ host: config.dns.host, port, answerV4: config.proxy.host, upstream: dnsUpstream, logger });
    const dns = await startDns(options.dnsPort ?? 0).catch(async (error: unknown) => {
      if (!options.dnsPortFallback || !(error instanceof EmulatorError) || error.code !== 'port_in_use') throw error;
      const fallback = await startDns(0);
      logger.warn(
        `DNS: port ${options.dnsPort} is in use, so the DNS server listens on ${fallback.port} instead. Set dns.port in the config to choose a port.`,
      );
      return fallback;
    });
    this.cleanups.push(() => dns.stop());

    // 3. Docker: engine, session network, router container. Now, when a service needs it,
    //    so that a missing engine fails before anything runs; else at a config edit that adds one.
    const docker = new DockerRuntime({ logger, openRouterListener: (host) => proxy.openRouterListener(host), dnsUpstream, configFile: config.file });
    this.docker = docker;
    this.cleanups.push(() => docker.stop());
    if ([...config.services.values()].some((service) => service.kind === 'docker')) await docker.prepare();

    // 3b. Components (databases), before the services whose environment names them.
    this.components = await startComponents({ config, logger, docker: () => docker.componentSession(), ...(options.signal && { signal: options.signal }) });
    this.cleanups.push(() => this.components.stop());

    // 4. Services, all at once; each waits for its health check. The first failure stops the others' waiting.
    logger.info(`Starting ${config.services.size} service${config.services.size === 1 ? '' : 's'}: ${[...config.services.keys()].join(', ')}`);
    //    Stand-ins (url, targets, stub) are ready once they listen; a broken mapping file fails the start as a config error does.
    const supervisors = await Promise.all([...config.services.values()].filter(isRunnable).map((service) => this.supervise(service, proxy)));
    const abort = new AbortController();
    options.signal?.addEventListener('abort', () => abort.abort(options.signal?.reason), { once: true });
    const failFast = (error: unknown): never => {
      abort.abort(error);
      throw error;
    };
    await Promise.all([
      ...supervisors.map((supervisor) => supervisor.start(abort.signal).catch(failFast)),
      ...[...config.services.values()].filter(isStandIn).map((service) => standIns.start(standInSpec(service, config)).catch(failFast)),
    ]);

    // 5. Hot reload, once everything runs.
    if (options.watch) {
      this.hotReload = await startHotReload({
        config: () => this.config,
        loadConfig: () => resolveConfig({ ...options, config: config.file }, this.loadOptions), // overrides stay applied
        applyConfig: (next) => this.applyConfig(next, proxy),
        reloadService: (name, reason) => this.supervisors.get(name)?.reload(reason) ?? Promise.resolve(false),
        logger,
      });
    }
    logger.info(
      `${config.services.size === 1 ? 'The service is' : `All ${config.services.size} services`} healthy in ${Math.round(performance.now() - started)} ms. Proxy ${proxy.url}, DNS ${dns.host}:${dns.port} (udp+tcp).`,
    );
    logger.info(describeEntry(config, entry.url));
    const { seed } = this;
    const rules = config.policies.length;
    logger.info(
      `Fault seed ${seed.seed} (${seed.from === 'random' ? 'new this run' : `from ${seed.from}`}; EMULATOR_SEED=${seed.seed} replays it)${rules > 0 ? `; ${rules} call rule${rules === 1 ? '' : 's'} in force.` : '.'}`,
    );
    return { proxy, dns, entry };
  }

  /** Stops hot reload, then services, then the listeners and the docker session. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.hotReload?.stop();
      await Promise.allSettled([...[...this.supervisors.values()].map((supervisor) => supervisor.stop()), this.standIns?.stop()]);
      await Promise.allSettled([...this.published.values()].map((entry) => entry.stop()));
      await Promise.allSettled(this.cleanups.reverse().map((cleanup) => cleanup()));
    })();
    return this.stopping;
  }

  /** The testing API's face of this session, once `start()` has opened its listeners. */
  handle({ proxy, dns, entry }: Listeners): Emulator {
    const reported = (): EmulatorConfig => withPortsInUse(this.config, { proxy: proxy.port, dns: dns.port, entry: entry.port });
    return {
      get config() {
        return reported();
      },
      proxyUrl: proxy.url,
      dashboardUrl: this.dashboard?.url,
      entryUrl: entry.url,
      entry: (entryOptions) => entryAgent(entry.url, this.config, entryOptions),
      dns: { host: dns.host, port: dns.port },
      url: (name) => {
        const service = requireService(this.config, name);
        const url = standInUrl(this.standIns, service.name) ?? this.published.get(service.name)?.url;
        if (url === undefined) throw new EmulatorError('service_start_failed', `Service "${name}" is not running.`);
        return url;
      },
      innerCallUrl: (from, to, path) => innerCallUrl(requireService(this.config, from).id, requireService(this.config, to).id, path),
      components: Object.fromEntries(this.components.list.map((component) => [component.name, component])),
      request: (from, to) => innerCallAgent(proxy.url, this.config, from, to),
      calls: () => this.trace.list(),
      clearCalls: () => this.trace.clear(),
      stubRequests: (name, filter) => this.stubOf(name).requests(filter),
      clearStubRequests: (name) => this.stubOf(name).clearRequests(),
      setPolicies: (rules) => this.policies.setRuntimeRules(parseRuntimePolicies(rules, this.config)),
      clearPolicies: () => this.policies.setRuntimeRules([]),
      seed: this.seed.seed,
      stop: () => this.stop(),
      [Symbol.asyncDispose]: () => this.stop(),
    };
  }

  /** What the proxy asks on every call: the config in force, where a service runs, who called. */
  private directory(): ServiceDirectory {
    return {
      config: () => this.config,
      upstream: (service) => {
        const standIn = this.standIns?.get(service.name);
        if (standIn !== undefined) return { state: 'ready', host: standIn.host, port: standIn.port };
        return this.picker.pickFor(service);
      },
      callerByAddress: (address) => this.docker?.callerByAddress(address),
      // Published ports and stand-ins too: a pass-through there would reach a service around the allow-list.
      instancePorts: () => [
        ...[...this.supervisors.values()].flatMap((supervisor) => supervisor.ports()),
        ...[...this.published.values()].map((entry) => entry.port),
        ...(this.standIns?.ports() ?? []),
      ],
      protectedPorts: () => (this.dashboard ? [[this.dashboard.port, "the emulator's dashboard"]] : []),
    };
  }

  /** The stub servers by service name (journal, mappings). */
  private stubs(): ReadonlyMap<string, StubServer> {
    return this.standIns?.stubs() ?? new Map();
  }

  private stubOf(name: string): StubServer {
    const service = requireService(this.config, name);
    const stub = this.stubs().get(service.name);
    if (stub === undefined) {
      const stubs = [...this.config.services.values()].filter((candidate) => candidate.kind === 'stub').map((candidate) => candidate.name);
      throw new EmulatorError('usage', `"${name}" is not a stub service (it is a ${service.kind} service). Stub services: ${stubs.join(', ') || 'none'}.`);
    }
    return stub;
  }

  /** What the dashboard and the admin API read and change. */
  private adminApp(): AdminApp {
    return createAdminApp({
      config: () => this.config,
      info: () => adminInfo(this.config, this.supervisors, this.published, this.standIns, this.components.list, this.entryUrl),
      // The run-time rules (GET/PUT/DELETE /_emulator/policies) and the stubs' journals, as on the proxy port before the dashboard.
      extraAdmin: (req, res) =>
        servePoliciesAdmin(req, res, {
          policies: this.policies,
          config: () => this.config,
          onChange: (rules) => this.logger.info(`run-time call rules: ${rules.length} in force`),
        }) || serveStubAdmin(req, res, () => this.stubs()),
      // No rule anywhere: the view says "not configured".
      policies: () =>
        this.config.policies.length + this.policies.runtimeRules.length === 0
          ? undefined
          : { file: this.config.policies.map((rule) => rule.entry), runtime: this.policies.runtimeRules.map((rule) => rule.entry) },
      stubs: () => stubsView(this.stubs()),
      proxyUrl: () => this.proxy?.url ?? '',
      services: () => [
        ...[...this.supervisors.values()].map((supervisor) => supervisor.snapshot()),
        ...extraRows(this.config, (name) => this.standIns?.get(name), this.components.list),
      ],
      restart: (name) => this.supervisors.get(name)?.reload('restart asked for on the dashboard') ?? Promise.resolve(false),
      calls: this.trace,
      capture: (sink) => {
        if (this.proxy) this.proxy.calls.observer = callObserver(sink);
      },
      logs: this.logs,
      reloadConfig: async () => {
        // As hot reload does: the file again, with the start options' overrides.
        await this.applyConfig(resolveConfig({ ...this.options, config: this.config.file }, this.loadOptions), this.proxy ?? unstarted());
        return this.config;
      },
    });
  }

  /** A supervisor for a service (not started), with its own egress port on the proxy and its published port. */
  private async supervise(service: RunnableService, proxy: ProxyServer): Promise<ServiceSupervisor> {
    const egressPort = await proxy.openEgress(service.name);
    const current = (): EmulatorConfig => this.config;
    const published = await startPublishedPort({
      host: this.config.proxy.host,
      port: this.options.publishedPorts === 'config' ? (service.publishedPort ?? 0) : 0,
      service,
      // Waits while the service starts, reloads or restarts, as long as its start timeout.
      upstream: () => supervisor.ready(this.config.services.get(service.name)?.startTimeoutMs ?? service.startTimeoutMs),
      callTimeoutMs: () => this.config.proxy.callTimeoutMs,
    });
    this.published.set(service.name, published);
    const supervisor: ServiceSupervisor = new ServiceSupervisor(service, {
      runtime: { start: (next, context) => this.launch(next, context) },
      logger: this.logger,
      context: {
        get config() {
          return current(); // the one in force when an instance starts (cloudEnv may change)
        },
        logger: this.logger,
        egressUrl: httpUrl(this.config.proxy.host, egressPort),
        componentEnv: this.components.env(service.kind),
      },
      drain: async (instance) => {
        const timeout = this.config.proxy.callTimeoutMs;
        await Promise.all([proxy.whenIdle(instance.host, instance.port, timeout), published.whenIdle(instance.host, instance.port, timeout)]);
      },
      publishedUrl: () => published.url,
    });
    this.supervisors.set(service.name, supervisor);
    return supervisor;
  }

  /** Starts one instance with the runtime of its kind. */
  private launch(service: RunnableService, context: StartContext): Promise<Instance> {
    switch (service.kind) {
      case 'process':
        return this.processes.start(service, context);
      case 'docker':
        // Step 3 creates it, before any service starts.
        return (this.docker ?? unstarted()).start(service, context);
    }
  }

  /** Moves the running emulator to a new, valid config: routing at once, services as needed. */
  private async applyConfig(next: EmulatorConfig, proxy: ProxyServer): Promise<void> {
    const { logger } = this;
    const changes = diffConfigs(this.config, next);
    for (const warning of next.warnings) if (!this.config.warnings.includes(warning)) logger.warn(warning);
    if (isEmpty(changes)) return;
    for (const setting of changes.needsRestart) logger.warn(`${setting} changed: restart the emulator to apply it.`);
    this.config = next; // the proxy reads it on every call: allow and ids apply to the next call
    if (changes.live.includes('entry'))
      logger.info(`config: entry → ${next.entry.service}, users ${[...next.entry.users.keys()].join(', ')} (applies to the next call)`);
    for (const what of changes.policies) {
      // Rules and load balancers are read per call; only a new seed needs doing here.
      if (what === 'policiesSeed' && this.seed.from !== 'EMULATOR_SEED' && next.policiesSeed !== undefined) this.policies.reseed(next.policiesSeed);
      logger.info(
        what === 'policies'
          ? `config: ${next.policies.length} call rule${next.policies.length === 1 ? '' : 's'} in force from the file`
          : `config: ${what} applied`,
      );
    }
    for (const name of changes.rerouted) {
      const service = next.services.get(name);
      if (service) logger.info(`config: ${name} may now call ${service.allow.size === 0 ? 'nothing' : [...service.allow].join(', ')}`);
    }
    const standIns = this.standIns ?? unstarted();
    const remove = async (name: string): Promise<void> => {
      await this.supervisors.get(name)?.stop();
      this.supervisors.delete(name);
      await this.published.get(name)?.stop();
      this.published.delete(name);
      await proxy.closeEgress(name);
      await standIns.remove(name);
    };
    const add = async (service: ServiceConfig): Promise<void> => {
      const started = isStandIn(service) ? standIns.start(standInSpec(service, next)) : this.supervise(service, proxy).then((supervisor) => supervisor.start());
      await started.catch((error: unknown) => logger.serviceEvent(service.name, `did not start: ${errorForLog(error)}`, 'error'));
    };
    await Promise.allSettled([
      ...changes.removed.map(async (name) => {
        logger.info(`config: ${name} removed`);
        await remove(name);
        this.picker.forget(name);
      }),
      ...changes.added.map(async (name) => {
        const service = next.services.get(name);
        logger.info(`config: ${name} added`);
        if (service !== undefined) await add(service);
      }),
      ...changes.changed.map(async (name) => {
        const service = next.services.get(name);
        if (service === undefined) return;
        const supervisor = this.supervisors.get(name);
        if (isStandIn(service) && standIns.has(name)) return void (await standIns.replace(standInSpec(service, next)));
        if (isRunnable(service) && supervisor !== undefined) return void (await supervisor.reload('config changed', service));
        // It changed kind (ran here, now answered elsewhere, or the other way): replace it.
        await remove(name);
        await add(service);
      }),
    ]);
  }
}

/** Something of step 3 was used before step 3: a bug of ours. */
function unstarted(): never {
  throw new EmulatorError('internal', 'The emulator session was used before it started.');
}

/** The start-up line about the entry: where, to which service, as whom (a generated identity in full, so it can be used). */
function describeEntry(config: EmulatorConfig, url: string): string {
  const { entry } = config;
  const [first] = entry.users.values();
  const who = entry.generatedUser
    ? `as the generated user ${first!.name} (X-TT-OPENID ${first!.openid}, X-TT-UNIONID ${first!.unionid}; set entry.users to choose)`
    : `as ${first!.name} (users: ${[...entry.users.keys()].join(', ')}; X-Emulator-User picks one)`;
  return `Entry ${url} (callContainer) → ${entry.service}, ${who}.`;
}

/** The body of GET /_emulator/info: what the CLI's `call` and tools read. */
function adminInfo(
  config: EmulatorConfig,
  supervisors: Map<string, ServiceSupervisor>,
  published: Map<string, PublishedPort>,
  standIns: StandIns | undefined,
  components: readonly ComponentInfo[],
  entryUrl: string,
): unknown {
  return {
    emulator: 'dyc-emulator',
    config: config.file,
    entry: { url: entryUrl, service: config.entry.service, users: [...config.entry.users.values()] },
    services: [...config.services.values()].map((service) => ({
      name: service.name,
      id: service.id,
      runtime: service.kind,
      allow: [...service.allow],
      url: published.get(service.name)?.url ?? standInUrl(standIns, service.name),
      instanceUrl: supervisors.get(service.name)?.url() ?? null,
    })),
    // Where the databases are; the password stays in the services' environment and the testing API.
    components: components.map(({ name, runtime, address, containerAddress, username, database }) => ({
      name,
      runtime,
      address,
      containerAddress: containerAddress ?? null,
      username,
      database: database ?? null,
    })),
  };
}

function standInUrl(standIns: StandIns | undefined, name: string): string | null {
  const standIn = standIns?.get(name);
  return standIn === undefined ? null : httpUrl(standIn.host, standIn.port);
}
