// Request and response heads for the proxy's fast path (./connection.ts). They are
// parsed strictly: a request head this module does not fully understand is left to
// Node's own HTTP server (the slow path), which answers it as before; a response head
// it does not understand is an invalid response (502), as llhttp would have it.

import { connectionOptions, HOP_BY_HOP } from '../../util/headers.js';

/** Header lines as RFC 9112 has them: `token ":" OWS value`, no obs-fold, no bare CR or LF, no NUL. */
const HEADER_LINES = /(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n$/y;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[\x21-\x7e\x80-\xff]*) HTTP\/1\.1$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const DIGITS = /^\d{1,15}$/;

export type RequestFraming = 'none' | 'length' | 'chunked';
export type ResponseFraming = RequestFraming | 'close';

export interface RequestHead {
  readonly method: string;
  /** Path and query (origin-form). */
  readonly path: string;
  readonly host: string;
  readonly framing: RequestFraming;
  /** Body bytes, for `length`. */
  readonly length: number;
  /** The client sent `Connection: close`. */
  readonly close: boolean;
  /** The head to send upstream: the client's, minus hop-by-hop headers. */
  readonly forward: string;
}

/** A request head the fast path understood well enough to refuse: its Host lines leave the target in doubt. */
export interface HostProblem {
  readonly problem: 'host';
  readonly method: string;
  readonly path: string;
  /** The first Host value, if any (for the call line). */
  readonly host: string;
  /** How many Host lines it had: 0 or more than 1. */
  readonly hostLines: number;
}

export interface ResponseHead {
  readonly status: number;
  /** 1xx: another head follows. */
  readonly interim: boolean;
  readonly framing: ResponseFraming;
  readonly length: number;
  /** The upstream connection may carry another request after this response. */
  readonly reusable: boolean;
  /** The head to send the client, minus hop-by-hop headers (plus `Connection: close` when asked). */
  readonly forward: string;
  /** `X-Emulator-Error`, as a stand-in (url, targets, stub) sends it with its own answers. */
  readonly emulatorError: string | undefined;
}

interface HeaderVisitor {
  /** Returns false to drop the line from the forwarded head, or undefined to give up on the whole head. */
  (lowerName: string, value: string): boolean | undefined;
}

/**
 * Walks the header lines of `head` (after the start line ending at `start`), asking
 * `visit` about every line whose name could matter (a few lengths only, so the usual
 * header costs no lower-casing). Returns the head without the dropped lines.
 */
function walkHeaders(head: string, start: number, visit: HeaderVisitor, interesting: (length: number) => boolean): string | undefined {
  HEADER_LINES.lastIndex = start;
  if (!HEADER_LINES.test(head)) return undefined;
  let kept = '';
  let keptFrom = 0;
  let dropped = false;
  for (let pos = start; pos < head.length - 2; ) {
    const eol = head.indexOf('\r\n', pos);
    const colon = head.indexOf(':', pos);
    if (interesting(colon - pos)) {
      const verdict = visit(head.slice(pos, colon).toLowerCase(), head.slice(colon + 1, eol).trim());
      if (verdict === undefined) return undefined;
      if (!verdict) {
        kept += head.slice(keptFrom, pos);
        keptFrom = eol + 2;
        dropped = true;
      }
    }
    pos = eol + 2;
  }
  return dropped ? kept + head.slice(keptFrom) : head;
}

// The header names each parser looks at, by length: a line whose name has another length
// is kept without being lower-cased. Derived from the names, so a header added to a
// parser's switch (or to HOP_BY_HOP) is seen without anyone updating a list of numbers.
const REQUEST_NAMES = ['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade', ...HOP_BY_HOP];
const RESPONSE_NAMES = ['content-length', 'transfer-encoding', 'connection', 'x-emulator-error', ...HOP_BY_HOP];
const REQUEST_NAME_LENGTHS = new Set(REQUEST_NAMES.map((name) => name.length));
const RESPONSE_NAME_LENGTHS = new Set(RESPONSE_NAMES.map((name) => name.length));
const isRequestName = (length: number): boolean => REQUEST_NAME_LENGTHS.has(length);
const isResponseName = (length: number): boolean => RESPONSE_NAME_LENGTHS.has(length);

const METHODS = new Map(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map((method) => [method, method]));
/** The constant string for a common method: a record keeps it instead of one more string per call. */
const knownMethod = (method: string): string => METHODS.get(method) ?? method;

/** Whether the start of a head that is still arriving could be one the fast path takes. */
export function mayBecomeRequestHead(partial: Buffer): boolean {
  const first = partial[0]!;
  if (first < 0x41 || first > 0x5a) return false; // methods are upper case; TLS starts with 0x16
  const lineEnd = partial.indexOf('\r\n');
  return lineEnd === -1 || REQUEST_LINE.test(partial.toString('latin1', 0, lineEnd));
}

/**
 * Parses a request head (latin1, request line through the blank line). Returns
 * undefined for anything the fast path leaves to Node: other versions or request
 * forms, Upgrade, Expect, ambiguous framing (both Content-Length and chunked, unequal
 * lengths), an empty Host, `Connection` naming other headers. A missing or repeated
 * Host is a `HostProblem`: refused on either path.
 */
