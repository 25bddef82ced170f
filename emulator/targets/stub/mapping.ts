import path from 'node:path';
import { compileMatcher, compileRegex, stringDistance, type ValueMatcher, type Verdict } from './matchers.js';
import type { JsonPath, Problems } from './problems.js';

/**
 * One WireMock stub mapping, compiled: its request pattern (what it matches, and how
 * far a request is from matching it, for near misses) and its response. The loader
 * accepts what WireMock documents for the features listed in docs/stubs.md and
 * rejects everything else with the file, the JSON path and the line: a field that
 * WireMock would honour and this emulator would ignore must never pass silently.
 */

/** A request as the matcher sees it. */
export interface StubRequest {
  readonly method: string;
  /** Path and query as sent (`/a/b?x=1`). */
  readonly url: string;
  readonly path: string;
  readonly query: ReadonlyMap<string, string[]>;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string[]>;
  readonly cookies: ReadonlyMap<string, string[]>;
  readonly body: Buffer;
  /** The body as UTF-8, what body patterns test (undefined when empty): decoded once, however many mappings look. */
  readonly bodyText: string | undefined;
}

export type Fault = 'CONNECTION_RESET_BY_PEER' | 'EMPTY_RESPONSE' | 'MALFORMED_RESPONSE_CHUNK' | 'RANDOM_DATA_THEN_CLOSE';
const FAULTS: readonly Fault[] = ['CONNECTION_RESET_BY_PEER', 'EMPTY_RESPONSE', 'MALFORMED_RESPONSE_CHUNK', 'RANDOM_DATA_THEN_CLOSE'];

export interface StubResponse {
  readonly status: number;
  readonly statusMessage: string | undefined;
  readonly headers: readonly [string, string][];
  /** Inline bytes, a file under `__files/` (read on each call, so edits apply at once), or none. */
  readonly body: { kind: 'bytes'; bytes: Buffer } | { kind: 'file'; file: string } | { kind: 'none' };
  /** Milliseconds to wait before answering. */
  delay(): number;
  readonly fault: Fault | undefined;
}

export interface MatchResult {
  readonly ok: boolean;
  /** 0 for a match; larger is further away. */
  readonly distance: number;
  /** What differed, in words (empty for a match). */
  readonly differences: string[];
}

export interface Mapping {
  readonly id: string | undefined;
  readonly name: string | undefined;
  /** Path of the file, relative to the stub directory. */
  readonly file: string;
  /** `file` or `file mappings[2]`, plus the name: how messages refer to it. */
  readonly label: string;
  /** WireMock: 1 is the highest; unspecified is 5. */
  readonly priority: number;
  readonly scenario: { readonly name: string; readonly required: string | undefined; readonly next: string | undefined } | undefined;
  match(request: StubRequest): MatchResult;
  readonly response: StubResponse;
}

const DEFAULT_PRIORITY = 5;

const MAPPING_KEYS = new Set([
  'id',
  'uuid',
  'name',
  'priority',
  'request',
  'response',
  'persistent',
  'metadata',
  'insertionIndex',
  'scenarioName',
  'requiredScenarioState',
  'newScenarioState',
]);
const REQUEST_KEYS = new Set([
  'method',
  'url',
  'urlPath',
  'urlPattern',
  'urlPathPattern',
  'queryParameters',
  'headers',
  'cookies',
  'bodyPatterns',
  'basicAuthCredentials',
]);
const URL_KEYS = ['url', 'urlPath', 'urlPattern', 'urlPathPattern'] as const;
const RESPONSE_KEYS = new Set([
  'status',
  'statusMessage',
  'headers',
  'body',
  'jsonBody',
  'base64Body',
  'bodyFileName',
  'fixedDelayMilliseconds',
  'delayDistribution',
  'fault',
]);
const UNSUPPORTED_KEYS: Record<string, string> = {
  urlPathTemplate: 'path templates',
  pathParameters: 'path parameters',
  formParameters: 'form parameter matching',
  multipartPatterns: 'multipart matching',
  clientIp: 'client address matching',
  host: 'host matching',
  port: 'port matching',
  scheme: 'scheme matching',
  customMatcher: 'custom matchers (Java extensions)',
  transformers: 'response templating and transformers',
  transformerParameters: 'response templating and transformers',
  proxyBaseUrl: 'proxying from a mapping (use "stub": { "record": ... } for record mode)',
  additionalProxyRequestHeaders: 'proxying from a mapping',
  removeProxyRequestHeaders: 'proxying from a mapping',
  proxyUrlPrefixToRemove: 'proxying from a mapping',
  chunkedDribbleDelay: 'chunked dribble delays',
  postServeActions: 'post-serve actions (webhooks)',
  serveEventListeners: 'serve event listeners (webhooks)',
};

