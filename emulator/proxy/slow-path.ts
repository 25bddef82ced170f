// The slow path: requests the fast path hands over, served by Node's http server and
// client. The same call pipeline as the fast path decides, picks and records; this
// file moves the bytes (and answers what is not an inner call: pass-through, admin,
// hosts that are not inner-call names).

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  describeSocketError,
  hostLinesMessage,
  notInnerCallHostError,
  PROXY_ERRORS,
  timeoutReason,
  unavailableError,
  upstreamError,
  type CallErrorCode,
  type ProxyErrorCode,
  type ProxyErrorDetails,
} from '../calls/errors.js';
import { faultStatus, injectFault } from '../calls/faults.js';
import type { CallDetailsBuilder } from '../calls/record.js';
import { entryControlOfHeaders } from '../calls/entry.js';
import { compileShaping, shapeRawHeaders } from '../calls/shaping.js';
import { KeptBody } from '../calls/kept-body.js';
import type { TryFailure } from '../calls/policies.js';
import type { AttemptOutcome, CallRequest, CallSource } from '../calls/types.js';
import type { ProxyContext } from './context.js';
import { endToEndHeaders } from '../util/headers.js';
import { standInError } from '../targets/http-util.js';
import { destination, loopError, outboundFor, splitAuthority } from './pass-through.js';

const ADMIN_PREFIX = '/_emulator/';
/** How long a request with `Expect: 100-continue` waits for the target's answer before its body is sent anyway (curl's default). */
const EXPECT_TIMEOUT_MS = 1000;

export function sendProxyError(res: ServerResponse, error: ProxyErrorDetails): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${JSON.stringify({ error: error.code, message: error.message, from: error.from, to: error.to })}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-emulator-error': error.code,
    'cache-control': 'no-store',
  };
  if (error.retryAfter !== undefined) headers['retry-after'] = error.retryAfter;
  if (error.close) headers.connection = 'close';
  res.writeHead(error.status ?? PROXY_ERRORS[error.code], headers);
  res.end(body);
}

