/**
 * The platform's database components (SPEC "Components"): each a real server, as a local
 * process when its binary is installed or as a container, with its data in
 * `.emulator/data/<name>/`, probed until it answers, restarted with backoff when it
 * crashes, and described by the variables the platform injects into services.
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ComponentConfig, ComponentName } from '../config/components.js';
import type { EmulatorConfig, RuntimeKind } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { describeExit, formatLogLines } from '../runtimes/types.js';
import { hostPort } from '../util/addresses.js';
import { freePort, isPortFree } from '../util/net.js';
import { pullIfMissing, runContainer, type ComponentDockerSession } from './container.js';
import { componentDir, isFresh, lockDataDir, readMeta, serverDir, stopOrphanedServer, writeMeta, type DataLock } from './data-dir.js';
import type { AdminTarget, ComponentDriver, ProcessStart } from './driver.js';
import { mysqlDriver } from './mysql.js';
import { waitReady } from './readiness.js';
import { redisDriver } from './redis.js';
import { findBinary, type Server } from './server.js';

export type { ComponentDockerSession } from './container.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 30_000;

const DRIVERS: { [K in ComponentName]: ComponentDriver<Extract<ComponentConfig, { kind: K }>> } = { redis: redisDriver, mysql: mysqlDriver };

/** One running component, as the testing API and `emulator exec` see it. */
export interface ComponentInfo {
  readonly name: ComponentName;
  readonly runtime: RuntimeKind;
  /** `host:port` from this machine: processes, tests, `emulator exec`. */
  readonly address: string;
  /** `host:port` from containers on the session network (docker only). */
  readonly containerAddress: string | undefined;
  readonly username: string;
  readonly password: string;
  /** MySQL only. */
  readonly database: string | undefined;
  /** The platform's variables as a process sees them (REDIS_ADDRESS, …). */
  readonly env: Readonly<Record<string, string>>;
  /** `.emulator/data/<name>`. */
  readonly dataDir: string;
}

export interface Components {
  readonly list: readonly ComponentInfo[];
  /** The variables a service gets, with the addresses that work from where it runs. */
  env(runtime: RuntimeKind): Record<string, string>;
  /** Stops every server and releases the data folders. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartComponentsOptions {
  config: EmulatorConfig;
  logger: Logger;
  /** Opens (once) the docker runtime's session: engine, network, labels. */
  docker(): Promise<ComponentDockerSession>;
  signal?: AbortSignal;
}

/** No components configured: nothing runs, nothing is injected. */
export const noComponents: Components = {
  list: [],
  env: () => ({}),
  stop: () => Promise.resolve(),
  [Symbol.asyncDispose]: () => Promise.resolve(),
};

/**
 * Starts every configured component and waits until each answers. All or nothing: on a
 * failure, what had started is stopped and its data folder released before the error
 * propagates.
 */
