// What a call leaves behind: one CallRecord (the terminal line, the call trace), and,
// only when someone listens (the dashboard), its details: headers, the first 64 KB of
// each body and timings. With no observer none of this is allocated.

import { performance } from 'node:perf_hooks';
import type { CallRecord } from '../logging/logger.js';

/** How much of each body an observer gets. */
export const CAPTURE_BYTES = 64 * 1024;

/**
 * A body as it travelled: on the fast path a chunked body keeps its chunk framing (the
 * proxy passes it on as bytes), on the slow path it is the decoded payload.
 */
export interface CapturedBody {
  /** The first CAPTURE_BYTES bytes. */
  readonly bytes: Buffer;
  /** How many bytes passed in all. */
  readonly total: number;
  readonly truncated: boolean;
}

export interface CallDetails {
  readonly record: CallRecord;
  /** Request headers as sent to the target (after shaping), in order. */
  readonly requestHeaders: readonly (readonly [string, string])[];
  readonly requestBody: CapturedBody;
  readonly responseStatus: number | undefined;
  readonly responseHeaders: readonly (readonly [string, string])[];
  readonly responseBody: CapturedBody;
  /** Milliseconds from the call's start; undefined when the call never got that far. */
  readonly timings: { readonly upstreamMs?: number; readonly sentMs?: number; readonly headMs?: number; readonly totalMs: number };
}

export interface CallObserver {
  /** Asked as a call begins: false skips copying this call's details (sampling). Absent: every call. */
  wants?(): boolean;
  onCall(details: CallDetails): void;
}

/**
 * A body copied up to CAPTURE_BYTES, chunk by chunk: a 13-byte body costs a 13-byte copy,
 * not a 64 KB buffer (two of those per call made the allocator the proxy's bottleneck).
 */
class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  total = 0;

  add(chunk: Uint8Array): void {
    this.total += chunk.length;
    if (this.length >= CAPTURE_BYTES) return;
    const take = Math.min(chunk.length, CAPTURE_BYTES - this.length);
    this.chunks.push(Buffer.from(take === chunk.length ? chunk : chunk.subarray(0, take)));
    this.length += take;
  }

  done(): CapturedBody {
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    return { bytes, total: this.total, truncated: this.total > this.length };
  }
}

/** Collects one call's details while it runs; the paths call it only when it exists. */
export class CallDetailsBuilder {
  readonly requestBody = new BodyCapture();
  readonly responseBody = new BodyCapture();
  requestHeaders: readonly (readonly [string, string])[] = [];
  responseHeaders: readonly (readonly [string, string])[] = [];
  responseStatus: number | undefined;
  private upstreamAt: number | undefined;
  private sentAt: number | undefined;
  private headAt: number | undefined;

  constructor(private readonly started: number) {}

  /** The head as written upstream (raw text). */
  requestHead(head: string): void {
    this.requestHeaders = headerPairs(head);
  }

  requestRawHeaders(raw: readonly string[]): void {
    this.requestHeaders = rawPairs(raw);
  }

  responseHead(status: number, head: string | readonly string[]): void {
    this.responseStatus = status;
    this.responseHeaders = typeof head === 'string' ? headerPairs(head) : rawPairs(head);
    this.headAt ??= performance.now();
  }

  upstreamReady(): void {
    this.upstreamAt ??= performance.now();
  }

  sent(): void {
    this.sentAt ??= performance.now();
  }

  build(record: CallRecord, now: number): CallDetails {
    const since = (at: number | undefined): number | undefined => (at === undefined ? undefined : Math.round((at - this.started) * 10) / 10);
    return {
      record,
      requestHeaders: this.requestHeaders,
      requestBody: this.requestBody.done(),
      responseStatus: this.responseStatus,
      responseHeaders: this.responseHeaders,
      responseBody: this.responseBody.done(),
      timings: { upstreamMs: since(this.upstreamAt), sentMs: since(this.sentAt), headMs: since(this.headAt), totalMs: since(now)! },
    };
  }
}

/** `Name: value` lines of a raw head (after its start line). */
function headerPairs(head: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (let pos = head.indexOf('\r\n') + 2; pos < head.length - 2; ) {
    const eol = head.indexOf('\r\n', pos);
    const colon = head.indexOf(':', pos);
    if (colon === -1 || colon > eol) break;
    pairs.push([head.slice(pos, colon), head.slice(colon + 1, eol).trim()]);
    pos = eol + 2;
  }
  return pairs;
}

function rawPairs(raw: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}
