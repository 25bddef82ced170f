import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmulatorError } from '../errors.js';
import { describeExit, formatLogLines, type ExitStatus } from '../runtimes/types.js';

const POLL_MS = 50;
/** One check that hangs (a half-open connection) must not stall the start. */
const CHECK_TIMEOUT_MS = 5_000;
/** How often a still-waiting component says so in the `up` output. */
const PROGRESS_EVERY_MS = 3_000;

export interface ReadyOptions {
  /** `redis`, `mysql`: the log prefix and the config key. */
  name: string;
  /** `PING`, `SELECT 1`: what is being waited for, in messages. */
  what: string;
  /** Resolves once the server answers; rejects (with the reason) while it does not yet. */
  check(): Promise<void>;
  exited: Promise<ExitStatus>;
  recentLogs(): string[];
  timeoutMs: number;
  signal?: AbortSignal;
  progress(message: string): void;
}

/**
 * Polls `check` until it passes, racing the server's exit, the start timeout and the
 * abort signal (as a service's health check does), with a progress line every few
 * seconds. Fails with the server's last log lines.
 */
export async function waitReady(options: ReadyOptions): Promise<void> {
  const started = Date.now();
  let exited: ExitStatus | undefined;
  void options.exited.then((status) => (exited = status));
  let lastError = '';
  let nextProgress = started + PROGRESS_EVERY_MS;
  while (true) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (exited !== undefined) {
      throw notReady(options, `the ${options.name} server ${describeExit(exited)} before it answered ${options.what}.`);
    }
    try {
      await withTimeout(options.check(), CHECK_TIMEOUT_MS);
      return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    const now = Date.now();
    if (now - started > options.timeoutMs) {
      throw notReady(options, `the ${options.name} server did not answer ${options.what} within ${options.timeoutMs / 1000} s (last error: ${lastError}).`);
    }
    if (now >= nextProgress) {
      options.progress(`waiting for ${options.what}… ${Math.round((now - started) / 1000)} s`);
      nextProgress = now + PROGRESS_EVERY_MS;
    }
    await sleep(POLL_MS);
  }
}

function notReady(options: ReadyOptions, message: string): EmulatorError {
  const tail = formatLogLines(options.recentLogs().slice(-20));
  return new EmulatorError('component_start_failed', `components.${options.name}: ${message}\nLast log lines of ${options.name}:\n${tail}`, {
    fix: `Read the server's lines above; \`npx emulator reset ${options.name}\` starts over with empty data, components.${options.name}.startTimeout gives it longer.`,
  });
}

/**
 * `AUTH` + `PING` in RESP, over one connection. A few lines instead of a client library:
 * readiness needs one round trip and no reconnect logic (ioredis would retry forever).
 */
export function redisPing(host: string, port: number, username: string, password: string, timeoutMs = 2_000): Promise<void> {
  const bulk = (parts: string[]): string => `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const finish = (error?: Error): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => finish(new Error('no answer')));
    socket.on('error', (error) => finish(error));
    // docker's port publisher accepts before the server listens, then closes: not an error event.
    socket.on('close', () => finish(new Error('connection closed')));
    socket.on('connect', () => socket.write(bulk(['AUTH', username, password]) + bulk(['PING'])));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      const lines = reply.split('\r\n');
      if (lines.length < 3) return; // two replies and the tail after the second CRLF
      if (lines[0] !== '+OK') return finish(new Error(`AUTH answered ${lines[0]}`));
      if (lines[1] === '+PONG') return finish();
      finish(new Error(`PING answered ${lines[1]}`)); // e.g. -LOADING while it reads its data
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
