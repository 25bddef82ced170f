/**
 * The docker runtime: each service instance is a container on a network of its own
 * emulator session, where a router container serves port 80 (→ the routing proxy, with
 * the caller's address) and DNS (→ the emulator's DNS server). See docs/docker.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import type { DockerServiceConfig } from '../../config/types.js';
import { startDnsServer, type DnsServer } from '../../dns/server.js';
import type { Upstream } from '../../dns/forward.js';
import { EmulatorError } from '../../errors.js';
import { INNER_CALL_DOMAINS } from '../../inner-call/index.js';
import type { Logger } from '../../logging/logger.js';
import { waitReady, logLineCheck } from '../readiness.js';
import {
  describeExit,
  formatLogLines,
  instanceLabel,
  LogTail,
  platformEnv,
  type ExitStatus,
  type Instance,
  type Runtime,
  type StartContext,
} from '../types.js';
import { unmapIPv4 } from '../../util/addresses.js';
import { buildFromFiles, buildServiceImage, ensureImage, type Labels } from './build.js';
import { connectEngine, describeError, type Engine } from './engine.js';
import { LABEL, reapLeftovers, removeContainers, removeReplacedImages, sessionLabels } from './labels.js';

/** Seconds a container gets between SIGTERM and SIGKILL on stop (as for processes). */
const STOP_GRACE_SECONDS = 5;
const ROUTER_READY_TIMEOUT_MS = 20_000;
const ROUTER_SOURCE = fileURLToPath(new URL('./router/router.cjs', import.meta.url));
/** The router's base image: any image with `node` on its PATH. Overridable for machines that cannot pull. */
const DEFAULT_ROUTER_BASE = 'node:22-slim';

export interface DockerRuntimeOptions {
  logger: Logger;
  /** The proxy's listener for the router (PROXY protocol), on an address the router can reach. */
  openRouterListener(host: string): Promise<{ port: number; close(): Promise<void> }>;
  /** Resolvers for names that are not inner-call names (the same as the host's DNS server uses). */
  dnsUpstream: readonly Upstream[];
  /** The config file, for labels and messages ('' for configs built in code). */
  configFile: string;
}

/** What exists while a session runs; torn down in reverse by `stop()`. */
interface Session {
  readonly engine: Engine;
  readonly id: string;
  readonly network: string;
  readonly routerIp: string;
  /** Resolves once the router serves (:80, :53); rejects when it does not come up. */
  readonly routerReady: Promise<void>;
  readonly labels: Labels;
  readonly teardown: (() => Promise<void>)[];
}

export class DockerRuntime implements Runtime<DockerServiceConfig> {
  private session: Promise<Session> | undefined;
  private stopping: Promise<void> | undefined;
  /** Container address on the session network → service name: who is calling through the router. */
  private readonly callers = new Map<string, string>();
  /** Builds in flight, so replicas starting together share one build. */
  private readonly builds = new Map<string, Promise<string>>();
  private containerCount = 0;

  constructor(private readonly options: DockerRuntimeOptions) {}

  /**
   * Connects to the engine, reaps leftovers of killed sessions, and creates this session's
   * network and router. Called eagerly when a config has docker services (so a missing engine
   * fails before anything starts), and lazily by the first `start`.
   */
  prepare(): Promise<void> {
    return this.open().then(() => undefined);
  }

  /** The session's engine, network and labels, for the containers of components (emulator/components). */
  async componentSession(): Promise<{ docker: Docker; endpoint: string; network: string; labels: Labels; local: boolean; publishedHost: string }> {
    const { engine, network, labels } = await this.open();
    return { docker: engine.docker, endpoint: engine.endpoint, network, labels, local: engine.local, publishedHost: engine.publishedHost };
  }

  callerByAddress(address: string): string | undefined {
    return this.callers.get(unmapIPv4(address));
  }