/** Compiles the mappings of one file (a mapping, or `{ "mappings": [...] }`) that `problems` holds and parses; problems go there too. */
export function compileFile(relativeFile: string, problems: Problems): Mapping[] {
  const root = problems.parse();
  if (root === undefined) return [];
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    problems.add([], 'expected a mapping object, or { "mappings": [ ... ] }.');
    return [];
  }
  const object = root as Record<string, unknown>;
  if ('mappings' in object) {
    for (const key of Object.keys(object)) {
      // importOptions only matter to WireMock's import API, not to files in mappings/.
      if (key !== 'mappings' && key !== 'importOptions' && key !== 'meta') problems.add([key], `unknown key "${key}" next to "mappings".`, 'Remove it.', true);
    }
    if (!Array.isArray(object.mappings)) {
      problems.add(['mappings'], 'expected an array of mappings.');
      return [];
    }
    return object.mappings.flatMap(
      (mapping, index) => compileMapping(mapping, ['mappings', index], relativeFile, `${relativeFile} mappings[${index}]`, problems) ?? [],
    );
  }
  return compileMapping(object, [], relativeFile, relativeFile, problems) ?? [];
}

function compileMapping(spec: unknown, at: JsonPath, file: string, where: string, problems: Problems): Mapping[] | undefined {
  if (!isObject(spec)) {
    problems.add(at, 'expected a mapping object with "request" and "response".');
    return undefined;
  }
  const before = problems.count;
  unknownKeys(spec, at, MAPPING_KEYS, problems, 'mapping');
  const priority = spec.priority ?? DEFAULT_PRIORITY;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 1)
    problems.add([...at, 'priority'], 'expected a whole number, 1 or more (1 is the highest priority).');
  for (const key of ['id', 'uuid', 'name', 'scenarioName', 'requiredScenarioState', 'newScenarioState'] as const) {
    if (spec[key] !== undefined && typeof spec[key] !== 'string') problems.add([...at, key], 'expected a string.');
  }
  if ((spec.requiredScenarioState !== undefined || spec.newScenarioState !== undefined) && spec.scenarioName === undefined) {
    problems.add(at, '"requiredScenarioState" and "newScenarioState" need a "scenarioName".', 'Add "scenarioName".');
  }
  if (!isObject(spec.request)) problems.add([...at, 'request'], 'expected a request pattern object, e.g. { "method": "GET", "url": "/path" }.');
  if (!isObject(spec.response)) problems.add([...at, 'response'], 'expected a response object, e.g. { "status": 200, "body": "..." }.');
  const match = isObject(spec.request) ? compileRequest(spec.request, [...at, 'request'], problems) : undefined;
  const response = isObject(spec.response) ? compileResponse(spec.response, [...at, 'response'], problems) : undefined;
  if (problems.count > before || match === undefined || response === undefined) return undefined;
  const name = spec.name as string | undefined;
  return [
    {
      id: (spec.id ?? spec.uuid) as string | undefined,
      name,
      file,
      label: name === undefined ? where : `"${name}" (${where})`,
      priority: priority as number,
      scenario:
        spec.scenarioName === undefined
          ? undefined
          : {
              name: spec.scenarioName as string,
              required: spec.requiredScenarioState as string | undefined,
              next: spec.newScenarioState as string | undefined,
            },
      match,
      response,
    },
  ];
}

