// Request and response heads for the proxy's fast path (./connection.ts). They are
// parsed strictly: a request head this module does not fully understand is left to
// Node's own HTTP server (the slow path), which answers it as before; a response head
// it does not understand is an invalid response (502), as llhttp would have it.

import { HOP_BY_HOP } from '../../util/headers.js';
import { byteClass, copyBytes, moveBytesDown } from './bytes.js';

/** The request lines the fast path takes, for a head still arriving (complete ones are parsed as bytes below). */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[\x21-\x7e\x80-\xff]*) HTTP\/1\.1$/;

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
  /** The head to send upstream: the client's, minus hop-by-hop headers (a copy of the bytes read). */
  readonly forward: Buffer;
  /** Bytes of the head as read, through its blank line: the body or the next request starts there. */
  readonly size: number;
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
  /** Bytes of the head as read, through its blank line. */
  readonly size: number;
}

export interface ResponseHead {
  readonly status: number;
  /** 1xx: another head follows. */
  readonly interim: boolean;
  readonly framing: ResponseFraming;
  readonly length: number;
  /** The upstream connection may carry another request after this response. */
  readonly reusable: boolean;
  /**
   * The head to send the client, minus hop-by-hop headers (plus `Connection: close` when
   * asked), and the whole body when `bodyIncluded`. Usually a view of the bytes read,
   * rewritten where they were read (valid until the next read); with `Connection: close`
   * added, a copy of its own.
   */
  readonly forward: Buffer;
  /** Bytes of the head as read, through its blank line. */
  readonly size: number;
  /** The whole body (this many bytes, `length` framing) came with the head and ends `forward`; 0 otherwise. */
  readonly bodyIncluded: number;
  /** `X-Emulator-Error`, as a stand-in (url, targets, stub) sends it with its own answers. */
  readonly emulatorError: string | undefined;
}

// The header names each parser looks at, by length: a line whose name has another length
// is kept without being lower-cased. Derived from the names, so a header added to a
// parser's switch (or to HOP_BY_HOP) is seen without anyone updating a list of numbers.
const REQUEST_NAMES = ['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade', ...HOP_BY_HOP];
const RESPONSE_NAMES = ['content-length', 'transfer-encoding', 'connection', 'x-emulator-error', ...HOP_BY_HOP];
/** The names each parser acts on, by length (the usual header is matched by length alone). */
function byLength(names: readonly string[]): (string[] | undefined)[] {
  const table: (string[] | undefined)[] = [];
  for (const name of new Set(names)) (table[name.length] ??= []).push(name);
  return table;
}
const REQUEST_NAMES_BY_LENGTH = byLength(REQUEST_NAMES);
const RESPONSE_NAMES_BY_LENGTH = byLength(RESPONSE_NAMES);

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** The method `source[0, end)`: the constant string for a common one (a record keeps it: one string less per call). */
function knownMethod(source: Buffer, end: number): string {
  for (const method of METHODS) if (equalsString(source, 0, end, method)) return method;
  return source.toString('latin1', 0, end);
}

/** Whether the start of a head that is still arriving could be one the fast path takes. */
export function mayBecomeRequestHead(partial: Buffer): boolean {
  const first = partial[0]!;
  if (first < 0x41 || first > 0x5a) return false; // methods are upper case; TLS starts with 0x16
  const lineEnd = partial.indexOf('\r\n');
  return lineEnd === -1 || REQUEST_LINE.test(partial.toString('latin1', 0, lineEnd));
}

/**
 * Parses the request head at the start of `source` (request line through the blank line),
 * where it was read, finding its end on the way (no search for the blank line first: the
 * head's lines cannot hold a CR, so the first blank line is where the walk stops). Returns
 * undefined for a head not complete in `source` and for anything the fast path leaves to
 * Node: other versions or request forms, Upgrade, Expect, ambiguous framing (both
 * Content-Length and chunked, unequal lengths), an empty Host, `Connection` naming other
 * headers; the caller tells the two apart by looking for the blank line. A missing or
 * repeated Host is a `HostProblem`: refused on either path. `previousHost`: the
 * connection's last Host, returned (not a new string) when this one is the same.
 */
