import type { CallRecord } from './logger.js';

/** A call with its place in the trace: ids increase by one per call and are never reused. */
export type TracedCall = CallRecord & { readonly id: number };

/**
 * The most recent calls, for `emu.calls()`, `/_emulator/calls` and the dashboard.
 * Recording is on the proxy's hot path, so the oldest are dropped in batches
 * (amortised O(1)) instead of one `shift()` of the whole array per call, a call's id
 * is its position (no object is made per call), and a subscriber costs one function
 * call per call: readers fetch the records later, in batches, with `since()`.
 */
export class CallTrace {
  private records: CallRecord[] = [];
  /** Calls dropped or cleared so far: the id of records[i] is dropped + i + 1. */
  private dropped = 0;
  private readonly listeners = new Set<(record: CallRecord) => void>();

  constructor(private readonly size: number) {}

  push(record: CallRecord): void {
    this.records.push(record);
    if (this.records.length >= this.size * 2) {
      this.dropped += this.records.length - this.size;
      this.records = this.records.slice(-this.size);
    }
    if (this.listeners.size > 0) for (const listener of this.listeners) listener(record);
  }

  /** Oldest first, at most `size`. */
  list(): CallRecord[] {
    return this.records.slice(-this.size);
  }

  /** The id the latest call got (0 before the first). */
  get lastId(): number {
    return this.dropped + this.records.length;
  }

  /** Calls after id `after`, oldest first, at most the last `limit` of them. */
  since(after: number, limit = this.size): TracedCall[] {
    const first = Math.max(after - this.dropped, this.records.length - Math.min(limit, this.size), 0);
    const out: TracedCall[] = [];
    for (let i = first; i < this.records.length; i++) out.push({ ...this.records[i]!, id: this.dropped + i + 1 });
    return out;
  }

  /**
   * The records themselves (no copies) after id `after`, at most the last `limit`, and the
   * id of the first: the live stream serialises them as they are.
   */
  recordsSince(after: number, limit = this.size): { first: number; records: CallRecord[] } {
    const start = Math.max(after - this.dropped, this.records.length - Math.min(limit, this.size), 0);
    return { first: this.dropped + start + 1, records: this.records.slice(start) };
  }

  /** The call with this id, while it is among the last `size`. */
  get(id: number): TracedCall | undefined {
    const index = id - this.dropped - 1;
    if (index < 0 || index >= this.records.length || index < this.records.length - this.size) return undefined;
    return { ...this.records[index]!, id };
  }

  /** The record itself (the object `push` got) of the call with this id, while it is among the last `size`. */
  recordAt(id: number): CallRecord | undefined {
    const index = id - this.dropped - 1;
    if (index < 0 || index >= this.records.length || index < this.records.length - this.size) return undefined;
    return this.records[index];
  }

  /** Called after each call is recorded; returns the unsubscribe function. */
  subscribe(listener: (record: CallRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clear(): void {
    this.dropped += this.records.length;
    this.records = [];
  }
}