interface Part {
  /** How much this part weighs in the distance (the URL and method most). */
  readonly weight: number;
  check(request: StubRequest): { ok: boolean; distance: number; difference?: string };
}

function compileRequest(spec: Record<string, unknown>, at: JsonPath, problems: Problems): ((request: StubRequest) => MatchResult) | undefined {
  unknownKeys(spec, at, REQUEST_KEYS, problems, 'request pattern');
  const parts: Part[] = [];

  if (spec.method !== undefined) {
    if (typeof spec.method !== 'string' || !/^[A-Za-z]+$/.test(spec.method))
      problems.add([...at, 'method'], 'expected an HTTP method such as "GET", or "ANY".');
    else if (spec.method.toUpperCase() !== 'ANY') {
      const method = spec.method.toUpperCase();
      parts.push({
        weight: 1,
        check: (request) =>
          request.method === method ? { ok: true, distance: 0 } : { ok: false, distance: 1, difference: `method: expected ${method}, got ${request.method}` },
      });
    }
  }

  const urlKeys = URL_KEYS.filter((key) => spec[key] !== undefined);
  if (urlKeys.length > 1)
    problems.add([...at, urlKeys[1]!], `has both "${urlKeys[0]}" and "${urlKeys[1]}".`, 'Keep one of url, urlPath, urlPattern, urlPathPattern.', true);
  const urlKey = urlKeys[0];
  if (urlKey !== undefined) {
    const value = spec[urlKey];
    if (typeof value !== 'string') problems.add([...at, urlKey], 'expected a string.');
    else {
      const whole = urlKey === 'url' || urlKey === 'urlPattern';
      const what = whole ? 'URL' : 'path';
      if (urlKey === 'url' || urlKey === 'urlPath') {
        parts.push({
          weight: 2,
          check(request) {
            const actual = whole ? request.url : request.path;
            return actual === value
              ? { ok: true, distance: 0 }
              : { ok: false, distance: stringDistance(value, actual), difference: `${what}: expected ${value}, got ${actual}` };
          },
        });
      } else {
        const regex = compileRegex(value, [...at, urlKey], problems);
        if (regex !== undefined) {
          parts.push({
            weight: 2,
            check(request) {
              const actual = whole ? request.url : request.path;
              return regex.test(actual)
                ? { ok: true, distance: 0 }
                : { ok: false, distance: 1, difference: `${what}: expected to match /${value}/, got ${actual}` };
            },
          });
        }
      }
    }
  }

  const keyed = (key: 'queryParameters' | 'headers' | 'cookies', label: string, lookup: (request: StubRequest, name: string) => string[] | undefined): void => {
    const group = spec[key];
    if (group === undefined) return;
    if (!isObject(group)) return problems.add([...at, key], `expected an object of ${label} names to matchers.`);
    for (const [name, matcherSpec] of Object.entries(group)) {
      const matcher = compileMatcher(matcherSpec, [...at, key, name], problems, 'value');
      if (matcher !== undefined) parts.push(valuesPart(`${label} ${name}`, matcher, (request) => lookup(request, name)));
    }
  };
  keyed('queryParameters', 'query parameter', (request, name) => request.query.get(name));
  keyed('headers', 'header', (request, name) => request.headers.get(name.toLowerCase()));
  keyed('cookies', 'cookie', (request, name) => request.cookies.get(name));

  if (spec.basicAuthCredentials !== undefined) {
    const credentials = spec.basicAuthCredentials;
    if (!isObject(credentials) || typeof credentials.username !== 'string' || typeof credentials.password !== 'string') {
      problems.add([...at, 'basicAuthCredentials'], 'expected { "username": "...", "password": "..." }.');
    } else {
      const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      parts.push({
        weight: 1,
        check(request) {
          const actual = request.headers.get('authorization')?.[0];
          return actual === expected
            ? { ok: true, distance: 0 }
            : {
                ok: false,
                distance: 1,
                difference: `basic auth: expected user ${credentials.username as string}, ${actual === undefined ? 'none was sent' : 'other credentials were sent'}`,
              };
        },
      });
    }
  }

  if (spec.bodyPatterns !== undefined) {
    if (!Array.isArray(spec.bodyPatterns)) problems.add([...at, 'bodyPatterns'], 'expected an array of matchers.');
    else {
      spec.bodyPatterns.forEach((patternSpec, index) => {
        const matcher = compileMatcher(patternSpec, [...at, 'bodyPatterns', index], problems, 'body');
        if (matcher === undefined) return;
        parts.push({
          weight: 1,
          check(request) {
            const verdict = matcher.test(request.bodyText);
            return verdict.ok ? verdict : { ...verdict, difference: `body: expected ${matcher.describe}, ${verdict.why ?? 'it differs'}` };
          },
        });
      });
    }
  }

  const totalWeight = parts.reduce((sum, part) => sum + part.weight, 0);
  return (request) => {
    let distance = 0;
    const differences: string[] = [];
    for (const part of parts) {
      const result = part.check(request);
      if (!result.ok) {
        distance += part.weight * result.distance;
        differences.push(result.difference ?? 'differs');
      }
    }
    return { ok: differences.length === 0, distance: totalWeight === 0 ? 0 : distance / totalWeight, differences };
  };
}