  async start(service: DockerServiceConfig, context: StartContext): Promise<Instance> {
    const session = await this.open();
    const { docker } = session.engine;
    const label = instanceLabel(service, context.replica);
    const image = await this.image(session, service, context.logger);
    if (this.stopping) throw new EmulatorError('service_start_failed', `${label}: the emulator is stopping.`);

    const port = service.port;
    const env = platformEnv(service, context, port);
    const name = `dyc-emulator-${session.id}-${containerSlug(label)}-${++this.containerCount}`;
    const portKey = `${port}/tcp`;
    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name,
        Image: image,
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: { ...session.labels, [LABEL.service]: service.name, [LABEL.role]: 'service' },
        ExposedPorts: { [portKey]: {} },
        HostConfig: {
          NetworkMode: session.network,
          // The router is the only resolver: inner-call names → the router, the rest forwarded.
          Dns: [session.routerIp],
          // Published for the health probe and for the proxy's calls into the container; see docs/docker.md.
          PortBindings: { [portKey]: [{ HostIp: session.engine.local ? '127.0.0.1' : '', HostPort: '' }] },
          // A tiny init as PID 1 forwards SIGTERM, so `node server.js` stops at once, as it does in the process runtime.
          Init: true,
        },
      });
    } catch (error) {
      throw new EmulatorError('service_start_failed', `${label}: cannot create a container from ${image}: ${describeError(error)}`, { cause: error });
    }

    const instance = new DockerInstance(label, session.engine, container, context.logger, (address) => this.callers.delete(address));
    try {
      await instance.attachLogs();
      await container.start();
      const info = await container.inspect();
      const address = info.NetworkSettings.Networks[session.network]?.IPAddress;
      const binding = info.NetworkSettings.Ports[portKey]?.find((entry) => /^\d+$/.test(entry.HostPort));
      if (!address || !binding) throw new Error(`the engine reported no address or published port for ${name}`);
      this.callers.set(address, service.name);
      instance.started(address, Number(binding.HostPort));
      // The container started while the router was still booting (it needed only its
      // address, for DNS); it counts as started once the router serves too.
      await session.routerReady;
      return instance;
    } catch (error) {
      await instance.stop();
      throw error instanceof EmulatorError
        ? error
        : new EmulatorError('service_start_failed', `${label}: cannot start container ${name}: ${describeError(error)}`, { cause: error });
    }
  }

  /** Removes the router and the network (containers are stopped by their supervisors first). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const session = await this.session?.catch(() => undefined);
      if (!session) return;
      for (const step of [...session.teardown].reverse()) {
        try {
          await step();
        } catch (error) {
          this.options.logger.warn(`docker: ${describeError(error)}`);
        }
      }
    })();
    return this.stopping;
  }

  private open(): Promise<Session> {
    if (this.stopping) return Promise.reject(new EmulatorError('service_start_failed', 'The emulator is stopping.'));
    this.session ??= this.openSession();
    return this.session;
  }

  private async openSession(): Promise<Session> {
    const { logger } = this.options;
    const engine = await connectEngine();
    const id = randomBytes(4).toString('hex');
    const labels = sessionLabels(id, this.options.configFile);
    const teardown: (() => Promise<void>)[] = [];
    const session = { engine, id, labels, teardown, network: `dyc-emulator-${id}` };
    try {
      await reapLeftovers(engine.docker, logger);

      // 1. The session network; its gateway is this machine's address on it (local engine).
      const network = await engine.docker.createNetwork({ Name: session.network, Driver: 'bridge', Labels: labels, CheckDuplicate: true });
      teardown.push(() => removeReplacedImages(engine.docker, id).catch(() => {}));
      teardown.push(() => network.remove());
      teardown.push(() => removeContainers(engine.docker, id));
      const gateway = ((await network.inspect()) as { IPAM?: { Config?: { Gateway?: string }[] } }).IPAM?.Config?.[0]?.Gateway;
      if (!gateway) throw new EmulatorError('internal', `Docker network ${session.network} has no IPv4 gateway.`);
      const hostAddress = engine.local ? gateway : await localAddressTowards(engine);

      // 2. Where the router relays to: the proxy (PROXY protocol) and a DNS server for containers.
      const listener = await this.options.openRouterListener(hostAddress);
      teardown.push(() => listener.close());
      const dns: DnsServer = await startDnsServer({ host: hostAddress, port: 0, answerV4: gateway, upstream: [...this.options.dnsUpstream], logger });
      teardown.push(() => dns.stop());

      // 3. The router; inner-call names resolve to its address once it is known. Service
      //    containers start while it boots (they need only its address, as their DNS server).
      const router = await this.startRouter(session, {
        EMULATOR_HOST: hostAddress,
        EMULATOR_PROXY_PORT: String(listener.port),
        EMULATOR_DNS_PORT: String(dns.port),
        EMULATOR_INNER_CALL_DOMAINS: INNER_CALL_DOMAINS.join(','),
      });
      dns.setAnswerV4(router.ip);
      logger.info(`Docker ${engine.endpoint}: network ${session.network}, router ${router.ip} (:80 → proxy, :53 → DNS ${hostAddress}:${dns.port})`);
      return { ...session, routerIp: router.ip, routerReady: router.ready };
    } catch (error) {
      for (const step of teardown.reverse()) await step().catch(() => {});
      throw error instanceof EmulatorError
        ? error
        : new EmulatorError('runtime_unavailable', `Docker (${engine.endpoint}): ${describeError(error)}`, { cause: error });
    }
  }

  /** Starts the router container; returns its address as soon as it has one, and a promise of its readiness. */
  private async startRouter(session: Omit<Session, 'routerIp' | 'routerReady'>, env: Record<string, string>): Promise<{ ip: string; ready: Promise<void> }> {
    const { docker } = session.engine;
    const base = process.env.DYC_EMULATOR_ROUTER_BASE || DEFAULT_ROUTER_BASE;
    const source = readFileSync(ROUTER_SOURCE, 'utf8');
    const dockerfile = `FROM ${base}\nCOPY router.cjs /router.cjs\nCMD ["node", "/router.cjs"]\n`;
    const tag = `dyc-emulator/router:${createHash('sha256').update(dockerfile).update(source).digest('hex').slice(0, 12)}`;
    try {
      await buildFromFiles(docker, tag, { Dockerfile: dockerfile, 'router.cjs': source }, { [LABEL.role]: 'router' });
    } catch (error) {
      throw new EmulatorError('runtime_unavailable', `Cannot build the emulator's router image FROM ${base}: ${describeError(error)}`, {
        fix: `The router needs an image with node: \`docker pull ${DEFAULT_ROUTER_BASE}\`, or set DYC_EMULATOR_ROUTER_BASE to a local one.`,
        cause: error,
      });
    }

    const container = await docker.createContainer({
      name: `${session.network}-router`,
      Image: tag,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: { ...session.labels, [LABEL.role]: 'router' },
      HostConfig: { NetworkMode: session.network },
    });
    session.teardown.push(() => container.remove({ force: true }).catch(() => {}));
    const router = new DockerInstance('router', session.engine, container, this.options.logger, () => {});
    const readyLine = /router ready/;
    const seen = (await router.attachLogs(readyLine)).sawLine;
    await container.start();
    const info = await container.inspect();
    const routerIp = info.NetworkSettings.Networks[session.network]?.IPAddress;
    router.started(routerIp ?? '', 0);
    const failed = (outcome: string): EmulatorError =>
      new EmulatorError(
        'runtime_unavailable',
        `The emulator's router container did not start (${outcome}).\nIts last log lines:\n${formatLogLines(router.recentLogs())}`,
      );
    if (!routerIp) throw failed('no address on the session network');
    const check = logLineCheck(readyLine, seen);
    const readiness = waitReady(router, check, { timeoutMs: ROUTER_READY_TIMEOUT_MS }).then((notReady) => {
      if (notReady?.reason === 'exited') throw failed(`it ${describeExit(notReady.status)}`);
      if (notReady?.reason === 'timeout') throw failed(`no ${check.description} within ${ROUTER_READY_TIMEOUT_MS / 1000} s`);
      void router.exited.then(() => {
        if (!this.stopping)
          this.options.logger.error(`docker: the router container of session ${session.id} stopped; containers can no longer call other services.`);
      });
    });
    readiness.catch(() => {}); // every start() awaits it and reports the failure; none may be waiting yet
    return { ip: routerIp, ready: readiness };
  }

  /** The image to run: `docker.image` (pulled if missing), or the Dockerfile built now (layer cache makes that quick). */
  private image(session: Session, service: DockerServiceConfig, logger: Logger): Promise<string> {
    const image = service.docker.image;
    if (image !== undefined) return ensureImage(session.engine.docker, image, logger, service.name).then(() => image);
    let build = this.builds.get(service.name);
    if (!build) {
      build = buildServiceImage(session.engine.docker, service, { ...session.labels, [LABEL.service]: service.name }, logger).finally(() =>
        this.builds.delete(service.name),
      );
      this.builds.set(service.name, build);
    }
    return build;
  }
}

