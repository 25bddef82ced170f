import pc from 'picocolors';
import type { CallRecord, Logger } from '../logging/logger.js';

const PALETTE = [pc.cyan, pc.magenta, pc.blue, pc.yellow, pc.green, pc.redBright, pc.cyanBright, pc.magentaBright, pc.blueBright, pc.yellowBright];

/**
 * The terminal's view of an emulator: `[name]`-prefixed service logs, one line per
 * call, emulator events. The only Logger that prints.
 */
export function createTerminalLogger(
  serviceNames: Iterable<string>,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Logger {
  const names = [...serviceNames];
  // Wide enough for "[emulator]" and "[name#2]", plus a space: the text never touches the prefix.
  const width = Math.max('[emulator]'.length, ...names.map((name) => `[${name}#2]`.length)) + 1;
  const colours = new Map(names.map((name, index) => [name, PALETTE[index % PALETTE.length]!]));
  const prefix = (label: string): string => {
    const base = label.split('#')[0]!;
    const colour = colours.get(base) ?? pc.white;
    return colour(`[${label}]`.padEnd(width));
  };
  const emulatorPrefix = pc.dim('[emulator]'.padEnd(width));
  const callsPrefix = pc.dim('[calls]'.padEnd(width));
  const write = batchedWriter((record) => callsPrefix + callLine(record));

  return {
    info: (message) => write(out, `${emulatorPrefix}${message}`),
    warn: (message) => write(err, `${emulatorPrefix}${pc.yellow(message)}`),
    error: (message) => write(err, `${emulatorPrefix}${pc.red(message)}`),
    service: (label, line) => write(out, `${prefix(label)}${line}`),
    serviceEvent: (label, message, level) => {
      const colour = level === 'error' ? pc.red : level === 'warn' ? pc.yellow : pc.dim;
      write(level === 'info' ? out : err, `${prefix(label)}${colour(message)}`);
    },
    call: (record) => write(out, record),
  };
}

/** Text that is not all ASCII, as its UTF-8 bytes, one character per byte (see batchedWriter). */
const NOT_ASCII = /[\u0080-\uffff]/;
const utf8Bytes = (text: string): string => (NOT_ASCII.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text);

/**
 * Lines go out in one write per stream every FLUSH_MS: stdout to a pipe or a file is a
 * blocking system call, and one per call line cost the proxy half its throughput; one
 * per event-loop turn still cost ~10 % of its CPU under load (bench/proxy.mjs).
 */
/** Short enough to read as immediate on a terminal (a 60 Hz frame is 16 ms). */
const FLUSH_MS = 10;

/** A line to print, or a call whose line is written only when the batch goes out. */
type Pending = string | CallRecord;

/**
 * A batch is built as bytes in a one-byte string and written as latin1: a single "→" made
 * a batch a two-byte string, and encoding that to UTF-8 cost three times as much (~110
 * against ~35 ns a line). Call lines are made as bytes (callLine); other lines are text,
 * turned into their UTF-8 bytes when they are not all ASCII.
 */
function batchedWriter(callLine: (record: CallRecord) => string): (stream: NodeJS.WritableStream, line: Pending) => void {
  // Calls are formatted at flush time, in one loop: a line made at call time would live
  // until the flush and cost the garbage collector a copy (bench/proxy.mjs, callgrind).
  const pending = new Map<NodeJS.WritableStream, Pending[]>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    for (const [stream, lines] of pending) {
      let text = '';
      for (const line of lines) text += `${typeof line === 'string' ? utf8Bytes(line) : callLine(line)}\n`;
      stream.write(Buffer.from(text, 'latin1'));
    }
    pending.clear();
  };
  process.once('exit', flush);
  return (stream, line) => {
    const lines = pending.get(stream);
    if (lines === undefined) pending.set(stream, [line]);
    else lines.push(line);
    if (!scheduled) {
      scheduled = true;
      setTimeout(flush, FLUSH_MS);
    }
  };
}

/** Longer paths (a 15 KB query string) are cut in the log line; `emu.calls()` keeps them whole. */
const MAX_PATH_SHOWN = 200;

/** "…" as UTF-8 bytes, one character per byte, as a path read from a head is. */
const ELLIPSIS = Buffer.from('…').toString('latin1');

/** `/search?q=aaaa…(+14.8 KB)`: the start of a long path and how much was left out (bytes, as the path). */
export function shortenPath(path: string): string {
  if (path.length <= MAX_PATH_SHOWN) return path;
  const left = path.length - MAX_PATH_SHOWN;
  return `${path.slice(0, MAX_PATH_SHOWN)}${ELLIPSIS}(+${left < 1024 ? `${left} chars` : `${(left / 1024).toFixed(1)} KB`})`;
}

/** `gateway → orders GET /api/x 200 3ms`; emulator errors in red with their code. */
export function formatCall(record: CallRecord): string {
  return Buffer.from(callLine(record), 'latin1').toString('utf8');
}

/** " → " as UTF-8 bytes, one character per byte. */
const ARROW = Buffer.from(' → ').toString('latin1');

/**
 * formatCall's line as bytes, one character per byte (what batchedWriter writes): the
 * path, Host and user are such strings already (heads are read as latin1), so a path's
 * raw UTF-8 reaches the terminal as it came; the policy's words are text, turned into bytes.
 */
function callLine(record: CallRecord): string {
  const from = record.user === undefined ? (record.from ?? pc.dim('?')) : `${record.from} (${record.user})`;
  const to = record.to ?? record.host;
  const ms = formatMs(record.durationMs);
  const line = `${from}${ARROW}${to} ${record.method} ${shortenPath(record.path)} ${record.status}`;
  const policy = record.policy === undefined ? '' : ` ${pc.magenta(`[${utf8Bytes(describePolicy(record))}]`)}`;
  if (record.error !== undefined) return pc.red(`${line} ${pc.bold(record.error)} ${ms}`) + policy;
  if (record.status >= 500) return `${line.slice(0, -3)}${pc.yellow(String(record.status))} ${pc.dim(ms)}${policy}`;
  return `${line} ${pc.dim(ms)}${policy}`;
}

/** `0.3ms` below 10 ms, `12ms` above: a record's durationMs is a tenth already (integer arithmetic: toFixed took ~90 ns). */
function formatMs(ms: number): string {
  if (ms >= 10) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms * 10);
  return `${(tenths / 10) | 0}.${tenths % 10}ms`;
}

/** `policies[0]: delay 300ms, 3 tries: 503 503 200`: the rule and what it did, each try included. */
function describePolicy(record: CallRecord): string {
  const actions = (record.actions ?? []).filter((action) => !/^\d+ tries$/.test(action));
  const tries = record.tries?.map((attempt) => attempt.status ?? attempt.error).join(' ');
  const parts = [...actions, ...(tries === undefined ? [] : [`${record.tries!.length} tries: ${tries}`])];
  return parts.length === 0 ? record.policy! : `${record.policy}: ${parts.join(', ')}`;
}
