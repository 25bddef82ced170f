import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { endToEndHeaders } from '../../util/headers.js';
import { forwardedHeaders } from '../http-util.js';
import type { StubRequest } from './mapping.js';

/**
 * Record mode: a request that no mapping matches goes to the real service; its
 * answer is returned to the caller and saved as a WireMock mapping, so the next
 * identical request is answered offline. Like WireMock's recorder: the request is
 * matched by method, URL and body (equalToJson for JSON, equalTo for text); request
 * headers are not part of the mapping, so `Authorization` and `Cookie` are never
 * written anywhere; response bodies over INLINE_LIMIT go to `__files/`.
 */

export interface Recorded {
  readonly status: number;
  readonly statusMessage: string | undefined;
  /** Raw response headers, hop-by-hop ones removed. */
  readonly headers: string[];
  readonly body: Buffer;
}

/** Bodies up to this size are written inline in the mapping; larger ones to `__files/`. */
export const INLINE_LIMIT = 4 * 1024;
/** Responses larger than this are passed on but not recorded. */
const RECORD_LIMIT = 50 * 1024 * 1024;

/** Request headers the real service does not get: an unencoded body keeps the saved mapping readable; the length is set anew. */
const NOT_FORWARDED: ReadonlySet<string> = new Set(['accept-encoding', 'content-length']);
/** Response headers that describe one exchange (or hold a secret) rather than the resource. */
const NOT_RECORDED = new Set(['date', 'content-length', 'set-cookie', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive']);

export interface RecordTarget {
  readonly url: URL;
  readonly agent: http.Agent;
}

export function recordTarget(url: string, tls: { ca: Buffer | undefined; insecure: boolean }): RecordTarget {
  const parsed = new URL(url);
  const agent =
    parsed.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca: tls.ca, rejectUnauthorized: !tls.insecure }) : new http.Agent({ keepAlive: true });
  return { url: parsed, agent };
}

/** Sends the request to the real service and reads its whole answer. */
export function forwardForRecording(target: RecordTarget, req: IncomingMessage, body: Buffer): Promise<Recorded> {
  const headers = forwardedHeaders(req.rawHeaders, target.url.host, NOT_FORWARDED);
  if (body.length > 0) headers.push('Content-Length', String(body.length));
  const secure = target.url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(
      {
        host: target.url.hostname.replace(/^\[|\]$/g, ''),
        port: target.url.port || (secure ? 443 : 80),
        method: req.method,
        path: target.url.pathname.replace(/\/+$/, '') + (req.url ?? '/'),
        headers,
        agent: target.agent,
        setHost: false,
        servername: target.url.hostname,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= RECORD_LIMIT) chunks.push(chunk);
        });
        res.on('end', () => {
          if (size > RECORD_LIMIT) return reject(new Error(`the response is larger than ${RECORD_LIMIT / 1024 / 1024} MB, too large to record`));
          resolve({ status: res.statusCode ?? 502, statusMessage: res.statusMessage, headers: endToEndHeaders(res.rawHeaders), body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Writes the exchange as `mappings/<method>-<path>-<hash>.json` (the same request
 * always gets the same name, so recording it again replaces it). Returns the file
 * name relative to `mappings/`.
 */
export function saveRecording(stubDir: string, request: StubRequest, recorded: Recorded): string {
  const hash = createHash('sha256').update(request.method).update('\0').update(request.url).update('\0').update(request.body).digest('hex').slice(0, 10);
  const slug =
    request.path
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'root';
  const base = `${request.method.toLowerCase()}-${slug}-${hash}`;

  const requestPattern: Record<string, unknown> = { method: request.method, url: request.url };
  if (request.body.length > 0) {
    const text = utf8(request.body);
    if (text !== undefined && isJson(text)) requestPattern.bodyPatterns = [{ equalToJson: text }];
    else if (text !== undefined) requestPattern.bodyPatterns = [{ equalTo: text }];
    else requestPattern.bodyPatterns = [{ binaryEqualTo: request.body.toString('base64') }];
  }

  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < recorded.headers.length; i += 2) {
    const name = recorded.headers[i]!;
    if (NOT_RECORDED.has(name.toLowerCase())) continue;
    const existing = headers[name];
    headers[name] = existing === undefined ? recorded.headers[i + 1]! : [...(Array.isArray(existing) ? existing : [existing]), recorded.headers[i + 1]!];
  }
  const response: Record<string, unknown> = { status: recorded.status };
  if (Object.keys(headers).length > 0) response.headers = headers;
  const text = utf8(recorded.body);
  if (recorded.body.length === 0) {
    // no body
  } else if (recorded.body.length <= INLINE_LIMIT && text !== undefined) {
    response.body = text;
  } else if (recorded.body.length <= INLINE_LIMIT) {
    response.base64Body = recorded.body.toString('base64');
  } else {
    const fileName = `${base}${extensionFor(headerValue(recorded.headers, 'content-type'))}`;
    writeAtomically(path.join(stubDir, '__files', fileName), recorded.body);
    response.bodyFileName = fileName;
  }

  const mapping = {
    id: `${hash.slice(0, 8)}-0000-4000-8000-${hash.slice(0, 10)}00`,
    name: `${request.method} ${request.url}`,
    request: requestPattern,
    response,
  };
  const file = `${base}.json`;
  writeAtomically(path.join(stubDir, 'mappings', file), `${JSON.stringify(mapping, null, 2)}\n`);
  return file;
}

/** Write then rename: the mapping watcher never reads a half-written file. */
function writeAtomically(file: string, content: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content);
  renameSync(temporary, file);
}

function utf8(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.byteLength(text) === bytes.length && !text.includes('\uFFFD') ? text : undefined;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return /^\s*[[{]/.test(text);
  } catch {
    return false;
  }
}

function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  return undefined;
}

function extensionFor(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type.endsWith('json')) return '.json';
  if (type.includes('html')) return '.html';
  if (type.includes('xml')) return '.xml';
  if (type.startsWith('text/')) return '.txt';
  if (type.startsWith('image/')) return `.${type.slice(6).replace(/[^a-z0-9]/g, '')}`;
  return '.bin';
}