/** Node's server 'request' handler: `isMain` is the host's proxy port (the only one with admin). */
export function handleRequest(context: ProxyContext, req: IncomingMessage, res: ServerResponse, isMain: boolean, held = false): void {
  const { pipeline, sockets } = context;
  if (!held) {
    if (sockets.closing.has(req.socket)) return; // pipelined after an answer that closes the connection
    sockets.headArrived(req.socket);
  }
  const started = performance.now();
  const arrived = Date.now();
  const source = sockets.callSource(req.socket, pipeline.config());
  const caller = source.caller;
  const method = req.method ?? 'GET';
  /** The proxy's own 400: the connection closes after it, and the call line says why. */
  const badRequest = (message: string, host: string): void => {
    sockets.closing.add(req.socket);
    const error: ProxyErrorDetails = { code: 'bad_request', message, from: caller?.id ?? null, to: null, close: true };
    sendProxyError(res, error);
    pipeline.refused(source, { host, method, path: req.url ?? '' }, error, {}, started, arrived);
  };
  const hostLines = countHeader(req.rawHeaders, 'host');
  if (hostLines > 1 || (hostLines === 0 && req.httpVersion === '1.1')) return badRequest(hostLinesMessage(hostLines), req.headers.host ?? '');
  const target = requestTarget(req);
  if (target === undefined) {
    const error: ProxyErrorDetails = {
      code: 'bad_inner_call_host',
      message: `Cannot route request target "${req.url}": the proxy takes origin-form (/path) or http:// URLs (https:// goes through CONNECT).`,
      from: caller?.id ?? null,
      to: null,
    };
    sendProxyError(res, error);
    pipeline.refused(source, { host: req.headers.host ?? '', method, path: req.url ?? '' }, error, {}, started, arrived);
    return;
  }
  if (target.absolute && splitAuthority(target.host, 80)[0] === '') {
    return badRequest(
      `The request target "${req.url}" has an empty host. Write the host in the URL: http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path.`,
      target.host,
    );
  }

  const request: CallRequest = {
    host: target.host,
    method,
    path: target.path,
    ...(source.via === 'entry' ? { control: entryControlOfHeaders(req.rawHeaders) } : {}),
  };
  const decision = pipeline.decide(source, request);
  if (decision.kind === 'not-inner-call') {
    if (target.absolute) {
      passThrough(context, req, res, request, source, started, arrived);
    } else if (isMain && target.path.startsWith(ADMIN_PREFIX) && context.admin) {
      context.admin(req, res);
    } else {
      const error = notInnerCallHostError(target.host, caller, context.mainUrl());
      sendProxyError(res, error);
      pipeline.refused(source, request, error, {}, started, arrived);
    }
    return;
  }
  if (decision.kind === 'refuse') {
    sendProxyError(res, decision.error);
    // A malformed name names no caller; the connection still tells who sent it (an egress port, a container).
    pipeline.refused(source, request, decision.error, { from: decision.from?.name, to: decision.to?.name }, started, arrived);
    return;
  }

  const { plan } = decision;
  const fault = plan.fault;
  if (fault !== undefined && fault.kind !== 'delay') {
    sockets.closing.add(req.socket);
    const call = pipeline.begin(source, request, plan, undefined, started);
    const act = (): void => {
      if (req.socket.destroyed) return void call.end(499);
      injectFault(fault, req.socket);
      call.end(faultStatus(fault), 'fault_injected');
    };
    if (fault.delayMs === undefined) act();
    else setTimeout(act, fault.delayMs).unref();
    return;
  }
  const upstream = pipeline.pick(plan, request);
  if (upstream.state !== 'ready' && upstream.until !== undefined && !held) {
    // A fixed-port service restarting in place: hold the call (bounded by its start
    // timeout), then route it again as if it had just arrived.
    let timer: NodeJS.Timeout | undefined;
    void Promise.race([upstream.until, new Promise<void>((resolve) => (timer = setTimeout(resolve, plan.to.startTimeoutMs)))]).then(() => {
      clearTimeout(timer);
      if (!res.destroyed) handleRequest(context, req, res, isMain, true);
    });
    return;
  }
  if (upstream.state !== 'ready') {
    const error = unavailableError(plan.from, plan.to, upstream.reason, upstream.code);
    sendProxyError(res, error);
    pipeline.refused(source, request, error, { from: plan.from.name, to: plan.to.name }, started, arrived);
    return;
  }
  const call = pipeline.begin(source, request, plan, `${upstream.host}:${upstream.port}`, started);
  /** The load balancer's side of the current try (its pick), until the try ends. */
  let release = upstream.done;
  let inTry = true;
  let attemptStarted = performance.now();
  /** A try ended: the load balancer hears how (once per pick), and the call's tries list it. */
  const attemptEnded = (outcome: number | TryFailure | undefined): void => {
    if (!inTry) return; // no instance was left for another try: nothing more to count
    inTry = false;
    release?.(
      outcome === undefined ? { kind: 'none' } : typeof outcome === 'number' ? { kind: 'response', status: outcome } : { kind: 'failure', reason: outcome },
    );
    if (plan.retry !== undefined && outcome !== undefined) call.attemptEnded(call.key!, outcome, attemptStarted);
  };
  const retry = plan.retry;
  const go = (): void =>
    forward(
      context,
      req,
      res,
      { host: upstream.host, port: upstream.port, path: plan.shaping?.path ?? target.path, method: plan.shaping?.method ?? method, hostHeader: target.host },
      {
        timeoutMs: plan.timeoutMs,
        shape: plan.shaping === undefined ? undefined : (headers) => shapeRawHeaders(headers, compileShaping(plan.shaping!)),
        details: call.details,
        retry:
          retry === undefined
            ? undefined
            : {
                keepBodyBytes: retry.keepBodyBytes ?? 0,
                backoffMs: retry.backoffMs ?? 0,
                wants: (outcome, resendable) => call.retries(outcome, resendable),
                ended: attemptEnded,
                next: () => {
                  const next = call.pickAgain();
                  if (next.state !== 'ready') return next.reason;
                  release = next.done;
                  inTry = true;
                  attemptStarted = performance.now();
                  return next;
                },
              },
        timeoutRule: plan.policy?.timeout ? plan.policy.label : undefined,
        error: (code, reason) => upstreamError(code, plan.from, plan.to, reason),
        standInError: (header) => standInError(plan.to.kind, typeof header === 'string' ? header : undefined),
        done: (status, error) => {
          attemptEnded(
            error === 'upstream_timeout'
              ? 'timeout'
              : error === 'upstream_error' && status >= 500 && status !== 499
                ? 'reset'
                : status === 499
                  ? undefined
                  : status,
          );
          call.end(status, error);
        },
      },
    );
  if (fault?.kind === 'delay') setTimeout(() => (res.destroyed ? call.end(499) : go()), fault.ms).unref();
  else go();
}

