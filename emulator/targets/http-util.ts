import type { IncomingMessage, ServerResponse } from 'node:http';

import { endToEndHeaders } from '../util/headers.js';

/** Small HTTP helpers shared by the in-process stand-ins (url/targets relays and stubs). */

/**
 * A request's headers for another server: the end-to-end ones (util/headers.ts), order
 * and case kept, without those named in `drop` (lower case), and `Host` set to `host`.
 */
export function forwardedHeaders(raw: readonly string[], host: string, drop?: ReadonlySet<string>): string[] {
  const endToEnd = endToEndHeaders(raw);
  const out: string[] = [];
  for (let i = 0; i < endToEnd.length; i += 2) {
    const lower = endToEnd[i]!.toLowerCase();
    if (lower !== 'host' && drop?.has(lower) !== true) out.push(endToEnd[i]!, endToEnd[i + 1]!);
  }
  out.push('Host', host);
  return out;
}

/** The error codes these stand-ins answer with, beside the proxy's own. */
export type StandInErrorCode = 'upstream_error' | 'upstream_timeout' | 'no_healthy_target' | 'stub_not_matched' | 'stub_error';

const STATUS: Record<StandInErrorCode, number> = {
  upstream_error: 502,
  upstream_timeout: 504,
  no_healthy_target: 503,
  stub_not_matched: 404,
  stub_error: 500,
};

/**
 * The code a stand-in (`url`, `targets`, `stub`) put in `X-Emulator-Error`, for the
 * call's record; undefined for any other service (its own code may relay such a header
 * from a call of its own) and for codes a stand-in never sends.
 */
export function standInError(kind: string, header: string | undefined): StandInErrorCode | undefined {
  if (header === undefined || (kind !== 'url' && kind !== 'targets' && kind !== 'stub')) return undefined;
  return Object.hasOwn(STATUS, header) ? (header as StandInErrorCode) : undefined;
}

/**
 * `from`/`to` of an inner call, read from its `Host` (`{from}-{to}.inner-call…`): the
 * stand-in knows its own id, so the caller is what is left of the first label.
 */
export function innerCallParties(host: string | undefined, ownId: string): { from: string | null; to: string } {
  const label = (host ?? '').split('.')[0] ?? '';
  const suffix = `-${ownId}`;
  return { from: label.endsWith(suffix) && label.length > suffix.length ? label.slice(0, -suffix.length) : null, to: ownId };
}

/** The proxy's error shape (`{"error", "message", "from", "to"}` plus `X-Emulator-Error`), so callers handle one format. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  ownId: string,
  code: StandInErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const { from, to } = innerCallParties(req.headers.host, ownId);
  const body = `${JSON.stringify({ error: code, message, from, to, ...extra })}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-emulator-error': code,
    'cache-control': 'no-store',
  };
  if (code === 'no_healthy_target') headers['retry-after'] = 1;
  res.writeHead(STATUS[code], headers);
  res.end(body);
}

const EMPTY = Buffer.alloc(0);

/** Reads a whole body, up to `limit` bytes; resolves undefined when it is larger. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  // Most stubbed calls are GETs: nothing to wait for (Node discards the empty stream itself).
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(EMPTY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
