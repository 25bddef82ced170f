import { performance } from 'node:perf_hooks';
import type { CallDetails, CallObserver } from '../calls/record.js';
import type { CallRecord } from '../logging/logger.js';

/** Calls whose headers and bodies are kept: at 64 KB a body, at most ~13 MB in all. */
const KEEP = 100;
/** More calls a second than this are not all captured: the store keeps only KEEP anyway. */
const CAPTURE_PER_SECOND = 100;

/**
 * The last calls' headers, bodies and timings (the proxy's CallDetails, as they came),
 * keyed by their call record (the object the trace holds), so the trace's id finds them.
 * A fixed ring: memory does not grow with traffic, and an old call's detail is simply
 * gone ("not captured").
 */
export class CallDetailStore<Detail = CallDetails> {
  private readonly ring: (CallRecord | undefined)[] = new Array<CallRecord | undefined>(KEEP);
  private readonly byRecord = new Map<CallRecord, Detail>();
  private next = 0;

  add(record: CallRecord, detail: Detail): void {
    const old = this.ring[this.next];
    if (old !== undefined) this.byRecord.delete(old);
    this.ring[this.next] = record;
    this.next = (this.next + 1) % KEEP;
    this.byRecord.set(record, detail);
  }

  get(record: CallRecord): Detail | undefined {
    return this.byRecord.get(record);
  }

  get size(): number {
    return this.byRecord.size;
  }
}

/**
 * The proxy's call observer that feeds `sink`, or undefined (no observer: the proxy
 * copies nothing) when there is no sink.
 */
export function callObserver(sink: ((details: CallDetails) => void) | undefined): CallObserver | undefined {
  if (sink === undefined) return undefined;
  // A token bucket: at most CAPTURE_PER_SECOND calls a second are copied, so a load test
  // with the page open pays for 100 captures a second, not for one per call.
  let tokens = CAPTURE_PER_SECOND;
  let refilled = performance.now();
  return {
    wants(): boolean {
      if (tokens < 1) {
        const now = performance.now();
        tokens = Math.min(CAPTURE_PER_SECOND, tokens + ((now - refilled) * CAPTURE_PER_SECOND) / 1000);
        refilled = now;
        if (tokens < 1) return false;
      }
      tokens--;
      return true;
    },
    onCall: sink,
  };
}
