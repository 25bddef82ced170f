import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { EmulatorError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { describeError } from '../runtimes/docker/engine.js';
import { LABEL } from '../runtimes/docker/labels.js';
import { LogTail, type ExitStatus } from '../runtimes/types.js';
import type { Server } from './server.js';

/** Seconds a database container gets to flush on stop before it is killed. */
const STOP_GRACE_SECONDS = 10;
const PROGRESS_EVERY_MS = 2_000;

/** What a component container needs of the docker runtime's session (DockerRuntime.componentSession). */
export interface ComponentDockerSession {
  readonly docker: Docker;
  readonly endpoint: string;
  /** The session network, where service containers run. */
  readonly network: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Engine on this machine: bind mounts and 127.0.0.1-published ports work. */
  readonly local: boolean;
  /** Where published ports are reached from this machine. */
  readonly publishedHost: string;
}

export interface ContainerSpec {
  /** `redis` or `mysql`: the network alias that containers use as host name, and the log prefix. */
  readonly name: string;
  readonly image: string;
  readonly cmd?: string[];
  readonly env: Record<string, string>;
  readonly containerPort: number;
  /** Fixed, so that the address in the services' environment survives a restart of the container. */
  readonly hostPort: number;
  /** The host folder of the server's files (`.emulator/data/<name>/server`). */
  readonly dataDir: string;
  readonly mountPath: string;
  readonly logger: Logger;
  readonly show?: (line: string) => boolean;
}

/** Pulls `image` unless the engine has it, with a progress line every few seconds. */
export async function pullIfMissing(session: ComponentDockerSession, spec: Pick<ContainerSpec, 'image' | 'name' | 'logger'>, fix: string): Promise<void> {
  const { docker } = session;
  try {
    await docker.getImage(spec.image).inspect();
    return;
  } catch {
    // not there yet
  }
  const { logger, name, image } = spec;
  logger.serviceEvent(name, `pulling ${image}`, 'info');
  const started = Date.now();
  const layers = new Map<string, { current: number; total: number; done: boolean }>();
  let lastProgress = started;
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null, events: { error?: string }[] | undefined) => {
          const failed = events?.find((event) => event.error !== undefined);
          if (error) reject(error);
          else if (failed) reject(new Error(failed.error));
          else resolve();
        },
        (event: { id?: string; status?: string; progressDetail?: { current?: number; total?: number } }) => {
          if (event.id !== undefined && event.status !== undefined) {
            const layer = layers.get(event.id) ?? { current: 0, total: 0, done: false };
            if (event.status === 'Downloading' && event.progressDetail?.total)
              Object.assign(layer, { current: event.progressDetail.current ?? 0, total: event.progressDetail.total });
            if (/^(Pull complete|Already exists|Download complete)$/.test(event.status)) layer.done = true;
            layers.set(event.id, layer);
          }
          if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
            lastProgress = Date.now();
            const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
            const all = [...layers.values()];
            const done = all.filter((layer) => layer.done).length;
            const current = all.reduce((sum, layer) => sum + (layer.done ? layer.total : layer.current), 0);
            const total = all.reduce((sum, layer) => sum + layer.total, 0);
            logger.serviceEvent(name, `pulling ${image}: ${done}/${all.length} layers, ${mb(current)}/${mb(total)} MB`, 'info');
          }
        },
      );
    });
  } catch (error) {
    throw new EmulatorError('component_unavailable', `components.${name}: cannot pull ${image} from ${session.endpoint}: ${describeError(error)}.`, {
      fix,
      cause: error,
    });
  }
  logger.serviceEvent(name, `pulled ${image} in ${((Date.now() - started) / 1000).toFixed(1)} s`, 'info');
}

/** Creates and starts the component's container on the session network; `host:port` from containers is `<name>:<containerPort>`. */
export async function runContainer(session: ComponentDockerSession, spec: ContainerSpec): Promise<Server> {
  const { docker } = session;
  const portKey = `${spec.containerPort}/tcp`;
  // A local engine bind-mounts the data folder, and the server runs as our user so that the
  // files stay ours (`emulator reset` can delete them). A remote engine cannot see our
  // folders: a named volume per data folder instead.
  const volume = `dyc-emulator-data-${createHash('sha256').update(spec.dataDir).digest('hex').slice(0, 12)}-${spec.name}`;
  const mount = session.local ? `${spec.dataDir}:${spec.mountPath}` : `${volume}:${spec.mountPath}`;
  const user = session.local && process.getuid && process.getgid ? `${process.getuid()}:${process.getgid()}` : undefined;
  let container: Docker.Container;
  try {
    container = await docker.createContainer({
      name: `${session.network}-${spec.name}`,
      Image: spec.image,
      ...(spec.cmd && { Cmd: spec.cmd }),
      ...(user && { User: user }),
      Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
      Labels: { ...session.labels, [LABEL.service]: spec.name, [LABEL.role]: 'component' },
      ExposedPorts: { [portKey]: {} },
      HostConfig: {
        NetworkMode: session.network,
        Binds: [mount],
        PortBindings: { [portKey]: [{ HostIp: session.local ? '127.0.0.1' : '', HostPort: String(spec.hostPort) }] },
        Init: true,
      },
      NetworkingConfig: { EndpointsConfig: { [session.network]: { Aliases: [spec.name] } } },
    });
  } catch (error) {
    throw new EmulatorError('component_start_failed', `components.${spec.name}: cannot create a container from ${spec.image}: ${describeError(error)}`, {
      cause: error,
    });
  }

  const tail = new LogTail(50);
  let resolveExited!: (status: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((resolve) => (resolveExited = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await container.stop({ t: STOP_GRACE_SECONDS }).catch(() => {}); // 304 stopped, 404 gone
      await container.remove({ force: true }).catch(() => {});
      resolveExited({ code: null, signal: null });
    })();
    return stopping;
  };
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const pass = new PassThrough();
    createInterface({ input: pass, crlfDelay: Infinity }).on('line', (line) => {
      tail.push(line);
      if (spec.show?.(line)) spec.logger.service(spec.name, line, 'stderr');
    });
    stream.on('end', () => pass.end());
    docker.modem.demuxStream(stream, pass, pass);
    await container.start();
    container.wait().then(
      (result: { StatusCode?: number }) => resolveExited({ code: result.StatusCode ?? null, signal: null }),
      () => resolveExited({ code: null, signal: null }),
    );
  } catch (error) {
    await stop();
    const taken = /port is already allocated|address already in use/i.test(describeError(error));
    throw new EmulatorError(taken ? 'port_in_use' : 'component_start_failed', `components.${spec.name}: cannot start its container: ${describeError(error)}`, {
      fix: taken
        ? `Free port ${spec.hostPort}, or remove components.${spec.name}.port to get a free one.`
        : `Try \`docker run --rm ${spec.image}\` to see why.`,
      cause: error,
    });
  }
  return { exited, recentLogs: () => tail.snapshot(), stop };
}