/** A header, parameter or cookie: WireMock matches when any of its values does (absent: when there is none). */
function valuesPart(label: string, matcher: ValueMatcher, values: (request: StubRequest) => string[] | undefined): Part {
  return {
    weight: 1,
    check(request) {
      const found = values(request);
      let best: Verdict | undefined;
      for (const value of found === undefined || found.length === 0 ? [undefined] : found) {
        const verdict = matcher.test(value);
        if (verdict.ok) return verdict;
        if (best === undefined || verdict.distance < best.distance) best = verdict;
      }
      return { ok: false, distance: best!.distance, difference: `${label}: expected ${matcher.describe}, ${best!.why ?? 'it differs'}` };
    },
  };
}

function compileResponse(spec: Record<string, unknown>, at: JsonPath, problems: Problems): StubResponse | undefined {
  unknownKeys(spec, at, RESPONSE_KEYS, problems, 'response');
  const status = spec.status ?? 200;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    problems.add([...at, 'status'], 'expected an HTTP status code such as 200.');
  if (spec.statusMessage !== undefined && (typeof spec.statusMessage !== 'string' || /[\r\n]/.test(spec.statusMessage))) {
    problems.add([...at, 'statusMessage'], 'expected a one-line string.');
  }

  const headers: [string, string][] = [];
  if (spec.headers !== undefined) {
    if (!isObject(spec.headers)) problems.add([...at, 'headers'], 'expected an object of header names to a string or an array of strings.');
    else {
      for (const [name, value] of Object.entries(spec.headers)) {
        const values = Array.isArray(value) ? value : [value];
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) problems.add([...at, 'headers', name], `"${name}" is not a valid header name.`, undefined, true);
        else if (values.some((item) => typeof item !== 'string' || /[\r\n]/.test(item)))
          problems.add([...at, 'headers', name], 'expected a one-line string or an array of them.');
        else for (const item of values as string[]) headers.push([name, item]);
      }
    }
  }

  const bodyKeys = ['body', 'jsonBody', 'base64Body', 'bodyFileName'].filter((key) => spec[key] !== undefined);
  let body: StubResponse['body'] = { kind: 'none' };
  if (bodyKeys.length > 1)
    problems.add([...at, bodyKeys[1]!], `has both "${bodyKeys[0]}" and "${bodyKeys[1]}".`, 'Keep one of body, jsonBody, base64Body, bodyFileName.', true);
  else if (spec.body !== undefined) {
    if (typeof spec.body !== 'string') problems.add([...at, 'body'], 'expected a string (use "jsonBody" for a JSON value).');
    else body = { kind: 'bytes', bytes: Buffer.from(spec.body) };
  } else if (spec.jsonBody !== undefined) {
    body = { kind: 'bytes', bytes: Buffer.from(JSON.stringify(spec.jsonBody)) };
  } else if (spec.base64Body !== undefined) {
    if (typeof spec.base64Body !== 'string' || !/^[A-Za-z0-9+/=\s_-]*$/.test(spec.base64Body)) problems.add([...at, 'base64Body'], 'expected a base64 string.');
    else body = { kind: 'bytes', bytes: Buffer.from(spec.base64Body, 'base64') };
  } else if (spec.bodyFileName !== undefined) {
    const name = spec.bodyFileName;
    if (typeof name !== 'string' || name === '') problems.add([...at, 'bodyFileName'], 'expected a file name relative to __files/.');
    else if (path.isAbsolute(name) || path.normalize(name).split(/[\\/]/).includes('..')) {
      problems.add([...at, 'bodyFileName'], `"${name}" leaves the __files directory.`, 'Use a path inside __files/, without "..".');
    } else body = { kind: 'file', file: name };
  }

  let delay = (): number => 0;
  if (spec.fixedDelayMilliseconds !== undefined) {
    const ms = spec.fixedDelayMilliseconds;
    if (typeof ms !== 'number' || ms < 0 || !Number.isFinite(ms))
      problems.add([...at, 'fixedDelayMilliseconds'], 'expected a number of milliseconds, 0 or more.');
    else delay = () => ms;
  }
  if (spec.delayDistribution !== undefined) {
    const distribution = compileDistribution(spec.delayDistribution, [...at, 'delayDistribution'], problems);
    if (distribution !== undefined) {
      const fixed = delay;
      delay = () => fixed() + distribution(); // WireMock adds both when both are given
    }
  }

  let fault: Fault | undefined;
  if (spec.fault !== undefined) {
    if (!FAULTS.includes(spec.fault as Fault)) problems.add([...at, 'fault'], `expected one of ${FAULTS.join(', ')}, got ${JSON.stringify(spec.fault)}.`);
    else fault = spec.fault as Fault;
  }

  return { status: status as number, statusMessage: spec.statusMessage as string | undefined, headers, body, delay, fault };
}