export function parseRequestHead(head: string, previousHost?: string): RequestHead | HostProblem | undefined {
  const lineEnd = head.indexOf('\r\n');
  const line = REQUEST_LINE.exec(head.slice(0, lineEnd));
  if (!line) return undefined;
  let host: string | undefined;
  let hostLines = 0;
  let length = -1;
  let chunked = false;
  let close = false;
  const forward = walkHeaders(
    head,
    lineEnd + 2,
    (name, value) => {
      switch (name) {
        case 'host':
          if (value === '') return undefined;
          hostLines++;
          host ??= value;
          return true;
        case 'content-length': {
          if (!DIGITS.test(value)) return undefined;
          const parsed = Number(value);
          if (length !== -1 && length !== parsed) return undefined;
          length = parsed;
          return true;
        }
        case 'transfer-encoding':
          if (chunked || value.toLowerCase() !== 'chunked') return undefined;
          chunked = true;
          return true;
        case 'connection':
          for (const option of connectionOptions(value)) {
            if (option === 'close') close = true;
            else if (option !== 'keep-alive') return undefined;
          }
          return false;
        case 'expect':
        case 'upgrade':
          return undefined;
        default:
          return !HOP_BY_HOP.has(name);
      }
    },
    isRequestName,
  );
  if (forward === undefined) return undefined;
  if (hostLines !== 1) return { problem: 'host', method: line[1]!, path: line[2]!, host: host ?? '', hostLines };
  if (chunked && length !== -1) return undefined;
  return {
    method: knownMethod(line[1]!),
    path: line[2]!,
    // The connection's last Host, when it is the same: the call's record keeps it, and a
    // string cut from this head would keep the whole head alive with it (GC work per call).
    host: previousHost !== undefined && host === previousHost ? previousHost : host!,
    framing: chunked ? 'chunked' : length > 0 ? 'length' : 'none',
    length: Math.max(length, 0),
    close,
    forward,
  };
}

/**
 * Parses a response head; a string says what is wrong with it. `method` is the
 * request's (HEAD has no body); `closeClient` adds `Connection: close` to the
 * forwarded head, as does a body that ends only when the connection does.
 */
export function parseResponseHead(head: string, method: string, closeClient: boolean): ResponseHead | string {
  const lineEnd = head.indexOf('\r\n');
  const line = STATUS_LINE.exec(head.slice(0, lineEnd));
  if (!line) return `invalid status line ${JSON.stringify(head.slice(0, Math.min(lineEnd, 60)))}`;
  const status = Number(line[2]);
  if (status === 101) return 'a 101 Switching Protocols that was never asked for';
  let length = -1;
  let codings: string | undefined;
  let problem: string | undefined;
  let reusable = line[1] === '1';
  let named: string[] | undefined;
  let emulatorError: string | undefined;
  let forward = walkHeaders(
    head,
    lineEnd + 2,
    (name, value) => {
      switch (name) {
        case 'content-length': {
          const parsed = DIGITS.test(value) ? Number(value) : NaN;
          if (Number.isNaN(parsed) || (length !== -1 && length !== parsed)) {
            problem = `invalid or conflicting Content-Length "${value}"`;
            return undefined;
          }
          length = parsed;
          return true;
        }
        case 'transfer-encoding':
          codings = codings === undefined ? value : `${codings}, ${value}`;
          return true;
        case 'x-emulator-error':
          emulatorError = value;
          return true;
        case 'connection':
          for (const option of connectionOptions(value)) {
            if (option === 'close') reusable = false;
            else if (option === 'keep-alive') reusable = true;
            else (named ??= []).push(option);
          }
          return false;
        default:
          return !HOP_BY_HOP.has(name);
      }
    },
    isResponseName,
  );
  if (forward === undefined) return problem ?? 'a malformed header line';
  // Headers that `Connection` names are hop-by-hop too (rare: a second walk).
  if (named !== undefined) {
    const drop = new Set(named);
    forward = walkHeaders(
      forward,
      lineEnd + 2,
      (name) => !drop.has(name),
      () => true,
    )!;
  }
  if (status < 200) return { status, interim: true, framing: 'none', length: 0, reusable, forward, emulatorError };
  let framing: ResponseFraming;
  if (method === 'HEAD' || status === 204 || status === 304) framing = 'none';
  else if (codings !== undefined) {
    if (length !== -1) return 'both Transfer-Encoding and Content-Length';
    framing = /(?:^|,)\s*chunked\s*$/i.test(codings) ? 'chunked' : 'close';
  } else framing = length === -1 ? 'close' : length === 0 ? 'none' : 'length';
  if (framing === 'close') reusable = false;
  if (closeClient || framing === 'close') forward = `${forward.slice(0, -2)}Connection: close\r\n\r\n`;
  return { status, interim: false, framing, length: Math.max(length, 0), reusable, forward, emulatorError };
}