export function parseRequestHead(source: Buffer, previousHost?: string): RequestHead | HostProblem | undefined {
  // Bytes past `end` are not looked up in a table: an undefined index would make those lookups slow everywhere.
  const end = source.length;
  // Request line: token SP origin-form SP "HTTP/1.1" CRLF
  let pos = 0;
  while (pos < end && TOKEN[source[pos]!] === 1) pos++;
  const methodEnd = pos;
  if (methodEnd === 0 || source[pos] !== SP || source[pos + 1] !== SLASH) return undefined;
  const pathStart = ++pos;
  while (pos < end && TARGET[source[pos]!] === 1) pos++;
  const pathEnd = pos;
  for (let i = 0; i < REQUEST_LINE_END.length; i++) if (source[pos++] !== REQUEST_LINE_END[i]) return undefined;
  let host: string | undefined;
  let hostLines = 0;
  let length = -1;
  let chunked = false;
  let close = false;
  droppedLength = 0;
  // Header lines: token ":" OWS value OWS CRLF, no obs-fold, no bare CR or LF, no NUL.
  while (source[pos] !== CR) {
    const lineStart = pos;
    while (pos < end && TOKEN[source[pos]!] === 1) pos++;
    const nameLength = pos - lineStart;
    if (nameLength === 0 || source[pos] !== COLON) return undefined;
    let valueStart = ++pos;
    while (pos < end && FIELD[source[pos]!] === 1) pos++;
    if (source[pos] !== CR || source[pos + 1] !== LF) return undefined;
    let valueEnd = pos;
    pos += 2;
    const candidates = REQUEST_NAMES_BY_LENGTH[nameLength];
    const name = candidates === undefined ? undefined : matchName(source, lineStart, nameLength, candidates);
    if (name === undefined) continue;
    while (source[valueStart] === SP || source[valueStart] === HTAB) valueStart++;
    while (valueEnd > valueStart && (source[valueEnd - 1] === SP || source[valueEnd - 1] === HTAB)) valueEnd--;
    switch (name) {
      case 'host':
        if (valueEnd === valueStart) return undefined;
        hostLines++;
        // The connection's last Host, when it is the same: the call's record keeps it (one string less per call).
        host ??=
          previousHost !== undefined && equalsString(source, valueStart, valueEnd, previousHost)
            ? previousHost
            : source.toString('latin1', valueStart, valueEnd);
        break;
      case 'content-length': {
        const parsed = decimal(source, valueStart, valueEnd);
        if (parsed === -1 || (length !== -1 && length !== parsed)) return undefined;
        length = parsed;
        break;
      }
      case 'transfer-encoding':
        if (chunked || !equalsWord(source, valueStart, valueEnd, 'chunked')) return undefined;
        chunked = true;
        break;
      case 'connection': {
        const options = connectionFlags(source, valueStart, valueEnd);
        if (options & OPTION_OTHER) return undefined; // it names headers: Node's server sorts that out
        if (options & OPTION_CLOSE) close = true;
        drop(lineStart, pos);
        break;
      }
      case 'expect':
      case 'upgrade':
        return undefined;
      default:
        if (HOP_BY_HOP.has(name)) drop(lineStart, pos);
    }
  }
  if (source[pos + 1] !== LF) return undefined; // a bare CR starts a line, or the head goes on in a later read
  const headEnd = pos + 2;
  const method = knownMethod(source, methodEnd);
  const path = source.toString('latin1', pathStart, pathEnd);
  if (hostLines !== 1) return { problem: 'host', method, path, host: host ?? '', hostLines, size: headEnd };
  if (chunked && length !== -1) return undefined;
  return {
    method,
    path,
    host: host!,
    framing: chunked ? 'chunked' : length > 0 ? 'length' : 'none',
    length: Math.max(length, 0),
    close,
    // A copy: the read buffer is reused, and the head may be sent again (a retry) after the next read.
    forward: keptHead(source, headEnd, false, true),
    size: headEnd,
  };
}

