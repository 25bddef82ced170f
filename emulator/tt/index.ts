// `dyc-emulator/tt`: the mini-program side of Douyin Cloud, for code that runs there
// (its unit tests, H5 pages in development). `createCloud(...).callContainer(...)` has
// the shape of `tt.createCloud` in @douyin-microapp/typings and sends the call to the
// emulator's entry port, which does what the cloud gateway does (identity headers).
//
// This file runs in browsers too: plain `fetch`, no import at all (no Node built-ins,
// nothing from the rest of the emulator). Keep it that way: test/tt.test.ts loads the
// compiled file in Chromium.

/** Methods `callContainer` accepts, as @douyin-microapp/typings lists them. */
export type CallContainerMethod =
  | 'get'
  | 'GET'
  | 'options'
  | 'OPTIONS'
  | 'post'
  | 'POST'
  | 'put'
  | 'PUT'
  | 'delete'
  | 'DELETE'
  | 'trace'
  | 'TRACE'
  | 'patch'
  | 'PATCH';

export interface CallContainerSuccess {
  /** `callContainer:ok`. */
  errMsg: string;
  statusCode: number;
  /** Response headers, names in lower case. */
  header: Record<string, string>;
  /** The response body as text, as on the platform (parse JSON yourself). */
  data: string;
}

export interface CallContainerFailure {
  /** `callContainer:fail …`: what happened and how to fix it. */
  errMsg: string;
  /** 20000 invalid parameter, 21100 network error, 21102 gateway error, 10401 internal error. */
  errNo: number;
}

export interface CallContainerOptions {
  /** Path (and query) on the service, starting with "/". */
  path: string;
  /** The service to call (name or id in the emulator's config); default: the cloud's serviceID, else the entry's default service. */
  serviceID?: string;
  init?: {
    method?: CallContainerMethod;
    header?: Record<string, string>;
    /** An object is sent as JSON (with content-type application/json unless `header` sets one). */
    body?: object | string | ArrayBuffer;
    /** Milliseconds until the call fails with 21100; default 60000. */
    timeout?: number;
  };
  success?: (res: CallContainerSuccess) => void;
  fail?: (res: CallContainerFailure) => void;
  complete?: (res: Partial<CallContainerSuccess> & CallContainerFailure) => void;
}

export interface CreateCloudOptions {
  /** The cloud environment id; reaches the service as X-TT-ENV (the entry may check it against `entry.envId`). */
  envID: string;
  /** Default service for calls that name none. */
  serviceID?: string;
  /** The emulator's entry, e.g. http://127.0.0.1:8090. Default: EMULATOR_ENTRY_URL, else http://127.0.0.1:8090. */
  entryUrl?: string;
  /** Act as this user of `entry.users` (emulator only; the platform knows who is logged in). Default: the entry's first user. */
  user?: string;
}

export interface Cloud {
  readonly envID: string;
  readonly serviceID?: string;
  /**
   * Calls the service through the emulator's entry. Callbacks as on the platform; the
   * returned Promise resolves with what `success` gets and rejects with a
   * {@link CallContainerError}. When `fail` or `complete` is given, an unobserved
   * rejection is not reported as unhandled.
   */
  callContainer(options: CallContainerOptions): Promise<CallContainerSuccess>;
}

/** The Promise rejection of `callContainer`: `errNo` and `errMsg` as `fail` gets them. */
export class CallContainerError extends Error implements CallContainerFailure {
  readonly errMsg: string;
  readonly errNo: number;
  constructor(failure: CallContainerFailure) {
    super(failure.errMsg);
    this.name = 'CallContainerError';
    this.errMsg = failure.errMsg;
    this.errNo = failure.errNo;
  }
}

/** The platform's error numbers (Douyin Cloud, 云函数客户端 API → 错误码). */
export const ERR_NO = {
  internalError: 10401,
  invalidParam: 20000,
  networkError: 21100,
  gatewayError: 21102,
} as const;

