import type { CallRecord } from './logger.js';

/**
 * The most recent calls, for `emu.calls()` and `/_emulator/calls`. Recording is on the
 * proxy's hot path, so the oldest are dropped in batches (amortised O(1)) instead of
 * one `shift()` of the whole array per call.
 */
export class CallTrace {
  private records: CallRecord[] = [];

  constructor(private readonly size: number) {}

  push(record: CallRecord): void {
    this.records.push(record);
    if (this.records.length >= this.size * 2) this.records = this.records.slice(-this.size);
  }

  /** Oldest first, at most `size`. */
  list(): CallRecord[] {
    return this.records.slice(-this.size);
  }

  clear(): void {
    this.records = [];
  }
}
