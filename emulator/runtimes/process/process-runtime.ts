import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ProcessServiceConfig } from '../../config/types.js';
import { EmulatorError } from '../../errors.js';
import { freePort, isPortFree } from '../../util/net.js';
import { groupAlive, listeningPorts, signalGroup } from '../../util/process-group.js';
import { instanceLabel, LogTail, platformEnv, type ExitStatus, type Instance, type Runtime, type StartContext } from '../types.js';

/** Time a service gets to exit after SIGTERM before its process group is killed. */
const STOP_GRACE_MS = 5_000;
const LOCAL_HOSTS = 'localhost,127.0.0.1,::1';
const PRELOAD = fileURLToPath(new URL('./preload.cjs', import.meta.url));

/** The environment of a process-runtime service (README: "A service's environment"). */
export function serviceEnv(service: ProcessServiceConfig, context: StartContext, port: number): NodeJS.ProcessEnv {
  const egress = new URL(context.egressUrl);
  const user = service.env;
  const env: NodeJS.ProcessEnv = { ...process.env, ...platformEnv(service, context, port) };
  // Ours win over the user's: identity and routing depend on them.
  Object.assign(env, {
    HTTP_PROXY: context.egressUrl,
    http_proxy: context.egressUrl,
    HTTPS_PROXY: context.egressUrl,
    https_proxy: context.egressUrl,
    NO_PROXY: mergeList(user.NO_PROXY, LOCAL_HOSTS),
    no_proxy: mergeList(user.no_proxy ?? user.NO_PROXY, LOCAL_HOSTS),
    DYC_EMULATOR_EGRESS: context.egressUrl,
    // Node < 24 ignores HTTP_PROXY: the preload routes fetch and http through the proxy.
    NODE_OPTIONS: [user.NODE_OPTIONS ?? process.env.NODE_OPTIONS, `--require ${JSON.stringify(PRELOAD)}`].filter(Boolean).join(' '),
    // HttpURLConnection, java.net.http with the default ProxySelector, and Apache HttpClient's
    // createSystem() honour these; HttpClients.createDefault() does not (docker runtime needed).
    JAVA_TOOL_OPTIONS: [
      user.JAVA_TOOL_OPTIONS,
      `-Dhttp.proxyHost=${egress.hostname} -Dhttp.proxyPort=${egress.port} -Dhttps.proxyHost=${egress.hostname} -Dhttps.proxyPort=${egress.port}`,
      `-Dhttp.nonProxyHosts=localhost|127.*|[::1]`,
    ]
      .filter(Boolean)
      .join(' '),
  });
  if (env.FORCE_COLOR === undefined && process.stdout.isTTY) env.FORCE_COLOR = '1';
  return env;
}

function mergeList(user: string | undefined, ours: string): string {
  return user ? `${user},${ours}` : ours;
}

export function portTakenError(service: ProcessServiceConfig, port: number): EmulatorError {
  return new EmulatorError(
    'port_in_use',
    `Service "${service.name}" needs port ${port} (services.${service.name}.port), but something else is listening on it.`,
    {
      fix:
        `Stop what uses port ${port} (\`ss -ltnp | grep :${port}\` shows it; another \`emulator up\` or \`exec\` of this config?), ` +
        `or remove "port" from services.${service.name} to get a free one (for a URL that stays the same, set "publishedPort" instead).`,
    },
  );
}

/** Runs `command` services as process groups; one per emulator. */
export class ProcessRuntime implements Runtime<ProcessServiceConfig> {
  /** The process groups still alive, for the exit hook. */
  private readonly groups = new Set<number>();

  /**
   * Last resort on a forced exit (a second Ctrl-C, or a script that exits without
   * stopping its emulator): SIGKILL every process group still alive. Synchronous, as
   * 'exit' listeners must be; installed while a group is alive.
   */
  private readonly killAll = (): void => {
    for (const pid of this.groups) signalGroup(pid, 'SIGKILL');
    this.groups.clear();
  };

  async start(service: ProcessServiceConfig, context: StartContext): Promise<Instance> {
    const label = instanceLabel(service, context.replica);
    if (!existsSync(service.dir)) {
      throw new EmulatorError('service_start_failed', `${label}: directory ${service.dir} does not exist.`, { fix: `Fix services.${service.name}.dir.` });
    }
    const port = service.port ?? (await freePort());
    if (service.port !== undefined && !(await isPortFree(port))) throw portTakenError(service, port);

    const child = spawn(service.command, {
      cwd: service.dir,
      env: serviceEnv(service, context, port),
      shell: true,
      // Its own process group: the terminal's Ctrl-C does not reach it, and stop() can signal
      // the whole group, grandchildren included.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new EmulatorError('service_start_failed', `${label}: cannot start "${service.command}": ${error.message}`, {
        fix: `Check services.${service.name}.command.`,
      });
    }
    if (this.groups.size === 0) process.on('exit', this.killAll);
    this.groups.add(pid);
    return new ProcessInstance(label, port, service, child, pid, context, () => {
      this.groups.delete(pid);
      if (this.groups.size === 0) process.off('exit', this.killAll);
    });
  }
}

class ProcessInstance implements Instance {
  host = '127.0.0.1';
  readonly exited: Promise<ExitStatus>;
  private readonly tail = new LogTail();
  private exitStatus: ExitStatus | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly label: string,
    readonly port: number,
    private readonly service: ProcessServiceConfig,
    child: ChildProcess,
    readonly pid: number,
    context: StartContext,
    private readonly ended: () => void,
  ) {
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.tail.push(line);
        context.logger.service(label, line, name);
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
  }

  recentLogs(): string[] {
    return this.tail.snapshot();
  }

  listeningPorts(): number[] {
    return listeningPorts(this.pid);
  }

  useHost(host: string): void {
    this.host = host;
  }

  stop(): Promise<void> {
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  private async terminate(): Promise<void> {
    signalGroup(this.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    await Promise.race([this.exited, sleep(STOP_GRACE_MS, undefined, { ref: false })]); // unref: must not hold the CLI open for 5 s
    // The leader may be gone while children it started still run: wait for the group.
    while (groupAlive(this.pid) && Date.now() < deadline) await sleep(25);
    if (groupAlive(this.pid)) {
      signalGroup(this.pid, 'SIGKILL');
      // SIGKILL is delivered asynchronously: give the kernel a moment to end the group.
      const killDeadline = Date.now() + 1_000;
      while (groupAlive(this.pid) && Date.now() < killDeadline) await sleep(10);
    }
    await this.exited;
    this.ended();
    if (this.service.port !== undefined) await waitPortFree(this.port, 2_000);
  }
}

async function waitPortFree(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortFree(port))) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}