// Byte classes for the heads, which are parsed where they were read, without strings.
const TOKEN = byteClass("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
/** Field value bytes: HTAB, visible ASCII and SP, obs-text. */
const FIELD = byteClass('\t', [0x20, 0x7e], [0x80, 0xff]);
/** Bytes of an origin-form request target after its "/": visible ASCII and obs-text. */
const TARGET = byteClass('', [0x21, 0x7e], [0x80, 0xff]);
const REQUEST_LINE_END = Buffer.from(' HTTP/1.1\r\n', 'latin1');
const SLASH = 0x2f;
const COLON = 0x3a;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n\r\n', 'latin1');
const HTTP_1 = 'HTTP/1.';
/**
 * Ranges of header lines to leave out, as [from, to) pairs in `dropped[0, droppedLength)`;
 * reused, as parsing is synchronous (a counter: setting an array's length is a runtime call).
 */
const dropped: number[] = [];
let droppedLength = 0;

/** The lower-case name among `candidates` that `source[from, from + length)` spells in any case, if any. */
function matchName(source: Buffer, from: number, length: number, candidates: readonly string[]): string | undefined {
  next: for (const name of candidates) {
    // Token bytes only: `| 0x20` lower-cases a letter and leaves digits and "-" alone.
    for (let i = 0; i < length; i++) if ((source[from + i]! | 0x20) !== name.charCodeAt(i)) continue next;
    return name;
  }
  return undefined;
}

/** Whether `source[from, to)` is `text`, exactly. */
function equalsString(source: Buffer, from: number, to: number, text: string): boolean {
  if (to - from !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (source[from + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Whether `source[from, to)` equals the lower-case `word` in any case. */
function equalsWord(source: Buffer, from: number, to: number, word: string): boolean {
  if (to - from !== word.length) return false;
  for (let i = 0; i < word.length; i++) if ((source[from + i]! | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

/** A decimal Content-Length of 1 to 15 digits in `source[from, to)`, or -1. */
function decimal(source: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = source[i]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Parses the response head at the start of `source` (status line through the blank line),
 * where it was read, finding its end on the way as parseRequestHead does; a string says
 * what is wrong with it, or that the head is not complete in `source` (the caller tells
 * which by looking for the blank line). `method` is the request's (HEAD has no body);
 * `closeClient` adds `Connection: close` to the forwarded head, as does a body that ends
 * only when the connection does. `forward` is usually a view of `source`, whose head
 * bytes are rewritten in place (hop-by-hop lines left out): `source` must be the
 * caller's own. A body of up to `bodyRoom` bytes that is all in `source` follows the
 * forwarded head in `forward` (`bodyIncluded`): one buffer, one write.
 */
export function parseResponseHead(
  source: Buffer,
  method: string,
  closeClient: boolean,
  bodyRoom = 0,
  connectionNamed?: ReadonlySet<string>,
): ResponseHead | string {
  const end = source.length; // as in parseRequestHead: no table lookup past it
  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  let pos = HTTP_1.length;
  const minor = source[pos]!;
  const code = source[pos + 2]! * 100 + source[pos + 3]! * 10 + source[pos + 4]! - 0x30 * 111;
  let valid = true;
  for (let i = 0; i < HTTP_1.length; i++) valid &&= source[i] === HTTP_1.charCodeAt(i);
  valid &&=
    (minor === 0x30 || minor === 0x31) &&
    source[pos + 1] === SP &&
    source[pos + 2]! >= 0x31 &&
    source[pos + 2]! <= 0x39 &&
    source[pos + 3]! >= 0x30 &&
    source[pos + 3]! <= 0x39 &&
    source[pos + 4]! >= 0x30 &&
    source[pos + 4]! <= 0x39;
  pos += 5;
  // The reason phrase as llhttp (Node's client) reads it: any byte but CR and LF. It is forwarded as it came.
  if (valid && source[pos] === SP) while (++pos < end && source[pos] !== CR && source[pos] !== LF);
  if (!valid || source[pos] !== CR || source[pos + 1] !== LF) {
    const lineEnd = source.indexOf('\r\n');
    return `invalid status line ${JSON.stringify(source.toString('latin1', 0, Math.min(lineEnd, 60)))}`;
  }
  if (code === 101) return 'a 101 Switching Protocols that was never asked for';
  let length = -1;
  let codings: string | undefined;
  let connection = 0;
  let named: Set<string> | undefined;
  let emulatorError: string | undefined;
  droppedLength = 0;
  // Header lines: token ":" OWS value OWS CRLF, no obs-fold, no bare CR or LF, no NUL.
  for (pos += 2; source[pos] !== CR; ) {
    const lineStart = pos;
    while (pos < end && TOKEN[source[pos]!] === 1) pos++;
    const nameLength = pos - lineStart;
    if (nameLength === 0 || source[pos] !== COLON) return 'a malformed header line';
    let valueStart = ++pos;
    while (pos < end && FIELD[source[pos]!] === 1) pos++;
    if (source[pos] !== CR || source[pos + 1] !== LF) return 'a malformed header line';
    const lineEnd = pos;
    pos += 2;
    const candidates = RESPONSE_NAMES_BY_LENGTH[nameLength];
    const name = candidates === undefined ? undefined : matchName(source, lineStart, nameLength, candidates);
    if (name === undefined) {
      if (connectionNamed?.has(source.toString('latin1', lineStart, lineStart + nameLength).toLowerCase())) drop(lineStart, pos);
      continue;
    }
    let valueEnd = lineEnd;
    while (source[valueStart] === SP || source[valueStart] === HTAB) valueStart++;
    while (valueEnd > valueStart && (source[valueEnd - 1] === SP || source[valueEnd - 1] === HTAB)) valueEnd--;
    let keep = true;
    switch (name) {
      case 'content-length': {
        // A second Content-Length, even an equal one, is refused as llhttp refuses it: the client would.
        if (length !== -1) return 'more than one Content-Length';
        length = decimal(source, valueStart, valueEnd);
        if (length === -1) return `invalid Content-Length "${source.toString('latin1', valueStart, valueEnd)}"`;
        break;
      }
      case 'transfer-encoding': {
        const value = source.toString('latin1', valueStart, valueEnd);
        codings = codings === undefined ? value : `${codings}, ${value}`;
        break;
      }
      case 'x-emulator-error':
        emulatorError = source.toString('latin1', valueStart, valueEnd);
        break;
      case 'connection': {
        const options = connectionFlags(source, valueStart, valueEnd);
        if (options & OPTION_OTHER) connectionFlags(source, valueStart, valueEnd, (named ??= new Set()));
        connection |= options;
        keep = false;
        break;
      }
      default:
        keep = !HOP_BY_HOP.has(name);
    }
    if (!keep || connectionNamed?.has(name)) drop(lineStart, pos);
  }
  if (source[pos + 1] !== LF) return 'a malformed header line'; // a bare CR starts a line (or the head goes on in a later read)
  const headEnd = pos + 2;
  // Headers that `Connection` names are hop-by-hop too (rare: a second walk).
  if (named !== undefined && connectionNamed === undefined) return parseResponseHead(source, method, closeClient, bodyRoom, named);
  if (codings !== undefined && length !== -1) return 'both Transfer-Encoding and Content-Length';
  // As llhttp has it, `close` wins; HTTP/1.0 keeps the connection only when asked to.
  let reusable = (connection & OPTION_CLOSE) === 0 && (minor === 0x31 || (connection & OPTION_KEEP_ALIVE) !== 0);
  if (code < 200)
    return {
      status: code,
      interim: true,
      framing: 'none',
      length: 0,
      reusable,
      forward: keptHead(source, headEnd, false, false),
      size: headEnd,
      bodyIncluded: 0,
      emulatorError,
    };
  let framing: ResponseFraming;
  if (method === 'HEAD' || code === 204 || code === 304) framing = 'none';
  else if (codings !== undefined) {
    framing = /(?:^|,)\s*chunked\s*$/i.test(codings) ? 'chunked' : 'close';
  } else framing = length === -1 ? 'close' : length === 0 ? 'none' : 'length';
  if (framing === 'close') reusable = false;
  const bodyIncluded = framing === 'length' && length <= bodyRoom && headEnd + length <= source.length ? length : 0;
  const forward = keptHead(source, headEnd, closeClient || framing === 'close', false, bodyIncluded);
  return { status: code, interim: false, framing, length: Math.max(length, 0), reusable, forward, size: headEnd, bodyIncluded, emulatorError };
}

const OPTION_CLOSE = 1;
const OPTION_KEEP_ALIVE = 2;
const OPTION_OTHER = 4;

/**
 * The options of a `Connection` value, `source[from, to)`, as OPTION_* flags, without a
 * string for `close` and `keep-alive`; the names of other options (lower case) go to `others`.
 */
function connectionFlags(source: Buffer, from: number, to: number, others?: Set<string>): number {
  let flags = 0;
  while (from < to) {
    let end = from;
    while (end < to && source[end] !== COMMA) end++;
    const next = end + 1;
    while (from < end && (source[from] === SP || source[from] === HTAB)) from++;
    while (end > from && (source[end - 1] === SP || source[end - 1] === HTAB)) end--;
    if (equalsWord(source, from, end, 'close')) flags |= OPTION_CLOSE;
    else if (equalsWord(source, from, end, 'keep-alive')) flags |= OPTION_KEEP_ALIVE;
    else if (end > from) {
      flags |= OPTION_OTHER;
      others?.add(source.toString('latin1', from, end).toLowerCase());
    }
    from = next;
  }
  return flags;
}

/** Leaves the line `[from, to)` out of the forwarded head (adjacent lines make one range). */
function drop(from: number, to: number): void {
  if (droppedLength > 0 && dropped[droppedLength - 1] === from) dropped[droppedLength - 1] = to;
  else {
    dropped[droppedLength++] = from;
    dropped[droppedLength++] = to;
  }
}

/**
 * The head without the dropped lines, plus `Connection: close` when asked, and then the
 * `body` bytes that follow the head. With `copy`, or `close` (which needs room), bytes of
 * its own. Otherwise a view of `source`, where the kept lines (and the body) were moved
 * down over the dropped ones: a response's head is rewritten in the read buffer, which is
 * the fast path's own, with no allocation and a move of the few bytes after the first
 * dropped line (Node's `Connection` and `Keep-Alive` come last).
 */
function keptHead(source: Buffer, headEnd: number, close: boolean, copy: boolean, body = 0): Buffer {
  const end = headEnd + body;
  if (!close && !copy) {
    if (droppedLength === 0) return source.subarray(0, end);
    let at = dropped[0]!;
    for (let i = 1; i < droppedLength; i += 2) at = moveBytesDown(source, dropped[i]!, i + 1 < droppedLength ? dropped[i + 1]! : end, at);
    return source.subarray(0, at);
  }
  let size = (close ? headEnd - 2 + CONNECTION_CLOSE.length : headEnd) + body;
  for (let i = 0; i < droppedLength; i += 2) size -= dropped[i + 1]! - dropped[i]!;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  let from = 0;
  for (let i = 0; i < droppedLength; i += 2) {
    at = copyBytes(source, from, dropped[i]!, out, at);
    from = dropped[i + 1]!;
  }
  if (close) at = copyBytes(CONNECTION_CLOSE, 0, CONNECTION_CLOSE.length, out, copyBytes(source, from, headEnd - 2, out, at));
  else at = copyBytes(source, from, headEnd, out, at);
  if (body > 0) copyBytes(source, headEnd, headEnd + body, out, at);
  return out;
}
