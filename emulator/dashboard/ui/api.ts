// Talks to the admin API of the page's own origin. State-changing requests carry the
// session token the server put in the page.
const token = document.querySelector<HTMLMetaElement>('meta[name="emulator-token"]')?.content ?? '';

export interface Call {
  id: number;
  from?: string;
  to?: string;
  host: string;
  method: string;
  path: string;
  status: number;
  error?: string;
  durationMs: number;
  time: number;
}

export interface Replica {
  label: string;
  state: string;
  pid?: number;
  containerId?: string;
  host?: string;
  port?: number;
  since?: number;
  reason?: string;
  restartAt?: number;
  health?: { path: string; at: number };
}

export interface Service {
  name: string;
  id?: string;
  runtime?: string;
  healthcheck?: string;
  state: string;
  restarts: number;
  replicas: Replica[];
  logs: string[];
}

export interface LogLine {
  seq: number;
  time: number;
  source: string;
  label: string;
  stream: string;
  text: string;
}

export interface Body {
  text: string;
  base64: string;
  captured: number;
  bytes: number;
}

export interface CallDetail {
  call: Call;
  captured: boolean;
  capturing: boolean;
  requestHeaders?: [string, string][];
  responseHeaders?: [string, string][];
  requestBody?: Body;
  responseBody?: Body;
  timings: Record<string, number>;
  /** What a call rule did (the record's actions). */
  actions: string[];
  explanation?: { what: string; fix: string; action?: { kind: 'allow'; from: string; to: string } };
  curl: string;
}

export interface Access {
  file: string;
  editable: boolean;
  consoleName: string;
  services: { name: string; id: string; runtime: string }[];
  allow: Record<string, string[]>;
}

export class ApiError extends Error {}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { error?: string; message?: string };
  if (!res.ok) throw new ApiError(body.message ?? `${res.status} ${res.statusText}`);
  return body;
}

export function get<T>(path: string): Promise<T> {
  return fetch(path, { headers: { accept: 'application/json' } }).then((res) => parse<T>(res));
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-emulator-token': token },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then((res) => parse<T>(res));
}