export const DEFAULT_ENTRY_URL = 'http://127.0.0.1:8090';
const DEFAULT_TIMEOUT_MS = 60_000;
const METHODS = new Set(['GET', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'TRACE', 'PATCH']);
/** RFC 9110 token characters: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers fetch() refuses to send or that the entry owns: reported up front instead of silently lost.
const CONTROL_HEADERS = new Set(['x-emulator-service', 'x-emulator-user', 'x-emulator-env']);

/** Where calls go: the option, else EMULATOR_ENTRY_URL (Node), else the default port on loopback. */
function entryUrlFrom(option: string | undefined): string {
  if (option !== undefined && option !== '') return option;
  // No Node typings here: `process` exists in Node and in bundles that define it, not in browsers.
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const fromEnv = env?.EMULATOR_ENTRY_URL;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_ENTRY_URL;
}

class Failure {
  constructor(
    readonly errNo: number,
    readonly reason: string,
  ) {}
}

/**
 * Returns a Cloud whose `callContainer` calls the emulator's entry port.
 * @example
 * const cloud = createCloud({ envID: 'env-local', serviceID: 'gateway' });
 * const { statusCode, data } = await cloud.callContainer({ path: '/api/me' });
 */
export function createCloud(options: CreateCloudOptions): Cloud {
  if (options === null || typeof options !== 'object' || typeof options.envID !== 'string' || options.envID === '') {
    throw new TypeError('createCloud: envID is required (the cloud environment id, e.g. createCloud({ envID: "env-local" })).');
  }
  const { envID, serviceID, user } = options;
  const entryUrl = entryUrlFrom(options.entryUrl);
  const cloud: Cloud = {
    envID,
    ...(serviceID === undefined ? {} : { serviceID }),
    callContainer(call) {
      const promise = run(call).then(
        (success) => {
          call?.success?.(success);
          call?.complete?.(success as CallContainerSuccess & CallContainerFailure);
          return success;
        },
        (error: unknown) => {
          const failure: CallContainerFailure =
            error instanceof Failure
              ? { errMsg: `callContainer:fail ${error.reason}`, errNo: error.errNo }
              : { errMsg: `callContainer:fail internal error: ${error instanceof Error ? error.message : String(error)}`, errNo: ERR_NO.internalError };
          call?.fail?.(failure);
          call?.complete?.(failure);
          throw new CallContainerError(failure);
        },
      );
      // Callback style (the platform's): the failure was delivered, so an ignored Promise must not crash the process.
      if (call?.fail !== undefined || call?.complete !== undefined) promise.catch(() => {});
      return promise;
    },
  };

  async function run(call: CallContainerOptions): Promise<CallContainerSuccess> {
    const request = prepare(call);
    const fetchImpl = (globalThis as { fetch?: typeof fetch }).fetch;
    if (fetchImpl === undefined)
      throw new Failure(ERR_NO.internalError, 'internal error: this runtime has no global fetch (Node 18+ and every current browser have one).');
    let url: URL;
    try {
      url = new URL(call.path, entryUrl);
    } catch {
      throw new Failure(
        ERR_NO.invalidParam,
        `invalid entry URL "${entryUrl}": pass entryUrl to createCloud or set EMULATOR_ENTRY_URL to the URL \`emulator up\` prints (e.g. ${DEFAULT_ENTRY_URL}).`,
      );
    }
    const timeoutMs = request.timeout;
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    try {
      let response: Response;
      try {
        response = await fetchImpl(url, { method: request.method, headers: request.headers, body: request.body, signal: abort.signal, redirect: 'manual' });
      } catch (error) {
        if (timedOut) throw new Failure(ERR_NO.networkError, `network error: no response from ${url.origin} within ${timeoutMs} ms (init.timeout).`);
        throw new Failure(
          ERR_NO.networkError,
          `network error: cannot reach the emulator's entry at ${url.origin} (${describe(error)}). Start it with \`npx emulator up\`, or point entryUrl / EMULATOR_ENTRY_URL at the entry URL it prints.`,
        );
      }
      const header: Record<string, string> = {};
      response.headers.forEach((value, name) => (header[name] = value));
      let data: string;
      try {
        data = await response.text();
      } catch (error) {
        if (timedOut)
          throw new Failure(ERR_NO.networkError, `network error: the response from ${url.origin} did not complete within ${timeoutMs} ms (init.timeout).`);
        throw new Failure(
          ERR_NO.gatewayError,
          `gateway error: the response was cut short (${describe(error)}); the service probably stopped in the middle of it (see its log).`,
        );
      }
      const emulatorError = response.headers.get('x-emulator-error');
      if (emulatorError !== null) throw new Failure(ERR_NO.gatewayError, `gateway error: ${emulatorError} (${response.status}): ${messageOf(data)}`);
      return { errMsg: 'callContainer:ok', statusCode: response.status, header, data };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checks the options the way the platform does (20000) and builds the fetch request. */
  function prepare(call: CallContainerOptions): { method: string; headers: Headers; body: string | ArrayBuffer | undefined; timeout: number } {
    const invalid = (reason: string): Failure => new Failure(ERR_NO.invalidParam, `invalid param: ${reason}`);
    if (call === null || typeof call !== 'object')
      throw invalid('callContainer takes an options object: callContainer({ path: "/api", init: { method: "GET" } }).');
    if (typeof call.path !== 'string' || call.path === '') throw invalid('path is required, e.g. callContainer({ path: "/api/orders" }).');
    if (!call.path.startsWith('/')) throw invalid(`path must start with "/": got "${call.path}"; write "/${call.path}".`);
    const init = call.init ?? {};
    if (typeof init !== 'object') throw invalid('init must be an object: { method, header, body, timeout }.');
    if (init.method !== undefined && (typeof init.method !== 'string' || !METHODS.has(init.method.toUpperCase()))) {
      throw invalid(`init.method "${String(init.method)}" is not supported; use one of ${[...METHODS].join(', ')}.`);
    }
    const method = (init.method ?? 'GET').toUpperCase();
    if (method === 'TRACE') {
      // The platform accepts TRACE; fetch() (browsers, Node) refuses to send it.
      throw new Failure(
        ERR_NO.internalError,
        "internal error: TRACE is a valid method on the platform, but fetch() cannot send it, so the emulator's client cannot either. Test that endpoint with emu.entry() or curl instead.",
      );
    }
    const timeout = init.timeout ?? DEFAULT_TIMEOUT_MS;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
      throw invalid(`init.timeout must be a positive number of milliseconds, got ${String(timeout)}.`);

    const headers = new Headers();
    let hasContentType = false;
    for (const [name, value] of Object.entries(init.header ?? {})) {
      if (!HEADER_NAME.test(name)) throw invalid(`init.header has an invalid header name "${name}".`);
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
        throw invalid(`init.header["${name}"] must be a string, got ${typeof value}.`);
      const text = String(value);
      if (/[\r\n\0]/.test(text)) throw invalid(`init.header["${name}"] contains a line break or NUL.`);
      if (CONTROL_HEADERS.has(name.toLowerCase()))
        throw invalid(`init.header must not set ${name}: pass serviceID to callContainer/createCloud, or user to createCloud.`);
      if (name.toLowerCase() === 'content-type') hasContentType = true;
      headers.append(name, text);
    }
    const service = call.serviceID ?? serviceID;
    if (service !== undefined && service !== '') headers.set('X-Emulator-Service', service);
    if (user !== undefined && user !== '') headers.set('X-Emulator-User', user);
    headers.set('X-Emulator-Env', envID);

    let body: string | ArrayBuffer | undefined;
    const raw = init.body;
    if (raw !== undefined && raw !== null) {
      if (method === 'GET')
        throw invalid('a GET request cannot carry a body (fetch() refuses it); use init.method "POST", or put the data in the path\'s query.');
      if (typeof raw === 'string') body = raw;
      else if (raw instanceof ArrayBuffer) body = raw;
      else if (ArrayBuffer.isView(raw)) body = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
      else if (typeof raw === 'object') {
        try {
          body = JSON.stringify(raw);
        } catch (error) {
          throw invalid(`init.body cannot be sent as JSON (${describe(error)}).`);
        }
        if (!hasContentType) headers.set('content-type', 'application/json');
      } else throw invalid(`init.body must be an object, a string or an ArrayBuffer, got ${typeof raw}.`);
    }
    return { method, headers, body, timeout };
  }

  return cloud;
}

/** The `message` of the emulator's JSON error body, else the body itself (shortened). */
function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: show the text
  }
  return body.length > 300 ? `${body.slice(0, 300)}…` : body;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? error.message;
}