/** A forward-proxy request for a host outside the emulator: pass it on, to the address that was checked. */
function passThrough(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  request: CallRequest,
  source: CallSource,
  started: number,
  arrived: number,
): void {
  const { pipeline } = context;
  const [host, port] = splitAuthority(request.host, 80);
  const caller = source.caller;
  const done = (status: number, error: ProxyErrorCode | undefined): void => void pipeline.recordOther(source, request, status, error, started, arrived);
  const chain = outboundFor(context, 'http', host, port);
  void destination(context, host, port, req.socket, chain !== undefined).then((verdict) => {
    if (verdict.kind === 'unresolved') {
      sendProxyError(res, { code: 'upstream_error', message: `${request.host}: ${describeSocketError(verdict.error)}`, from: caller?.id ?? null, to: null });
      return done(res.statusCode, 'upstream_error');
    }
    if (verdict.kind === 'refused') {
      sendProxyError(res, loopError(request.host, verdict.what, caller));
      return done(res.statusCode, 'inner_call_denied');
    }
    // Through the user's own proxy: the absolute URL, as any client behind it would send.
    const to =
      chain === undefined
        ? { host: verdict.address, port, path: request.path, method: request.method, hostHeader: request.host }
        : {
            host: chain.host,
            port: chain.port,
            path: `http://${request.host}${request.path}`,
            method: request.method,
            hostHeader: request.host,
            proxyAuthorization: chain.authorization,
          };
    forward(context, req, res, to, {
      timeoutMs: pipeline.config().proxy.callTimeoutMs,
      shape: undefined,
      details: undefined,
      retry: undefined,
      error: (code, reason) => ({
        code,
        message: `${request.host}${chain === undefined ? '' : ` (through ${chain.label})`}: ${reason}`,
        from: caller?.id ?? null,
        to: null,
      }),
      done,
    });
  });
}

/** What `forward` needs of a call (an inner call or a pass-through). */
interface Forwarding {
  readonly timeoutMs: number;
  readonly shape: ((headers: string[]) => string[]) | undefined;
  readonly details: CallDetailsBuilder | undefined;
  /** The plan's retry rule (inner calls with one only). */
  readonly retry: Retrying | undefined;
  /** The call rule that set the timeout, for the words of a 504. */
  readonly timeoutRule?: string | undefined;
  error(code: 'upstream_error' | 'upstream_timeout', reason: string): ProxyErrorDetails;
  /** The target's `X-Emulator-Error` as the call's error code, when the target is a stand-in; absent for pass-through. */
  standInError?(header: string | string[] | undefined): CallErrorCode | undefined;
  done(status: number, error: CallErrorCode | undefined): void;
}

