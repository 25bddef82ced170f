import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { EmulatorConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import { accessMatrix, CONSOLE_NAME, editAllow, isConfigFile } from './access.js';
import { curlCommand, explain } from './explain.js';
import { LiveStream } from './live.js';
import { loopbackOnly, newToken, requireToken } from './security.js';
import type { DashboardSource } from './source.js';
import { CallDetailStore } from './details.js';
import type { CallDetails, CapturedBody } from '../calls/record.js';

/** Where `scripts/build-dashboard.js` puts the bundled page (dist/dashboard/ui). */
const UI_DIR = fileURLToPath(new URL('./ui/', import.meta.url));
const LOG_LINES_PER_SERVICE = 8;
/** A replay answer is shown, not kept: the page gets its first 64 KB. */
const REPLAY_BODY_LIMIT = 64 * 1024;

export interface AdminApp {
  /** A request handler: the dashboard's own server, and `/_emulator/*` on the proxy's main port. */
  readonly handler: Express;
  /** The token state-changing requests must send (X-Emulator-Token). */
  readonly token: string;
  /** Clients of the live stream right now. */
  readonly listeners: number;
  /** Ends the live streams (their requests never finish by themselves). */
  stop(): void;
}

/**
 * The admin API and the dashboard, one express app. Read endpoints are plain GETs;
 * anything that changes the emulator needs the session token. Every request must name
 * a loopback host (see security.ts).
 */
export function createAdminApp(source: DashboardSource): AdminApp {
  const token = newToken();
  const details = new CallDetailStore();
  const sink = (call: CallDetails): void => details.add(call.record, call);
  const live = new LiveStream(source.calls, source.logs, (watched) => source.capture?.(watched ? sink : undefined));
  const detailOf = (id: number): CallDetails | undefined => {
    const record = source.calls.recordAt(id);
    return record === undefined ? undefined : details.get(record);
  };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(loopbackOnly);
  app.use((_req, res, next) => {
    // Everything the page needs comes from here: no CDN, no fonts, no framing by other pages.
    res.setHeader(
      'content-security-policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    next();
  });
  // Endpoints other features serve themselves (the stubs' journal), as they were before the dashboard.
  app.use((req, res, next) => {
    if (!source.extraAdmin?.(req, res)) next();
  });
  app.use(requireToken(token));
  app.use(express.json({ limit: '1mb' }));

  const sendJson = (res: Response, body: unknown, status = 200): void => {
    res
      .status(status)
      .type('application/json')
      .send(`${JSON.stringify(body, null, 2)}\n`);
  };

  // The admin API that tools and `emulator call` have used since the first version.
  app.get('/_emulator/info', (_req, res) => sendJson(res, source.info()));
  app.get('/_emulator/calls', (_req, res) => sendJson(res, source.calls.list()));
  app.get('/_emulator/token', (_req, res) => sendJson(res, { token, header: 'X-Emulator-Token' }));

  app.get('/_emulator/events', (req, res) => live.attach(req, res));

  app.get('/_emulator/services', (_req, res) => {
    const config = source.config();
    sendJson(
      res,
      source.services().map((snapshot) => {
        const service = config.services.get(snapshot.name);
        return {
          ...snapshot,
          id: service?.id,
          runtime: snapshot.runtime ?? service?.kind,
          healthcheck: service?.healthcheck,
          logs: source.logs.tail(snapshot.name, LOG_LINES_PER_SERVICE),
        };
      }),
    );
  });
  app.post('/_emulator/services/:name/restart', async (req, res) => {
    const name = String(req.params.name);
    if (!source.config().services.has(name)) return sendJson(res, { error: 'unknown_service', message: `No service named "${name}".` }, 404);
    const restarted = await source.restart(name);
    sendJson(res, { restarted, service: source.services().find((snapshot) => snapshot.name === name) });
  });

  app.get('/_emulator/calls/:id', (req, res) => {
    const record = source.calls.get(Number(req.params.id));
    if (!record) return sendJson(res, { error: 'not_found', message: `Call ${req.params.id} is no longer in the trace (it keeps the last 1000).` }, 404);
    const detail = detailOf(record.id);
    // No response came (refused, reset, timed out): no response headers or body to show.
    const answered = detail?.responseStatus !== undefined;
    const body = (captured: CapturedBody | undefined) =>
      captured === undefined
        ? undefined
        : { text: captured.bytes.toString('utf8'), base64: captured.bytes.toString('base64'), captured: captured.bytes.length, bytes: captured.total };
    sendJson(res, {
      call: record,
      captured: detail !== undefined,
      capturing: source.capture !== undefined,
      requestHeaders: detail?.requestHeaders,
      responseHeaders: answered ? detail?.responseHeaders : undefined,
      requestBody: body(detail?.requestBody),
      responseBody: body(answered ? detail?.responseBody : undefined),
      timings: detail === undefined ? { total: record.durationMs } : timingsOf(detail),
      actions: record.actions ?? [],
      explanation: explain(record, source.config()),
      curl: curlCommand(record, source.proxyUrl(), detail?.requestHeaders, detail?.requestBody.bytes, !detail?.requestBody.truncated),
    });
  });
  app.post('/_emulator/calls/:id/replay', async (req, res) => {
    const record = source.calls.get(Number(req.params.id));
    if (!record) return sendJson(res, { error: 'not_found', message: `Call ${req.params.id} is no longer in the trace.` }, 404);
    if (record.method === 'CONNECT') return sendJson(res, { error: 'not_replayable', message: 'A CONNECT tunnel cannot be replayed.' }, 400);
    const detail = detailOf(record.id);
    if (detail?.requestBody.truncated) {
      return sendJson(
        res,
        { error: 'not_replayable', message: 'The request body was larger than the 64 KB the dashboard keeps: copy it as curl and supply the body.' },
        400,
      );
    }
    const reply = await replay(source.proxyUrl(), record, detail?.requestHeaders, detail?.requestBody.bytes);
    sendJson(res, { ...reply, call: source.calls.lastId });
  });

  let editing = Promise.resolve();
  app.get('/_emulator/access', (_req, res) => sendJson(res, accessMatrix(source.config())));
  app.post('/_emulator/access', (req: Request, res: Response, next: NextFunction) => {
    const { from, to, allow } = (req.body ?? {}) as { from?: unknown; to?: unknown; allow?: unknown };
    const config = source.config();
    const caller = typeof from === 'string' ? config.services.get(from) : undefined;
    const target = typeof to === 'string' ? config.services.get(to) : undefined;
    if (!caller || !target || typeof allow !== 'boolean') {
      return sendJson(res, { error: 'bad_request', message: 'Send {"from": <service name>, "to": <service name>, "allow": true|false}.' }, 400);
    }
    if (!isConfigFile(config.file)) {
      return sendJson(
        res,
        { error: 'not_editable', message: 'This emulator runs a config built in code, not a file: change "allow" where the config is written.' },
        409,
      );
    }
    // One edit at a time: each reads the file the previous one wrote.
    editing = editing.then(async () => {
      const text = readFileSync(config.file, 'utf8');
      const next = editAllow(text, caller.name, target, allow);
      if (next !== text) writeFileSync(config.file, next);
      let applied: EmulatorConfig;
      try {
        applied = await source.reloadConfig();
      } catch (error) {
        if (next !== text) writeFileSync(config.file, text); // never leave a file the emulator cannot load
        throw error;
      }
      const now = applied.services.get(caller.name)?.allow.has(target.name) ?? false;
      if (now !== allow) {
        return sendJson(
          res,
          {
            error: 'overridden',
            message: `The file now says ${allow ? 'allow' : 'deny'}, but the emulator's start options override services.${caller.name}.allow.`,
            matrix: accessMatrix(applied),
          },
          409,
        );
      }
      sendJson(res, { ...accessMatrix(applied), changed: next !== text });
    });
    editing.catch(next);
    editing = editing.catch(() => undefined);
  });

  app.get('/_emulator/logs', (req, res) => {
    const sourceName = typeof req.query.source === 'string' && req.query.source !== '' ? req.query.source : undefined;
    const search = typeof req.query.q === 'string' ? req.query.q : undefined;
    const limit = Math.min(Number(req.query.limit) || 1_000, 2_000);
    sendJson(res, { sources: source.logs.sources(), lines: source.logs.query({ source: sourceName, search, limit }) });
  });

  // Views of features other parts of the emulator provide; "not configured" until they do.
  app.get('/_emulator/views/policies', (_req, res) => {
    const view = source.policies?.();
    sendJson(res, view === undefined ? { configured: false } : { configured: true, ...view });
  });
  app.get('/_emulator/views/stubs', (_req, res) => {
    const view = source.stubs?.();
    sendJson(res, view === undefined ? { configured: false } : { configured: true, ...view });
  });

  app.use('/_emulator', (_req, res) => {
    sendJson(
      res,
      {
        error: 'not_found',
        message:
          'Admin endpoints: /_emulator/info, /_emulator/calls, /_emulator/calls/:id, /_emulator/services, /_emulator/access, /_emulator/logs, /_emulator/events, /_emulator/token',
      },
      404,
    );
  });

  // The page: index.html with the token in a meta tag, then the bundled assets.
  let indexHtml: string | undefined;
  app.get(['/', '/index.html'], (_req, res) => {
    indexHtml ??= readFileSync(`${UI_DIR}index.html`, 'utf8');
    res.setHeader('cache-control', 'no-store');
    res.type('html').send(indexHtml.replace('%EMULATOR_TOKEN%', token).replace('%CONSOLE_NAME%', CONSOLE_NAME));
  });
  app.use('/assets', express.static(`${UI_DIR}assets`, { index: false, fallthrough: false }));

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = error instanceof EmulatorError && error.kind === 'user' ? 422 : ((error as { status?: number }).status ?? 500);
    if (res.headersSent) return void res.end();
    sendJson(
      res,
      {
        error: error instanceof EmulatorError ? error.code : 'internal',
        message: error instanceof Error ? error.message : String(error),
        fix: (error as EmulatorError).fix,
      },
      status,
    );
  });

  return {
    handler: app,
    token,
    get listeners() {
      return live.listeners;
    },
    stop: () => live.stop(),
  };
}

