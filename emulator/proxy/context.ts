// What the proxy's jobs share: the call pipeline, and what is known about each client
// socket (who is behind it, which listener took it, whether it is closing).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CallPipeline } from '../calls/pipeline.js';
import type { CallSource } from '../calls/types.js';
import type { EmulatorConfig } from '../config/types.js';
import type { ConnectionSource } from './fast-path/connection.js';
import type { OutboundProxies } from './outbound.js';

/** Per-socket facts, keyed weakly: a socket forgotten by everyone else is forgotten here. */
export class SocketRegistry {
  private readonly sourceOf = new WeakMap<Socket, ConnectionSource>();
  /** A response that closes the connection went out on these: nothing the client sent after it runs. */
  readonly closing = new WeakSet<Socket>();
  /** Heads the fast path handed over half-read: the header timeout counts from their first byte. */
  private readonly headDeadlines = new WeakMap<Socket, NodeJS.Timeout>();

  constructor(private readonly headersTimeoutMs: number) {}

  setSource(socket: Socket, source: ConnectionSource): void {
    this.sourceOf.set(socket, source);
  }

  source(socket: Socket): ConnectionSource {
    return this.sourceOf.get(socket) ?? HOST;
  }

  /** The socket's caller under `config` (service objects change with reloads). */
  callSource(socket: Socket, config: EmulatorConfig): CallSource {
    const { callerName, via } = this.source(socket);
    return { caller: callerName === undefined ? undefined : config.services.get(callerName), via, address: via === 'entry' ? socket.remoteAddress : undefined };
  }

  /** The docker router relayed it: a container behind it cannot reach the host's loopback by itself. */
  viaRouter(socket: Socket): boolean {
    return this.source(socket).via === 'router';
  }

  /**
   * The head of the request on `socket` began at `since` (performance.now()): answer 408
   * (and log it through `refused`) if it is not complete within the header timeout.
   */
  armHeadDeadline(socket: Socket, since: number, refused: (socket: Socket) => string): void {
    const timer = setTimeout(
      () => {
        this.headDeadlines.delete(socket);
        const response = refused(socket);
        if (!socket.writable) return void socket.destroy();
        socket.end(response, () => socket.destroy());
      },
      Math.max(0, this.headersTimeoutMs - (performance.now() - since)),
    );
    timer.unref();
    this.headDeadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  }

  headArrived(socket: Socket): void {
    const timer = this.headDeadlines.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.headDeadlines.delete(socket);
  }
}

const HOST: ConnectionSource = { callerName: undefined, via: 'host' };

/** What the slow path, tunnels and pass-through share. */
export interface ProxyContext {
  readonly pipeline: CallPipeline;
  readonly sockets: SocketRegistry;
  /** Keep-alive upstream connections for the slow path (Node's client). */
  readonly agent: http.Agent;
  /** `http://host:port` of the main port, for messages. */
  mainUrl(): string;
  /** This proxy's listeners and the service instances' ports, with what each is (the loop guard). */
  ownPorts(): Map<number, string>;
  /** Upstream sockets of tunnels, destroyed on stop. */
  track(socket: Socket): void;
  /** The user's own proxy for hosts outside the emulator (HTTP_PROXY, NO_PROXY). */
  readonly outbound: OutboundProxies;
  /** Serves `/_emulator/*` on the main port only. */
  readonly admin: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}
