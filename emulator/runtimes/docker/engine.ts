import type Docker from 'dockerode';
import { EmulatorError } from '../../errors.js';
import { isLoopbackAddress } from '../../util/addresses.js';

/** How long the first contact with the engine may take before it counts as unreachable. */
const PING_TIMEOUT_MS = 5_000;

/** The engine dockerode talks to (DOCKER_HOST, or the default socket), and what that implies. */
export interface Engine {
  readonly docker: Docker;
  /** `unix:///var/run/docker.sock` or `tcp://host:2375`, for messages. */
  readonly endpoint: string;
  /**
   * True when the engine runs on this machine (a unix socket, or TCP to a loopback
   * address): containers' bridge networks then exist here, their gateway address is
   * one of ours, and published ports can be bound to 127.0.0.1.
   */
  readonly local: boolean;
  /** The address where published container ports are reached from this machine. */
  readonly publishedHost: string;
  /** The host name or address of a remote engine; undefined for a local one. */
  readonly remoteHost: string | undefined;
}

interface ModemFields {
  /** A path, or a function that finds the default socket ($HOME/.docker/run/docker.sock or /var/run/docker.sock). */
  socketPath?: unknown;
  getSocketPath(): Promise<string | undefined> | undefined;
  host?: string;
  port?: string | number;
  protocol?: string;
}

/** Connects to the engine and checks it answers; one clear EmulatorError if it does not. */
export async function connectEngine(): Promise<Engine> {
  // Loaded on first use: dockerode (with its gRPC and protobuf) adds ~0.3 s to every
  // CLI start, and most runs have no docker service.
  const { default: DockerClient } = await import('dockerode');
  const docker = new DockerClient();
  // dockerode's modem is untyped (`any` in @types/dockerode); these are the fields it sets from DOCKER_HOST.
  const modem = docker.modem as unknown as ModemFields;
  const socketPath = modem.socketPath ? await modem.getSocketPath() : undefined;
  const protocol = modem.protocol ?? 'http';
  const endpoint =
    socketPath !== undefined
      ? `unix://${socketPath}`
      : `${protocol === 'https' ? 'tcp(tls)' : protocol === 'ssh' ? 'ssh' : 'tcp'}://${modem.host}:${modem.port}`;
  const host = modem.host ?? '';
  const local = socketPath !== undefined || host === 'localhost' || isLoopbackAddress(host);

  try {
    await withTimeout(docker.ping(), PING_TIMEOUT_MS, `no answer within ${PING_TIMEOUT_MS / 1000} s`);
  } catch (error) {
    throw engineUnreachable(endpoint, error);
  }
  return { docker, endpoint, local, publishedHost: local ? '127.0.0.1' : host, remoteHost: local ? undefined : host };
}

export function engineUnreachable(endpoint: string, error: unknown): EmulatorError {
  const reason = describeError(error);
  const denied = /EACCES|permission denied/i.test(reason);
  return new EmulatorError('runtime_unavailable', `Docker engine not reachable at ${endpoint} (${reason}); start Docker or use the process runtime.`, {
    fix: denied
      ? 'Add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again), or run the services as processes (`--runtime process`, each needs a "command").'
      : 'Start the engine (`sudo systemctl start docker`, Docker Desktop) or point DOCKER_HOST at one; or give each service a "command" and run `emulator up --runtime process`.',
    cause: error,
  });
}

/** A one-line reason from dockerode/docker-modem errors, which carry a code, a status or a JSON body. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const withFields = error as Error & { code?: string; statusCode?: number; json?: { message?: string } };
  if (withFields.json?.message) return withFields.json.message;
  if (withFields.code) return `${withFields.code}${withFields.message.includes(withFields.code) ? '' : `: ${withFields.message}`}`.split('\n')[0]!;
  return error.message.split('\n')[0]!.replace(/^\(HTTP code \d+\) [^-]*- /, '');
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
