import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, startEmulator, type Emulator, type StartOptions } from '../dist/index.js';
import { EmulatorError, type CallRecord, type Logger } from './internals.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ECHO_DIR = path.join(REPO, 'test/fixtures/echo');
export const CLI = path.join(REPO, 'bin/emulator.js');

/** A temp dir removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'dyc-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `emulator.config.json` into a temp dir and returns its path. */
export function writeConfig(t: TestContext, config: unknown, dir = tempDir(t)): string {
  const file = path.join(dir, 'emulator.config.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

/** An echo service entry (test/fixtures/echo/server.js). */
export function echoService(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { dir: ECHO_DIR, command: 'node server.js', ...extra };
}

/** A logger that keeps everything, for assertions; prints nothing. */
export function recordingLogger(): Logger & { lines: string[]; calls: CallRecord[]; events: string[] } {
  const lines: string[] = [];
  const calls: CallRecord[] = [];
  const events: string[] = [];
  return {
    lines,
    calls,
    events,
    info: (m) => events.push(m),
    warn: (m) => events.push(m),
    error: (m) => events.push(m),
    service: (name, line) => lines.push(`[${name}] ${line}`),
    serviceEvent: (name, m) => events.push(`[${name}] ${m}`),
    call: (r) => calls.push(r),
  };
}

/** The first event (from index `from` on) that matches `pattern`, waiting up to `timeoutMs` for it. */
export async function waitForEvent(logger: ReturnType<typeof recordingLogger>, pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const event = logger.events.slice(from).find((e) => pattern.test(e));
    if (event !== undefined) return event;
    assert.ok(Date.now() < deadline, `no event ${pattern} in:\n${logger.events.slice(from).join('\n')}`);
    await sleep(10);
  }
}

/** Loads a config that must be rejected as invalid (naming its file); returns the message. */
export function configError(t: TestContext, config: unknown): string {
  const file = writeConfig(t, config);
  try {
    loadConfig(file);
  } catch (error) {
    assert.ok(error instanceof EmulatorError, String(error));
    assert.equal(error.code, 'config_invalid', error.message);
    assert.ok(error.message.includes(file), 'names the file');
    return error.message;
  }
  assert.fail('the config was accepted');
}

/** Starts an emulator on free ports for a config object; stopped when the test ends. */
export async function emulatorFor(t: TestContext, config: Record<string, unknown>, options: Omit<StartOptions, 'config'> = {}): Promise<Emulator> {
  const file = writeConfig(t, config);
  const emulator = await startEmulator({ config: file, proxyPort: 0, dnsPort: 0, ...options });
  t.after(() => emulator.stop());
  return emulator;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** A plain HTTP request; `target` is `http://host:port`. */
export function request(
  target: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent | false } = {},
): Promise<Reply> {
  const url = new URL(target);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An inner-call request to the proxy by Host header, as the host (acting as `from`). */
export function innerCall(emulator: Emulator, from: string, to: string, urlPath = '/echo', options: Parameters<typeof request>[1] = {}): Promise<Reply> {
  const url = new URL(emulator.innerCallUrl(from, to, urlPath));
  return request(emulator.proxyUrl, { ...options, path: url.pathname + url.search, headers: { ...options.headers, host: url.host } });
}

/** Runs a command to completion, capturing output. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input);
  });
}

/** A long-running child (e.g. `emulator up`) whose output can be awaited line by line. */
export function startProcess(t: TestContext, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const match = output.match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  // A test that failed half-way leaves it running: SIGINT first, so that an `emulator up` stops
  // its services (a SIGKILL left them running, orphaned, when a test failed); SIGKILL after 5 s.
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  return {
    child,
    exited,
    output: () => output,
    waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
      const match = output.match(pattern);
      if (match) return Promise.resolve(match);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
  };
}

/** PIDs of all processes whose environment or command line mentions `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.includes(') Z ')) continue; // zombies are already dead
      if (environ.includes(marker) || cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** Waits until no process carries `marker` (see processesWith); returns the ones left. */
export async function waitGone(marker: string, timeoutMs = 8000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = await processesWith(marker);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = await processesWith(marker);
  }
  return left;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