/** How `forward` tries an inner call again, as the fast path does: the kept body, on the instance picked then. */
interface Retrying {
  /** Bodies up to this size are kept while sent; larger ones stream and are never retried. */
  readonly keepBodyBytes: number;
  /** Wait before another try. */
  readonly backoffMs: number;
  /** Whether the rule wants another try after `outcome`; `resendable`: no body, or one kept whole. */
  wants(outcome: AttemptOutcome, resendable: boolean): boolean;
  /** A try that another follows ended (status, or why none came). */
  ended(outcome: number | TryFailure): void;
  /** The instance of the next try, picked again by the load balancer, or why there is none. */
  next(): { host: string; port: number } | string;
}

function forward(
  context: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  first: { host: string; port: number; path: string; method: string; hostHeader: string; proxyAuthorization?: string | undefined },
  call: Forwarding,
): void {
  let to = first;
  let headers = endToEndHeaders(req.rawHeaders);
  // The target's Host is the request target's authority (RFC 9112 §3.2.2), whatever the client wrote beside an absolute URL.
  setHeader(headers, 'host', 'Host', to.hostHeader);
  if (to.proxyAuthorization !== undefined) headers.push('Proxy-Authorization', to.proxyAuthorization);
  if (call.shape !== undefined) headers = call.shape(headers);
  const { details, retry } = call;
  details?.requestRawHeaders(headers);
  if (details !== undefined) req.on('data', (chunk: Buffer) => details.requestBody.add(chunk));
  const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  const expectContinue = !bodyless && /^\s*100-continue\s*$/i.test(req.headers.expect ?? '');
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const kept = retry === undefined || bodyless ? undefined : new KeptBody(retry.keepBodyBytes, declared);
  /** The whole request can go again: it has no body, or its body has all arrived and was kept. */
  const resendable = (): boolean => bodyless || (kept?.chunks !== undefined && req.complete);
  /** The client's body goes to the first try as it arrives (kept on the way when a retry rule may want it again). */
  const pipeBody = (upstreamReq: http.ClientRequest): void => {
    if (kept !== undefined) req.on('data', kept.add);
    req.pipe(upstreamReq);
  };
  let errorCode: CallErrorCode | undefined;
  let finished = false;
  const done = (): void => {
    if (finished) return;
    finished = true;
    // Closed before any answer went out: the caller left (499, nginx's convention, as on the fast path).
    call.done(res.headersSent ? res.statusCode : 499, errorCode);
  };
  res.once('close', done);

  /** The rule's next try, after its backoff, on the instance the load balancer picks then. */
  const again = (rule: Retrying, outcome: number | TryFailure): void => {
    rule.ended(outcome);
    setTimeout(() => {
      if (res.destroyed) return;
      const next = rule.next();
      if (typeof next === 'string') {
        errorCode = 'upstream_error';
        return sendProxyError(res, call.error('upstream_error', `no instance left to try again on (${next})`));
      }
      to = { ...to, host: next.host, port: next.port };
      attempt(false);
    }, rule.backoffMs);
  };

  const attempt = (isFirst: boolean): void => {
    const upstreamReq = http.request({ host: to.host, port: to.port, method: to.method, path: to.path, headers, agent: context.agent, setHost: false });
    let connected = false;
    upstreamReq.once('socket', (socket: Socket) => {
      socket.setNoDelay(true);
      if (socket.connecting) socket.once('connect', () => (connected = true));
      else connected = true;
      if (details !== undefined) socket.connecting ? socket.once('connect', () => details.upstreamReady()) : details.upstreamReady();
    });
    // proxy.callTimeout counts from when the request has been sent (nginx's proxy_read_timeout): a long upload is not a slow target.
    let timer: NodeJS.Timeout | undefined;
    let responded = false;
    upstreamReq.once('finish', () => {
      details?.sent();
      if (responded) return;
      timer = setTimeout(() => {
        errorCode = 'upstream_timeout';
        upstreamReq.destroy();
      }, call.timeoutMs);
    });
    upstreamReq.on('response', (upstreamRes) => {
      responded = true;
      clearTimeout(timer);
      const status = upstreamRes.statusCode ?? 502;
      if (retry?.wants({ kind: 'status', status }, resendable())) {
        upstreamRes.resume();
        return again(retry, status);
      }
      res.sendDate = false;
      errorCode ??= call.standInError?.(upstreamRes.headers['x-emulator-error']);
      const responseHeaders = endToEndHeaders(upstreamRes.rawHeaders);
      details?.responseHead(status, responseHeaders);
      res.writeHead(status, upstreamRes.statusMessage, responseHeaders);
      if (details !== undefined) upstreamRes.on('data', (chunk: Buffer) => details.responseBody.add(chunk));
      upstreamRes.pipe(res);
      // The target died half-way through its body: the caller must see a broken response, not a short one.
      upstreamRes.once('close', () => {
        if (!upstreamRes.complete) {
          errorCode ??= 'upstream_error';
          res.destroy();
        }
      });
    });
    upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
      responded = true;
      clearTimeout(timer);
      if (res.headersSent) {
        errorCode ??= 'upstream_error';
        res.destroy();
        return;
      }
      // A pooled socket the upstream closed while idle: safe to send again once, on the same instance, if the whole request can go again.
      if (isFirst && resendable() && upstreamReq.reusedSocket && error.code === 'ECONNRESET' && errorCode === undefined) {
        attempt(false);
        return;
      }
      const code = errorCode === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_error';
      const reason = code === 'upstream_timeout' ? timeoutReason(call.timeoutMs, call.timeoutRule) : describeSocketError(error);
      const failure = code === 'upstream_timeout' ? 'timeout' : error.code === 'ECONNREFUSED' || !connected ? 'connect-failure' : 'reset';
      if (retry !== undefined && !res.destroyed && retry.wants({ kind: 'error', code, reason, failure }, resendable())) {
        errorCode = undefined;
        return again(retry, failure);
      }
      errorCode = code;
      sendProxyError(res, call.error(code, reason));
    });
    // The caller went away: abort the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    if (bodyless) upstreamReq.end();
    else if (!isFirst) {
      // Another try: the body the first one kept, as it came.
      for (const chunk of kept?.chunks ?? []) upstreamReq.write(chunk);
      upstreamReq.end();
    } else if (!expectContinue) pipeBody(upstreamReq);
    else {
      // Expect: 100-continue goes to the target, which decides: its 100 is relayed and the
      // body follows; its final answer (413, 401) is relayed and the body is never sent.
      // A target that ignores Expect gets the body after 1 s anyway, as curl does.
      let sending = false;
      const send = (): void => {
        if (sending || responded) return;
        sending = true;
        clearTimeout(fallback);
        if (!res.headersSent) res.writeContinue();
        pipeBody(upstreamReq);
      };
      const fallback = setTimeout(send, EXPECT_TIMEOUT_MS);
      upstreamReq.once('continue', send);
      upstreamReq.once('response', () => {
        clearTimeout(fallback);
        // The body the client may still send is not read: the connection cannot carry another request.
        if (!sending && !res.headersSent) res.shouldKeepAlive = false;
      });
      res.once('close', () => clearTimeout(fallback));
    }
  };
  attempt(true);
}

interface RequestTarget {
  /** host[:port] as the caller wrote it. */
  host: string;
  /** Path and query. */
  path: string;
  /** Absolute-form (`GET http://host/path`): the request came to us as a forward proxy. */
  absolute: boolean;
}

/** Origin-form (`/path`, Host header) or absolute-form (`http://host/path`); anything else: undefined. */
export function requestTarget(req: IncomingMessage): RequestTarget | undefined {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return { host: req.headers.host ?? '', path: url, absolute: false };
  const match = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!match) return undefined;
  const rest = match[2]!;
  return { host: match[1]!, path: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`, absolute: true };
}

export function countHeader(raw: readonly string[], lowerName: string): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) count++;
  return count;
}

/** Sets the first `lowerName` line to `value` in place, or adds one. */
function setHeader(raw: string[], lowerName: string, name: string, value: string): void {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === lowerName) return void (raw[i + 1] = value);
  }
  raw.push(name, value);
}