export async function startComponents(options: StartComponentsOptions): Promise<Components> {
  const { config, logger } = options;
  const wanted = (['redis', 'mysql'] as const).flatMap((name) => {
    const component = config.components[name];
    return component === undefined ? [] : [component];
  });
  if (wanted.length === 0) return noComponents;

  // 1. Where each runs; the docker session is opened only if one needs it.
  const dockerServices = [...config.services.values()].some((service) => service.kind === 'docker');
  const plans = await Promise.all(wanted.map((component) => plan(component, dockerServices, options)));

  // 2. Claims before starts: a data folder or port in use fails before anything runs.
  const locks: DataLock[] = [];
  const supervisors: ComponentSupervisor[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(supervisors.map((supervisor) => supervisor.stop()));
    for (const lock of locks) lock.release();
  };
  try {
    for (const p of plans) {
      const lock = lockDataDir(config.components.dataDir, p.component.kind, config.file);
      locks.push(lock);
      if (lock.stale) {
        const orphan = await stopOrphanedServer(config.components.dataDir, p.component.kind);
        if (orphan !== undefined) logger.serviceEvent(p.component.kind, `stopped server ${orphan}, left running by an emulator that was killed`, 'warn');
      }
      const identity = await p.driver.identity(p.runtime, p.component as never, p.binary);
      const meta = readMeta(config.components.dataDir, p.component.kind);
      if (meta !== undefined && meta.server !== identity && !isFresh(config.components.dataDir, p.component.kind)) {
        throw new EmulatorError(
          'component_start_failed',
          `components.${p.component.kind}: its data in ${componentDir(config.components.dataDir, p.component.kind)} was created by ${meta.server}, and this start would run ${identity}; their files are not compatible.`,
          {
            fix: `Run \`npx emulator reset ${p.component.kind}\` to start over with empty data, or set components.${p.component.kind}.runtime (or image) back to what created it.`,
          },
        );
      }
      p.identity = identity;
      if (p.component.port !== undefined && !(await isPortFree(p.component.port))) {
        throw new EmulatorError(
          'port_in_use',
          `components.${p.component.kind} needs port ${p.component.port} (components.${p.component.kind}.port), but something else is listening on it.`,
          {
            fix: `Stop what uses port ${p.component.port} (\`ss -ltnp | grep :${p.component.port}\` shows it; another \`emulator up\`?), or remove components.${p.component.kind}.port to get a free one.`,
          },
        );
      }
    }

    // 3. All at once; each waits for its readiness check.
    const abort = new AbortController();
    options.signal?.addEventListener('abort', () => abort.abort(options.signal?.reason), { once: true });
    const started = await Promise.all(
      plans.map(async (p) => {
        const supervisor = new ComponentSupervisor(p, config, logger);
        supervisors.push(supervisor);
        try {
          return await supervisor.start(abort.signal);
        } catch (error) {
          abort.abort(error);
          throw error;
        }
      }),
    );
    let stopping: Promise<void> | undefined;
    const components: Components = {
      list: started,
      env(runtime) {
        const env: Record<string, string> = {};
        for (const p of plans) Object.assign(env, runtime === 'docker' ? p.containerEnv : p.processEnv);
        return env;
      },
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
      [Symbol.asyncDispose]: () => components.stop(),
    };
    return components;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface Plan {
  component: ComponentConfig;
  driver: ComponentDriver<ComponentConfig>;
  runtime: RuntimeKind;
  binary: string | undefined;
  session: ComponentDockerSession | undefined;
  identity: string;
  processEnv: Record<string, string>;
  containerEnv: Record<string, string>;
}

/** Process or container: the config's `runtime`, else docker with docker services, else the binary if installed, else docker. */
function runsInDocker(component: ComponentConfig, dockerServices: boolean, binary: string | undefined): boolean {
  return component.runtime === 'docker' || (component.runtime === undefined && (dockerServices || binary === undefined));
}

async function plan(component: ComponentConfig, dockerServices: boolean, options: StartComponentsOptions): Promise<Plan> {
  const driver = DRIVERS[component.kind] as ComponentDriver<ComponentConfig>;
  const name = component.kind;
  const binary = findBinary(driver.binaries);
  const base = { component, driver, binary, identity: '', processEnv: {}, containerEnv: {} };
  if (!runsInDocker(component, dockerServices, binary)) {
    if (binary === undefined) {
      throw new EmulatorError(
        'component_unavailable',
        `components.${name} has "runtime": "process", but ${driver.binaries.join(' / ')} is not installed (not on PATH).`,
        {
          fix: `Install it: ${driver.install}; or remove "runtime" so that it runs in docker (image ${component.image}).`,
        },
      );
    }
    if (dockerServices) {
      throw new EmulatorError(
        'component_unavailable',
        `components.${name} has "runtime": "process", but some services run in docker, and containers cannot reach a server on this machine's loopback.`,
        {
          fix: `Remove components.${name}.runtime: with docker services it runs as a container on their network.`,
        },
      );
    }
    return { ...base, runtime: 'process', session: undefined };
  }
  let session: ComponentDockerSession;
  try {
    session = await options.docker();
  } catch (error) {
    if (!(error instanceof EmulatorError) || component.runtime === 'docker' || dockerServices) throw error;
    throw new EmulatorError(
      'component_unavailable',
      `components.${name} needs a ${name === 'redis' ? 'Redis' : 'MySQL'} server: ${driver.binaries.join(' / ')} is not on PATH, and docker cannot run ${component.image}: ${error.message}`,
      {
        fix: `Install it (${driver.install}), or start Docker so that the emulator runs ${component.image} as a container.`,
        cause: error,
      },
    );
  }
  return { ...base, runtime: 'docker', session };
}

/** Keeps one component's server running: start, readiness, restart with backoff after a crash. */
class ComponentSupervisor {
  private server: Server | undefined;
  private stopped = false;
  private backoff = BACKOFF_START_MS;
  private timer: NodeJS.Timeout | undefined;
  private port = 0;
  private readonly name: ComponentName;
  private readonly dataDir: string;
  private readonly dir: string;

  constructor(
    private readonly p: Plan,
    config: EmulatorConfig,
    private readonly logger: Logger,
  ) {
    this.name = p.component.kind;
    this.dataDir = config.components.dataDir;
    this.dir = serverDir(this.dataDir, this.name);
  }

  async start(signal: AbortSignal): Promise<ComponentInfo> {
    const { component, driver, runtime } = this.p;
    const started = performance.now();
    this.port = component.port ?? (await freePort());
    const fresh = isFresh(this.dataDir, this.name);
    const shown = path.relative(process.cwd(), componentDir(this.dataDir, this.name)) || '.';
    const how = runtime === 'process' ? this.p.binary! : component.image;
    this.logger.serviceEvent(
      this.name,
      `starting ${how} (${runtime}), data in ${shown.startsWith('..') ? componentDir(this.dataDir, this.name) : shown}${fresh ? ', new' : ''}`,
      'info',
    );
    try {
      if (runtime === 'process' && fresh && driver.initialise) {
        const initStarted = performance.now();
        await driver.initialise(this.processStart());
        this.logger.serviceEvent(this.name, `initialised the data folder in ${Math.round(performance.now() - initStarted)} ms`, 'info');
      }
      if (runtime === 'docker') {
        await pullIfMissing(
          this.p.session!,
          { image: component.image, name: this.name, logger: this.logger },
          `\`docker pull ${component.image}\` where a registry is reachable, set components.${this.name}.image to an image you have, or install the server (${driver.install}) to run it as a process.`,
        );
      }
      if (fresh) writeMeta(this.dataDir, this.name, this.p.identity);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.launch(signal, fresh);
          break;
        } catch (error) {
          // A free port chosen a moment ago can be taken before the server binds it (a busy
          // machine): another one, at the first start only (later the address is in services' env).
          const raced = component.port === undefined && attempt < 3 && this.server?.recentLogs().some((line) => /address already in use/i.test(line));
          if (!raced) throw error;
          await this.server?.stop();
          this.port = await freePort();
        }
      }
    } catch (error) {
      await this.server?.stop();
      // A new data folder whose set-up failed would be "not new" next time, and its init would never run.
      if (fresh) emptyDir(this.dir);
      throw error;
    }

    const address = hostPort(runtime === 'process' ? '127.0.0.1' : this.p.session!.publishedHost, this.port);
    const containerAddress = runtime === 'docker' ? `${this.name}:${driver.containerPort}` : undefined;
    this.p.processEnv = driver.env(component, address);
    this.p.containerEnv = containerAddress === undefined ? {} : driver.env(component, containerAddress);
    const where = containerAddress === undefined ? address : `${address} (containers: ${containerAddress})`;
    this.logger.serviceEvent(this.name, `ready in ${Math.round(performance.now() - started)} ms at ${where}`, 'info');
    return {
      name: this.name,
      runtime,
      address,
      containerAddress,
      username: component.username,
      password: component.password,
      database: component.kind === 'mysql' ? component.database : undefined,
      env: this.p.processEnv,
      dataDir: componentDir(this.dataDir, this.name),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.server?.stop();
  }

  private processStart(): ProcessStart<ComponentConfig> {
    return {
      config: this.p.component,
      binary: this.p.binary!,
      port: this.port,
      dir: this.dir,
      componentDir: componentDir(this.dataDir, this.name),
      logger: this.logger,
    };
  }

  /** One run of the server until it answers; watches it afterwards. */
  private async launch(signal: AbortSignal | undefined, fresh: boolean): Promise<void> {
    const { component, driver, runtime, session } = this.p;
    let target: AdminTarget;
    if (runtime === 'process') {
      const start = this.processStart();
      this.server = await driver.startProcess(start);
      target = driver.processTarget?.(start) ?? { host: '127.0.0.1', port: this.port, runtime };
    } else {
      const { cmd, env } = driver.container(component);
      this.server = await runContainer(session!, {
        name: this.name,
        image: component.image,
        ...(cmd && { cmd }),
        env,
        containerPort: driver.containerPort,
        hostPort: this.port,
        dataDir: this.dir,
        mountPath: driver.mountPath,
        logger: this.logger,
        ...(driver.showContainerLine && { show: driver.showContainerLine }),
      });
      target = { host: session!.publishedHost, port: this.port, runtime };
    }
    const server = this.server;
    await waitReady({
      name: this.name,
      what: driver.check,
      check: () => driver.ready(component, target),
      exited: server.exited,
      recentLogs: () => server.recentLogs(),
      timeoutMs: component.startTimeoutMs,
      ...(signal && { signal }),
      progress: (message) => this.logger.serviceEvent(this.name, message, 'info'),
    });
    await driver.afterReady?.(component, target, fresh, this.logger);
    const since = Date.now();
    void server.exited.then((status) => {
      if (this.stopped || this.server !== server) return;
      this.onCrash(`the ${this.name} server ${describeExit(status)}`, Date.now() - since);
    });
  }

  /** Services keep running; calls that need the component fail meanwhile, as they would in production. */
  private onCrash(reason: string, upForMs: number): void {
    if (upForMs >= STABLE_AFTER_MS) this.backoff = BACKOFF_START_MS;
    const delay = this.backoff;
    this.backoff = Math.min(delay * 2, BACKOFF_MAX_MS);
    const last = this.server?.recentLogs().slice(-5) ?? [];
    this.logger.serviceEvent(this.name, `${reason}; restarting in ${delay} ms${last.length > 0 ? `. Last lines:\n${formatLogLines(last)}` : ''}`, 'error');
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      void (async () => {
        try {
          await this.server?.stop(); // a container that ended is removed, so its name is free
          if (this.stopped) return;
          await this.launch(undefined, false);
          if (this.stopped) return void this.server?.stop();
          this.logger.serviceEvent(this.name, 'restarted', 'info');
        } catch (error) {
          if (this.stopped) return;
          await this.server?.stop();
          this.onCrash(error instanceof Error ? error.message.split('\n')[0]! : String(error), 0);
        }
      })();
    }, delay);
  }
}

function emptyDir(dir: string): void {
  try {
    for (const entry of readdirSync(dir)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  } catch {
    // already gone
  }
}

/** What `emulator routes` shows before anything runs: where each component would run, and its variables. */
export function describeComponents(config: EmulatorConfig): { name: ComponentName; runs: string; env: Record<string, string> }[] {
  const dockerServices = [...config.services.values()].some((service) => service.kind === 'docker');
  return (['redis', 'mysql'] as const).flatMap((name) => {
    const component = config.components[name];
    if (component === undefined) return [];
    const driver = DRIVERS[name] as ComponentDriver<ComponentConfig>;
    const binary = findBinary(driver.binaries);
    const docker = runsInDocker(component, dockerServices, binary);
    const port = component.port === undefined ? '<free port>' : String(component.port);
    const runs = docker
      ? `docker ${component.image}${binary === undefined && component.runtime === undefined ? ` (${driver.binaries.join(' / ')} not installed)` : ''}`
      : `process ${binary ?? driver.binaries[0]}`;
    const address = docker && dockerServices ? `127.0.0.1:${port} (containers: ${name}:${driver.containerPort})` : `127.0.0.1:${port}`;
    return [{ name, runs, env: driver.env(component, address) }];
  });
}
