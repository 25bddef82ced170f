import type { StandInErrorCode } from '../targets/http-util.js';

/** The proxy's error codes (README's error table), with their HTTP status. */
export const PROXY_ERRORS = {
  inner_call_denied: 403,
  caller_mismatch: 403,
  unknown_service: 404,
  /** The entry: X-Emulator-User names no user of entry.users. */
  unknown_user: 404,
  /** The entry: the client's envID is not entry.envId. */
  unknown_env: 404,
  bad_inner_call_host: 400,
  /** A request no proxy may guess at: an empty host, a missing or repeated Host (RFC 9112 §3.2). */
  bad_request: 400,
  https_not_supported: 400,
  /** WebSocket (or another Upgrade) to an inner-call name: the platform's inner calls are plain HTTP. */
  upgrade_not_supported: 400,
  /** The request head did not arrive within the header timeout (30 s from its first byte). */
  request_timeout: 408,
  /** Request headers over 16 KB. */
  headers_too_large: 431,
  service_unavailable: 503,
  upstream_error: 502,
  upstream_timeout: 504,
  // Call policies (docs/policies.md).
  circuit_open: 503,
  no_healthy_target: 503,
  /** A fault a rule injected: answered with the rule's `abort` status. */
  fault_injected: 503,
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

/** What a call's record may name: the proxy's own codes, or one a stand-in answered with (stub_not_matched…). */
export type CallErrorCode = ProxyErrorCode | StandInErrorCode;

/** An answer the emulator gives instead of the target: code, facts and fix in `message`. */
export interface ProxyErrorDetails {
  code: ProxyErrorCode;
  message: string;
  /** Caller and target as named in the request (ids), null when not known. */
  from: string | null;
  to: string | null;
  /** Seconds, for 503. */
  retryAfter?: number;
  /** The connection closes after this answer: nothing the client sent after it is read. */
  close?: boolean;
  /** Overrides the code's status (fault_injected answers with the rule's `abort`). */
  status?: number;
}

export function errorBody(error: ProxyErrorDetails): string {
  return `${JSON.stringify({ error: error.code, message: error.message, from: error.from, to: error.to })}\n`;
}

/** What a call error is called in the pipeline's types. */
export type CallError = ProxyErrorDetails;

/**
 * The same error as a raw HTTP/1.1 response, for sockets without a ServerResponse
 * (CONNECT, the fast path). It closes the connection unless `keepAlive` is set (and
 * `error.close` is not).
 */
export function rawErrorResponse(error: ProxyErrorDetails, keepAlive = false): string {
  const body = errorBody(error);
  return (
    `HTTP/1.1 ${error.status ?? PROXY_ERRORS[error.code]} ${error.code}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Emulator-Error: ${error.code}\r\nCache-Control: no-store\r\n${error.retryAfter === undefined ? '' : `Retry-After: ${error.retryAfter}\r\n`}` +
    `${keepAlive && !error.close ? '' : 'Connection: close\r\n'}\r\n${body}`
  );
}

/** A request whose Host lines leave the target in doubt (RFC 9112 §3.2): none in HTTP/1.1, or more than one. */
export function hostLinesMessage(count: number): string {
  return count === 0
    ? 'The request has no Host header, which HTTP/1.1 requires (RFC 9112 §3.2). Send Host: {fromId}-{toId}.inner-call.dyc.ivolces.com, ' +
        'or use the proxy as an HTTP proxy with the full URL (curl -x <proxy> http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path).'
    : `The request has ${count} Host lines. A request names one host (RFC 9112 §3.2): the target could read another one than the proxy routed by, ` +
        'so the proxy refuses it. Send a single Host header.';
}

/** What went wrong on a connection to a target, in words. */
export function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the service listening on its port?)';
    case 'ECONNRESET':
      return 'the connection was reset before a complete response';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${error.code})`;
    default:
      return error.message;
  }
}

/** Seconds a caller should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 1;

/** The 503 of a service that has no instance to take the call now. */
export function unavailableError(
  from: { id: string },
  to: { name: string; id: string },
  reason: string,
  code: 'service_unavailable' | 'no_healthy_target' = 'service_unavailable',
): ProxyErrorDetails {
  if (code === 'no_healthy_target')
    return {
      code,
      message: `Service "${to.name}" (id ${to.id}) has no healthy instance: ${reason}.`,
      from: from.id,
      to: to.id,
      retryAfter: RETRY_AFTER_SECONDS,
    };
  return {
    code: 'service_unavailable',
    message: `Service "${to.name}" (id ${to.id}) is not ready: ${reason}. Retry in a moment.`,
    from: from.id,
    to: to.id,
    retryAfter: RETRY_AFTER_SECONDS,
  };
}

/** A target that failed during a call: named by service, with what went wrong. */
export function upstreamError(
  code: 'upstream_error' | 'upstream_timeout',
  from: { id: string },
  to: { name: string; id: string },
  reason: string,
): ProxyErrorDetails {
  return { code, message: `${to.name} (id ${to.id}): ${reason}`, from: from.id, to: to.id };
}

/** The words of a call timeout. */
export function timeoutReason(timeoutMs: number, rule?: string): string {
  return `no response within ${timeoutMs / 1000} s of sending the request (${rule === undefined ? 'proxy.callTimeout' : `the timeout of call rule ${rule}`}).`;
}

/** The answers to requests that never became a call (no head in time, a head too large, one that does not parse). */
export function unreadableRequestError(
  code: 'request_timeout' | 'headers_too_large' | 'bad_request',
  from: string | null,
  detail?: { parserCode?: string; line?: string },
): ProxyErrorDetails {
  switch (code) {
    case 'request_timeout':
      return {
        code,
        message: 'The request head did not arrive within 30 s of its first byte (the header timeout); the proxy closed the connection.',
        from,
        to: null,
        close: true,
      };
    case 'headers_too_large':
      return {
        code,
        message:
          "The request headers are larger than 16 KB, the limit of the proxy (as of Node's HTTP server). Send fewer or shorter headers (large cookies or tokens usually).",
        from,
        to: null,
        close: true,
      };
    case 'bad_request': {
      const line = detail?.line === undefined ? '' : ` (${JSON.stringify(detail.line)})`;
      const hint =
        detail?.parserCode === 'HPE_INVALID_URL' || /[^\x21-\x7e]/.test(detail?.line?.split(' ')[1] ?? '')
          ? ' The request target has characters HTTP does not allow unencoded (raw UTF-8, spaces): percent-encode the URL (encodeURI in JavaScript, urllib.parse.quote in Python, url.PathEscape in Go).'
          : ' It is not HTTP/1.x as the proxy reads it (a TLS handshake to a plain HTTP port, or a malformed request line or header).';
      return {
        code,
        message: `The request could not be parsed${detail?.parserCode === undefined ? '' : ` (${detail.parserCode})`}${line}.${hint}`,
        from,
        to: null,
        close: true,
      };
    }
  }
}

/**
 * A Host that is not an inner-call name reached a service's egress port (or the docker
 * router): usually a client that relays a request copied its incoming Host.
 */
export function notInnerCallHostError(host: string, caller: { name: string; id: string } | undefined, mainUrl: string): ProxyErrorDetails {
  const what = host === '' ? 'The request has no host' : `"${host}" is not an inner-call host`;
  if (caller === undefined) {
    return {
      code: 'bad_inner_call_host',
      message:
        `${what}. This is the dyc-emulator proxy: send calls with Host: {fromId}-{toId}.inner-call.dyc.ivolces.com, ` +
        `or use it as an HTTP proxy (curl -x ${mainUrl} http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path).`,
      from: null,
      to: null,
    };
  }
  return {
    code: 'bad_inner_call_host',
    message:
      `${what}, and service "${caller.name}" (id ${caller.id}) sent it to its HTTP_PROXY as an ordinary request. ` +
      'A client probably copied the Host of the request it received while relaying it (got, http-proxy, req.pipe(...) in a gateway). ' +
      `Drop the incoming host header when you relay, and call the target by its inner-call URL: http://${caller.id}-{toId}.inner-call.dyc.ivolces.com/path.`,
    from: caller.id,
    to: null,
  };
}

/** An Upgrade (WebSocket) request: refused, as the platform does not relay upgrades between services. */
export function upgradeError(protocol: string, inner: boolean, from: string | null, to: string | null): ProxyErrorDetails {
  const what = protocol === '' ? 'an Upgrade' : `"${protocol}"`;
  return {
    code: 'upgrade_not_supported',
    message: inner
      ? `Inner calls carry plain HTTP only: the platform does not relay ${what} between services (服务间调用只支持HTTP协议). ` +
        "WebSocket with the mini-program ends at the platform's gateway, which calls your service over HTTP (X-tt-event-type: connect, disconnect, uplink); " +
        'services push messages with HTTP POSTs to ws-push.dyc.ivolces.com. Between services, use plain HTTP calls.'
      : `The proxy does not relay ${what} as a forward proxy. For wss:// the client should tunnel with CONNECT, which the proxy relays.`,
    from,
    to,
    close: true,
  };
}
