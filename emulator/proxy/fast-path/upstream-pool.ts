import net, { type Socket } from 'node:net';
import { ReadGate } from './read-gate.js';

/** What an upstream connection reports to the exchange that holds it. */
export interface UpstreamOwner {
  onUpstreamConnect(): void;
  /** `chunk` is valid until the next read, unless the owner calls `keepLastChunk()`. */
  onUpstreamData(chunk: Buffer): void;
  /** The target finished sending (a body that ends with the connection ends here). */
  onUpstreamEnd(): void;
  onUpstreamDrain(): void;
  onUpstreamClose(error: Error | undefined): void;
}

/**
 * Idle pooled connections close after this long. Node servers close idle keep-alive
 * connections after 5 s by default; closing ours first means a new request never
 * lands on a connection the target is closing at that moment.
 */
const IDLE_MS = 4000;

/**
 * Each connection reads into a buffer of its own (`onread`), instead of a new 64 KB
 * one per read as Node does by default: with large responses those allocations made
 * V8 run full garbage collections (bench/proxy.mjs, 64 KB bodies).
 */
const READ_BUFFER_BYTES = 64 * 1024;

/** One TCP connection to a service instance; its listeners stay for its whole life and report to the current owner. */
export class UpstreamConnection {
  readonly socket: Socket;
  owner: UpstreamOwner | undefined;
  /** Carried a request before: a failure before any response byte may be the target closing it while idle. */
  reused = false;
  /** When it went back to the pool. */
  idleSince = 0;
  private error: Error | undefined;
  /** The target ended its side (our side then ends too: net sockets are not half-open by default). */
  private ended = false;
  private readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  /** readBuffer's ArrayBuffer, its own (allocUnsafeSlow): chunks are views made from it. */
  private readMemory = this.readBuffer.buffer;
  /** Reading stops while the client is slow, or while a lent chunk is still being written. */
  readonly reads: ReadGate;

  constructor(
    host: string,
    port: number,
    readonly key: string,
    pool: UpstreamPool,
  ) {
    const socket = (this.socket = net.connect({
      host,
      port,
      onread: {
        buffer: () => this.readBuffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          // The `buffer` getter is a call into V8's C++ (~40 ns a read): the read buffer's is kept.
          const chunk = buffer === this.readBuffer ? Buffer.from(this.readMemory, 0, bytes) : Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
          if (this.owner) this.owner.onUpstreamData(chunk);
          else socket.destroy(); // bytes nobody asked for: the connection is out of step
          return true;
        },
      },
    }));
    socket.setNoDelay(true);
    this.reads = new ReadGate(socket);
    socket.on('connect', () => this.owner?.onUpstreamConnect());
    socket.on('end', () => {
      this.ended = true;
      this.owner?.onUpstreamEnd();
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain());
    socket.on('error', (error) => (this.error = error));
    socket.on('close', () => {
      pool.forget(this);
      this.owner?.onUpstreamClose(this.error);
    });
  }

  /**
   * The chunk last passed to `onUpstreamData` stays in use (a write still in flight
   * holds it) while the connection goes on reading: the next read goes to a new
   * buffer. Chunks are views of the read buffer, valid only until the next read otherwise.
   */
  keepLastChunk(): void {
    this.readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    this.readMemory = this.readBuffer.buffer;
  }

  /** What `socket.readable && socket.writable` would say, from flags of our own: those getters, asked twice a call, showed in profiles (~0.4 µs a call). */
  get usable(): boolean {
    return !this.socket.destroyed && !this.ended && this.error === undefined;
  }
}

/** Keep-alive connections to service instances, per "host:port", most recently used first. */
export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConnection[]>();
  private readonly all = new Set<UpstreamConnection>();

  /** An idle connection to `key`, or a new one (`socket.connecting`) when there is none or `fresh` is set. */
  acquire(host: string, port: number, key: string, owner: UpstreamOwner, fresh = false): UpstreamConnection {
    const idle = fresh ? undefined : this.idle.get(key);
    while (idle !== undefined && idle.length > 0) {
      const connection = idle.pop()!;
      if (!connection.usable) continue;
      connection.owner = owner;
      connection.reused = true;
      return connection;
    }
    const connection = new UpstreamConnection(host, port, key, this);
    this.all.add(connection);
    connection.owner = owner;
    return connection;
  }

  /** Back to the pool after a complete exchange. */
  release(connection: UpstreamConnection, now: number): void {
    connection.owner = undefined;
    connection.idleSince = now;
    if (!connection.usable) return void connection.socket.destroy();
    connection.reads.resume();
    let idle = this.idle.get(connection.key);
    if (idle === undefined) this.idle.set(connection.key, (idle = []));
    idle.push(connection);
  }

  /** Closes connections idle for longer than IDLE_MS (the oldest are at the bottom of each stack). */
  closeIdle(now: number): void {
    for (const idle of this.idle.values()) {
      while (idle.length > 0 && now - idle[0]!.idleSince >= IDLE_MS) this.discard(idle.shift()!);
    }
  }

  /** Closes a connection that cannot carry another request. */
  discard(connection: UpstreamConnection): void {
    connection.owner = undefined;
    connection.socket.destroy();
  }

  forget(connection: UpstreamConnection): void {
    this.all.delete(connection);
    const idle = this.idle.get(connection.key);
    const at = idle?.indexOf(connection) ?? -1;
    if (at !== -1) idle!.splice(at, 1);
    if (idle?.length === 0) this.idle.delete(connection.key);
  }

  destroy(): void {
    for (const connection of this.all) this.discard(connection);
  }
}