function compileDistribution(spec: unknown, at: JsonPath, problems: Problems): (() => number) | undefined {
  if (!isObject(spec))
    return void problems.add(at, 'expected { "type": "uniform", "lower": ..., "upper": ... } or { "type": "lognormal", "median": ..., "sigma": ... }.');
  const number = (key: string, required = true): number | undefined => {
    const value = spec[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'number' || value < 0) problems.add([...at, key], 'expected a number, 0 or more.');
    return value as number;
  };
  if (spec.type === 'uniform') {
    unknownKeys(spec, at, new Set(['type', 'lower', 'upper']), problems, 'delayDistribution');
    const lower = number('lower');
    const upper = number('upper');
    if (lower === undefined || upper === undefined) return undefined;
    return () => lower + Math.random() * (upper - lower);
  }
  if (spec.type === 'lognormal') {
    unknownKeys(spec, at, new Set(['type', 'median', 'sigma', 'maxValue']), problems, 'delayDistribution');
    const median = number('median');
    const sigma = number('sigma');
    const max = number('maxValue', false);
    if (median === undefined || sigma === undefined) return undefined;
    return () => {
      // Box–Muller: a standard normal sample, then median · e^(σ·z), as WireMock's LogNormal does.
      const z = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
      const value = median * Math.exp(sigma * z);
      return max === undefined ? value : Math.min(value, max);
    };
  }
  problems.add([...at, 'type'], `expected "uniform" or "lognormal", got ${JSON.stringify(spec.type)}.`);
  return undefined;
}

function unknownKeys(spec: Record<string, unknown>, at: JsonPath, known: ReadonlySet<string>, problems: Problems, what: string): void {
  for (const key of Object.keys(spec)) {
    if (known.has(key)) continue;
    const unsupported = UNSUPPORTED_KEYS[key];
    if (unsupported !== undefined) {
      problems.add(
        [...at, key],
        `"${key}" (${unsupported}) is a WireMock feature that dyc-emulator does not support, so this mapping cannot behave as it would in WireMock.`,
        'Remove it or rewrite the mapping; docs/stubs.md lists what is supported.',
        true,
      );
    } else {
      problems.add([...at, key], `unknown key "${key}" in a ${what}.`, `Known keys: ${[...known].join(', ')}.`, true);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
