/** Where a log line came from: a service's stdout/stderr, or an event (the emulator's own, or about a service). */
export type LogStream = 'stdout' | 'stderr' | 'info' | 'warn' | 'error';

export interface LogEntry {
  /** Increases by one per line, across all sources: a reader asks for what came after the last one it saw. */
  readonly seq: number;
  /** Epoch ms. */
  readonly time: number;
  /** The service name, or `emulator` for the emulator's own lines. */
  readonly source: string;
  /** `orders#2` for the second replica; the source otherwise. */
  readonly label: string;
  readonly stream: LogStream;
  readonly text: string;
}

export const EMULATOR_SOURCE = 'emulator';

/** A service printing one huge line must not make the buffer huge. */
const MAX_LINE = 8 * 1024;

/** A fixed-size ring: push is O(1) and memory never grows past `size` entries. */
class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private count = 0;
  constructor(readonly size: number) {
    this.items = new Array<T | undefined>(size);
  }
  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
  }
  /** Oldest first. */
  list(): T[] {
    const out: T[] = [];
    for (let i = this.count; i > 0; i--) out.push(this.items[(this.next - i + this.size) % this.size]!);
    return out;
  }
}

/**
 * The last lines of every service and of the emulator itself, for the dashboard's Logs
 * and Services views: a bounded ring per source, plus one ring over all sources that a
 * live reader catches up from. Nothing grows with the amount of output.
 */
export class LogBuffer {
  private readonly bySource = new Map<string, Ring<LogEntry>>();
  private readonly recent: Ring<LogEntry>;
  private seq = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly perSource = 1_000) {
    this.recent = new Ring(perSource * 2);
  }

  push(label: string, stream: LogStream, text: string): void {
    const source = label.split('#')[0]!;
    const entry: LogEntry = {
      seq: ++this.seq,
      time: Date.now(),
      source,
      label,
      stream,
      text: text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}… (${text.length - MAX_LINE} more characters)` : text,
    };
    let ring = this.bySource.get(source);
    if (!ring) this.bySource.set(source, (ring = new Ring(this.perSource)));
    ring.push(entry);
    this.recent.push(entry);
    for (const listener of this.listeners) listener();
  }

  /** The sequence number of the latest line (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  sources(): string[] {
    return [...this.bySource.keys()];
  }

  /**
   * Lines oldest first: of one source or all, containing `search` (case-insensitive),
   * the last `limit` of them.
   */
  query(options: { source?: string; search?: string; limit?: number; after?: number } = {}): LogEntry[] {
    const { source, search, limit = 1_000, after = 0 } = options;
    let lines = source === undefined ? this.recent.list() : (this.bySource.get(source)?.list() ?? []);
    if (after > 0) lines = lines.filter((entry) => entry.seq > after);
    if (search) {
      const needle = search.toLowerCase();
      lines = lines.filter((entry) => entry.text.toLowerCase().includes(needle));
    }
    return lines.slice(-limit);
  }

  /** The last `count` lines of a source, as text (the Services view). */
  tail(source: string, count: number): string[] {
    return (this.bySource.get(source)?.list() ?? []).slice(-count).map((entry) => entry.text);
  }

  /** Called (with no arguments) after each new line; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