/** One container of a service. */
class DockerInstance implements Instance {
  readonly host: string;
  /** The published host port, known once the container runs. */
  port = 0;
  readonly exited: Promise<ExitStatus>;
  private resolveExited!: (status: ExitStatus) => void;
  private readonly tail = new LogTail();
  private address: string | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly label: string,
    private readonly engine: Engine,
    private readonly container: Docker.Container,
    private readonly logger: Logger,
    private readonly forget: (address: string) => void,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.host = engine.publishedHost;
  }

  get containerId(): string {
    return this.container.id;
  }

  /** Streams the container's stdout/stderr as `[label]` lines; resolves `whenLine` on the first line matching it. */
  async attachLogs(whenLine?: RegExp): Promise<{ sawLine: Promise<void> }> {
    const stream = await this.container.attach({ stream: true, stdout: true, stderr: true });
    let seen!: () => void;
    const sawLine = new Promise<void>((resolve) => (seen = resolve));
    const [stdout, stderr] = (['stdout', 'stderr'] as const).map((name): PassThrough => {
      const pass = new PassThrough();
      createInterface({ input: pass, crlfDelay: Infinity }).on('line', (line) => {
        this.tail.push(line);
        this.logger.service(this.label, line, name);
        if (whenLine?.test(line)) seen();
      });
      stream.on('end', () => pass.end());
      return pass;
    });
    // Without a TTY the engine multiplexes both streams on one connection, 8-byte frame headers included.
    this.engine.docker.modem.demuxStream(stream, stdout!, stderr!);
    return { sawLine };
  }

  /** Called once the container runs: where it can be reached, and when it ends. */
  started(address: string, hostPort: number): void {
    this.address = address;
    this.port = hostPort;
    this.container.wait().then(
      (result: { StatusCode?: number }) => this.resolveExited({ code: result.StatusCode ?? null, signal: null }),
      () => this.resolveExited({ code: null, signal: null }),
    );
    // A container that ended by itself is removed too (its output was already streamed).
    void this.exited.then(() => this.stop());
  }

  recentLogs(): string[] {
    return this.tail.snapshot();
  }

  private unexpected(action: string, error: unknown, expected: readonly number[]): void {
    const status = statusOf(error);
    if (status !== undefined && expected.includes(status)) return;
    this.logger.warn(`docker: could not ${action} container ${this.container.id.slice(0, 12)} (${this.label}): ${describeError(error)}`);
  }

  /** Stops with a grace period, then removes the container. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Expected answers: 304 already stopped (or never started), 404 gone, 409 removal
      // already in progress. Anything else (the engine went away, a permission) is worth a line.
      await this.container.stop({ t: STOP_GRACE_SECONDS }).catch((error: unknown) => this.unexpected('stop', error, [304, 404]));
      await this.container.remove({ force: true }).catch((error: unknown) => this.unexpected('remove', error, [404, 409]));
      if (this.address !== undefined) this.forget(this.address);
      this.resolveExited({ code: null, signal: null });
    })();
    return this.stopping;
  }
}

/** The engine's HTTP status for a failed call, if it answered. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The address of this machine that a remote engine's containers can connect back to. */
function localAddressTowards(engine: Engine): Promise<string> {
  const modem = engine.docker.modem as { host?: string; port?: string | number };
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: modem.host ?? engine.remoteHost ?? '', port: Number(modem.port ?? 2375) }, () => {
      const local = socket.localAddress;
      socket.destroy();
      const address = local === undefined ? undefined : unmapIPv4(local);
      if (address !== undefined && net.isIPv4(address)) resolve(address);
      else reject(new Error(`cannot tell this machine's IPv4 address towards ${engine.endpoint}`));
    });
    socket.on('error', reject);
  });
}

function containerSlug(label: string): string {
  return label.replace(/[^a-zA-Z0-9_.-]+/g, '-');
}
