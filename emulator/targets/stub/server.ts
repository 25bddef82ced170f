import { mkdirSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { EmulatorError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { closeServer, listen } from '../../util/net.js';
import { watchFiles, type FileWatcher } from '../../watch/file-watcher.js';
import { describeRemoteError } from '../remote.js';
import { innerCallParties, readBody, sendError } from '../http-util.js';
import type { Mapping, StubRequest } from './mapping.js';
import { forwardForRecording, recordTarget, saveRecording, type Recorded, type RecordTarget } from './record.js';
import { sendStubResponse } from './respond.js';
import { MappingStore } from './store.js';

/**
 * A `stub` service: an in-process HTTP server on loopback that answers from
 * WireMock-format mappings, and that the emulator treats as the service's one
 * instance (so the allow-list, caller identity, policies and the call trace apply as
 * for any service). It keeps a journal of the requests it got, hot-reloads its
 * mapping files, and in record mode fills itself from a real service.
 */

export interface StubOptions {
  readonly name: string;
  readonly id: string;
  /** Absolute stub directory (holds `mappings/` and `__files/`). */
  readonly dir: string;
  /** Record mode: unmatched requests go here and are saved as mappings. */
  readonly record: { readonly url: string; readonly tls: { readonly ca: string | undefined; readonly insecure: boolean } } | undefined;
  readonly logger: Logger;
  /** Mapping files are watched unless false. */
  readonly watch: { readonly polling: boolean; readonly interval: number; readonly debounceMs: number } | false;
  /** How many requests the journal keeps (default 1000). */
  readonly journalSize?: number;
}

/** One request as the stub saw it (WireMock's serve event, shortened). */
export interface JournalEntry {
  readonly id: number;
  /** Epoch ms. */
  readonly time: number;
  /** The calling service's id, read from the inner-call host name (null when called directly). */
  readonly from: string | null;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** The first 64 KB of the body, as UTF-8 (as base64 when it is not text). */
  readonly body: string;
  readonly bodyEncoding: 'utf8' | 'base64';
  readonly wasMatched: boolean;
  /** The mapping that answered (label, id, file), when one did. */
  readonly mapping: { readonly label: string; readonly id: string | undefined; readonly file: string } | undefined;
  /** Answered by the real service in record mode (and saved as this file). */
  readonly recordedAs: string | undefined;
  /** For unmatched requests: the closest mappings and what differed. */
  readonly nearMisses: readonly { readonly mapping: string; readonly differences: readonly string[] }[] | undefined;
  /** Status sent; 0 for a fault or when the caller went away. */
  status: number;
}

export interface StubServer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** Requests received so far, oldest first. */
  requests(filter?: { unmatched?: boolean }): JournalEntry[];
  clearRequests(): void;
  mappings(): readonly Mapping[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Bodies are buffered to be matched; larger ones get an error instead of a guess. */
const MAX_BODY = 10 * 1024 * 1024;
const JOURNAL_BODY = 64 * 1024;

export async function startStub(options: StubOptions): Promise<StubServer> {
  const { logger, name } = options;
  // Record mode fills the folder, so it may start empty or missing.
  if (options.record !== undefined) mkdirSync(path.join(options.dir, 'mappings'), { recursive: true });
  const store = new MappingStore(options.dir);
  const failed = store.loadAll();
  if (failed.length > 0) {
    throw new EmulatorError(
      'config_invalid',
      `Stub "${name}": ${failed.length === 1 ? 'a mapping file does' : `${failed.length} mapping files do`} not load:\n${failed.map((p) => p.format()).join('\n')}`,
      {
        fix: 'Fix the mapping file(s) as shown; docs/stubs.md lists the WireMock features dyc-emulator supports.',
      },
    );
  }
  const ca = options.record?.tls.ca === undefined ? undefined : readFileSync(options.record.tls.ca);
  const recorder: RecordTarget | undefined =
    options.record === undefined ? undefined : recordTarget(options.record.url, { ca, insecure: options.record.tls.insecure });

  const journal: JournalEntry[] = [];
  const journalSize = options.journalSize ?? 1_000;
  let sequence = 0;
  const remember = (entry: JournalEntry): void => {
    journal.push(entry);
    // Trimmed in batches: one splice per 100 requests, not a shift of 1000 entries per request.
    if (journal.length > journalSize + 100) journal.splice(0, journal.length - journalSize);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY);
    if (body === undefined)
      return sendError(
        req,
        res,
        options.id,
        'stub_error',
        `The request body is larger than ${MAX_BODY / 1024 / 1024} MB; stub "${name}" buffers bodies to match them.`,
      );
    const request = toStubRequest(req, body);
    const base = journalBase(req, request);
    const mapping = store.find(request);
    if (mapping !== undefined) {
      store.served(mapping);
      const entry: JournalEntry = {
        ...base,
        wasMatched: true,
        mapping: { label: mapping.label, id: mapping.id, file: mapping.file },
        recordedAs: undefined,
        nearMisses: undefined,
        status: 0,
      };
      remember(entry);
      try {
        entry.status = await sendStubResponse(res, mapping.response, store.filesDir);
      } catch (error) {
        const problem =
          (error as NodeJS.ErrnoException).code === 'ENOENT' ? `its bodyFileName is missing: ${(error as Error).message}` : (error as Error).message;
        sendError(req, res, options.id, 'stub_error', `Mapping ${mapping.label} of stub "${name}" matched, but ${problem}.`);
        entry.status = 500;
      }
      return;
    }
    if (recorder !== undefined) return record(req, res, request, base);

    const nearMisses = store.nearMisses(request);
    const entry: JournalEntry = {
      ...base,
      wasMatched: false,
      mapping: undefined,
      recordedAs: undefined,
      nearMisses: nearMisses.map((miss) => ({ mapping: miss.mapping.label, differences: miss.differences })),
      status: 404,
    };
    remember(entry);
    const message = notMatchedMessage(name, store, request, nearMisses);
    logger.serviceEvent(name, message, 'warn');
    sendError(req, res, options.id, 'stub_not_matched', message, { nearMisses: entry.nearMisses });
  }

  async function record(req: IncomingMessage, res: ServerResponse, request: StubRequest, base: ReturnType<typeof journalBase>): Promise<void> {
    const entry: JournalEntry = { ...base, wasMatched: false, mapping: undefined, recordedAs: undefined, nearMisses: undefined, status: 0 };
    remember(entry);
    let recorded: Recorded;
    try {
      recorded = await forwardForRecording(recorder!, req, request.body);
    } catch (error) {
      const problem = describeRemoteError(error as NodeJS.ErrnoException, recorder!.url, {
        name,
        configPath: `services.${name}.stub.record`,
        tls: options.record!.tls,
      });
      entry.status = 502;
      return sendError(req, res, options.id, 'upstream_error', `Stub "${name}" in record mode could not reach ${recorder!.url.href}: ${problem}`);
    }
    res.writeHead(recorded.status, recorded.statusMessage, withLength(recorded.headers, recorded.body.length));
    res.end(recorded.body);
    entry.status = recorded.status;
    try {
      const file = saveRecording(options.dir, request, recorded);
      (entry as { recordedAs: string | undefined }).recordedAs = `mappings/${file}`;
      const result = store.reload(file); // serve it from now on, without waiting for the watcher
      if (result.problems !== undefined) logger.serviceEvent(name, `recorded mapping does not load: ${result.problems.format()}`, 'error');
      logger.serviceEvent(name, `recorded ${request.method} ${request.url} → ${recorded.status} as mappings/${file}`, 'info');
    } catch (error) {
      logger.serviceEvent(name, `could not save the recording of ${request.method} ${request.url}: ${(error as Error).message}`, 'error');
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => sendError(req, res, options.id, 'stub_error', `Stub "${name}" failed: ${(error as Error).message}`));
  });
  server.keepAliveTimeout = 65_000; // outlives the proxy's idle pool time
  server.requestTimeout = 0;
  await listen(server, 0, '127.0.0.1', `The stub server of service "${name}"`);
  const port = (server.address() as AddressInfo).port;

  let watcher: FileWatcher | undefined;
  if (options.watch !== false) {
    watcher = await watchFiles({
      dir: store.mappingsDir,
      globs: ['**/*.json'],
      polling: options.watch.polling,
      interval: options.watch.interval,
      debounceMs: options.watch.debounceMs,
      onChange(files) {
        for (const file of files) {
          const result = store.reload(file);
          if (result.problems !== undefined) {
            logger.serviceEvent(name, `mappings/${file} not reloaded; its previous mappings stay in force:\n${result.problems.format()}`, 'error');
          } else if (result.removed) {
            logger.serviceEvent(name, `mappings/${file} removed`, 'info');
          } else {
            logger.serviceEvent(name, `mappings/${file} reloaded (${result.count} mapping${result.count === 1 ? '' : 's'})`, 'info');
          }
        }
      },
      onError: (error) => logger.serviceEvent(name, `watching ${store.mappingsDir} failed: ${error.message}`, 'warn'),
    });
  }

  let stopping: Promise<void> | undefined;
  const handle_: StubServer = {
    host: '127.0.0.1',
    port,
    dir: options.dir,
    requests(filter) {
      const recent = journal.slice(-journalSize);
      return filter?.unmatched ? recent.filter((entry) => !entry.wasMatched && entry.recordedAs === undefined) : recent;
    },
    clearRequests() {
      journal.length = 0;
    },
    mappings: () => store.all(),
    stop() {
      stopping ??= (async () => {
        await watcher?.stop();
        await closeServer(server);
        recorder?.agent.destroy();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return handle_.stop();
    },
  };
  return handle_;

  function journalBase(req: IncomingMessage, request: StubRequest) {
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const key = req.rawHeaders[i]!;
      headers[key] = headers[key] === undefined ? req.rawHeaders[i + 1]! : `${headers[key]}, ${req.rawHeaders[i + 1]!}`;
    }
    const head = request.body.subarray(0, JOURNAL_BODY);
    const text = head.toString('utf8');
    const isText = !text.includes('\uFFFD');
    return {
      id: ++sequence,
      time: Date.now(),
      from: innerCallParties(req.headers.host, options.id).from,
      method: request.method,
      url: request.url,
      headers,
      body: isText ? text : head.toString('base64'),
      bodyEncoding: (isText ? 'utf8' : 'base64') as 'utf8' | 'base64',
    };
  }
}

function toStubRequest(req: IncomingMessage, body: Buffer): StubRequest {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  const query = new Map<string, string[]>();
  if (mark !== -1) {
    for (const [key, value] of new URLSearchParams(url.slice(mark + 1))) query.set(key, [...(query.get(key) ?? []), value]);
  }
  const headers = new Map<string, string[]>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const key = req.rawHeaders[i]!.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), req.rawHeaders[i + 1]!]);
  }
  const cookies = new Map<string, string[]>();
  for (const line of headers.get('cookie') ?? []) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const key = pair.slice(0, eq).trim();
      cookies.set(key, [...(cookies.get(key) ?? []), pair.slice(eq + 1).trim()]);
    }
  }
  let path = mark === -1 ? url : url.slice(0, mark);
  try {
    path = decodeURI(path);
  } catch {
    // not valid percent-encoding: matched as sent
  }
  let text: string | undefined | null = null;
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    path,
    query,
    headers,
    cookies,
    body,
    get bodyText() {
      text ??= body.length === 0 ? undefined : body.toString('utf8');
      return text;
    },
  };
}

function notMatchedMessage(name: string, store: MappingStore, request: StubRequest, nearMisses: ReturnType<MappingStore['nearMisses']>): string {
  const what = `${request.method} ${request.url}`;
  if (nearMisses.length === 0) {
    return `Stub "${name}" has no mappings, so nothing answers ${what}. Add a WireMock mapping file to ${store.mappingsDir}, or record one with "stub": { "dir": ..., "record": "https://..." }.`;
  }
  const closest = nearMisses[0]!;
  return `No mapping of stub "${name}" matches ${what}. Closest: ${closest.mapping.label}, which differs in ${closest.differences.join('; ')}.`;
}

function withLength(raw: readonly string[], length: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('Content-Length', String(length));
  return out;
}