/** The timings the page shows: `{ upstream, sent, head, total }` in ms, those the call got to. */
function timingsOf(details: CallDetails): Record<string, number> {
  const timings: Record<string, number> = {};
  for (const [name, ms] of Object.entries(details.timings)) if (ms !== undefined) timings[name.replace(/Ms$/, '')] = ms;
  return timings;
}

/** Sends the call again through the proxy, as its caller named it (the host acts as `from`). */
function replay(
  proxyUrl: string,
  record: { host: string; method: string; path: string; to: string | undefined },
  headers: readonly (readonly [string, string])[] | undefined,
  body: Buffer | undefined,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; truncated: boolean } | { error: string; message: string }> {
  const proxy = new URL(proxyUrl);
  const outgoing: (readonly [string, string])[] = (headers ?? []).filter(
    ([name]) => !/^(host|content-length|connection|proxy-connection|transfer-encoding|keep-alive)$/i.test(name),
  );
  outgoing.push(['Host', record.host]);
  if (body !== undefined) outgoing.push(['Content-Length', String(body.length)]);
  // An inner call goes to the proxy by Host; a call to another host went through it as a forward proxy.
  const path = record.to === undefined && !/\.inner-call\.|\.dycloud\.service/i.test(record.host) ? `http://${record.host}${record.path}` : record.path;
  return new Promise((resolve) => {
    const req = http.request(
      { host: proxy.hostname, port: proxy.port, method: record.method, path, headers: outgoing.flat(), agent: false, timeout: 60_000 },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < REPLAY_BODY_LIMIT) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all.subarray(0, REPLAY_BODY_LIMIT).toString('utf8'),
            truncated: size > REPLAY_BODY_LIMIT,
          });
        });
        res.on('error', (error) => resolve({ error: 'replay_failed', message: error.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', (error) => resolve({ error: 'replay_failed', message: error.message }));
    req.end(body);
  });
}
