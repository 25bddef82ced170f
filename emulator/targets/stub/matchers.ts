import { JSONPath } from 'jsonpath-plus';
import { editDistance } from '../../util/strings.js';
import { jsonDifference, KNOWN_PLACEHOLDER } from './json-equal.js';
import type { Problems } from './problems.js';

/**
 * WireMock's value matchers ("string value patterns"): what a header, a query
 * parameter, a cookie or the body is compared with. Each compiled matcher answers
 * whether a value matches and, when it does not, how far off it is (0..1, for the
 * near-miss ranking) and why, in words.
 */

export interface Verdict {
  readonly ok: boolean;
  /** 0 for a match; up to 1 for "nothing alike". */
  readonly distance: number;
  readonly why?: string;
}

export interface ValueMatcher {
  /** `equalTo "abc"`, for messages. */
  readonly describe: string;
  /** `undefined` is an absent value (no such header, parameter, cookie; an empty body). */
  test(value: string | undefined): Verdict;
}

const MATCH: Verdict = { ok: true, distance: 0 };

/** Keys that choose the operation; the others modify it. */
const OPERATIONS = [
  'equalTo',
  'contains',
  'doesNotContain',
  'matches',
  'doesNotMatch',
  'absent',
  'equalToJson',
  'matchesJsonPath',
  'binaryEqualTo',
  'and',
  'or',
] as const;
type Operation = (typeof OPERATIONS)[number];
const BODY_ONLY: ReadonlySet<Operation> = new Set(['equalToJson', 'matchesJsonPath', 'binaryEqualTo']);
const MODIFIERS: Record<string, Operation[]> = {
  caseInsensitive: ['equalTo', 'contains', 'doesNotContain'],
  ignoreArrayOrder: ['equalToJson'],
  ignoreExtraElements: ['equalToJson'],
};
/** Documented WireMock matchers this emulator does not implement: a mapping that uses one fails to load. */
const UNSUPPORTED: Record<string, string> = {
  equalToXml: 'XML matching',
  matchesXPath: 'XPath matching',
  matchesJsonSchema: 'JSON Schema matching',
  hasExactly: 'multi-value matching',
  includes: 'multi-value matching',
  before: 'date-time matching',
  after: 'date-time matching',
  equalToDateTime: 'date-time matching',
  equalToNumber: 'number matching',
  greaterThanNumber: 'number matching',
  greaterThanEqualNumber: 'number matching',
  lessThanNumber: 'number matching',
  lessThanEqualNumber: 'number matching',
  not: '"not"',
};

export type MatcherPlace = 'value' | 'body';

/** Compiles one matcher object (`{ "equalTo": "x", "caseInsensitive": true }`); reports problems at `at`. */
export function compileMatcher(spec: unknown, at: (string | number)[], problems: Problems, place: MatcherPlace): ValueMatcher | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    problems.add(at, `expected a matcher object such as { "equalTo": "..." }, got ${JSON.stringify(spec)}.`);
    return undefined;
  }
  const object = spec as Record<string, unknown>;
  const keys = Object.keys(object);
  for (const key of keys) {
    if (key in UNSUPPORTED) {
      problems.add(
        [...at, key],
        `"${key}" (${UNSUPPORTED[key]}) is a WireMock matcher that dyc-emulator does not support.`,
        'Use equalTo, contains, matches, absent, equalToJson or matchesJsonPath instead (docs/stubs.md lists what is supported).',
        true,
      );
      return undefined;
    }
  }
  const operations = keys.filter((key): key is Operation => (OPERATIONS as readonly string[]).includes(key));
  if (operations.length !== 1) {
    problems.add(
      at,
      operations.length === 0 ? `no matcher operation (keys: ${keys.join(', ') || 'none'}).` : `more than one matcher operation: ${operations.join(', ')}.`,
      `Use exactly one of: ${OPERATIONS.join(', ')}.`,
    );
    return undefined;
  }
  const operation = operations[0]!;
  if (place === 'value' && BODY_ONLY.has(operation)) {
    problems.add([...at, operation], `"${operation}" applies to request bodies (bodyPatterns) only.`);
    return undefined;
  }
  for (const key of keys) {
    if (key === operation) continue;
    const allowed = MODIFIERS[key];
    if (allowed === undefined || !allowed.includes(operation)) {
      problems.add(
        [...at, key],
        `unknown or misplaced key "${key}" next to "${operation}".`,
        allowed ? `"${key}" goes with ${allowed.join(', ')}.` : 'Remove it.',
        true,
      );
      return undefined;
    }
    if (typeof object[key] !== 'boolean') {
      problems.add([...at, key], `expected true or false.`);
      return undefined;
    }
  }
  const value = object[operation];
  const opAt = [...at, operation];
  const caseInsensitive = object.caseInsensitive === true;
  const string = (): string | undefined => {
    if (typeof value === 'string') return value;
    problems.add(opAt, `expected a string, got ${JSON.stringify(value)}.`);
    return undefined;
  };
  switch (operation) {
    case 'equalTo': {
      const expected = string();
      if (expected === undefined) return undefined;
      const normal = caseInsensitive ? expected.toLowerCase() : expected;
      return {
        describe: `equalTo ${JSON.stringify(expected)}${caseInsensitive ? ' (case-insensitive)' : ''}`,
        test(actual) {
          if (actual === undefined) return { ok: false, distance: 1, why: 'absent' };
          const candidate = caseInsensitive ? actual.toLowerCase() : actual;
          if (candidate === normal) return MATCH;
          return { ok: false, distance: stringDistance(normal, candidate), why: `got ${quote(actual)}` };
        },
      };
    }
    case 'contains':
    case 'doesNotContain': {
      const expected = string();
      if (expected === undefined) return undefined;
      const normal = caseInsensitive ? expected.toLowerCase() : expected;
      const wanted = operation === 'contains';
      return {
        describe: `${operation} ${JSON.stringify(expected)}`,
        test(actual) {
          if (actual === undefined) return wanted ? { ok: false, distance: 1, why: 'absent' } : MATCH;
          const found = (caseInsensitive ? actual.toLowerCase() : actual).includes(normal);
          return found === wanted ? MATCH : { ok: false, distance: 1, why: `got ${quote(actual)}` };
        },
      };
    }
    case 'matches':
    case 'doesNotMatch': {
      const pattern = string();
      if (pattern === undefined) return undefined;
      const regex = compileRegex(pattern, opAt, problems);
      if (regex === undefined) return undefined;
      const wanted = operation === 'matches';
      return {
        describe: `${operation} /${pattern}/`,
        test(actual) {
          if (actual === undefined) return wanted ? { ok: false, distance: 1, why: 'absent' } : MATCH;
          return regex.test(actual) === wanted ? MATCH : { ok: false, distance: 1, why: `got ${quote(actual)}` };
        },
      };
    }
    case 'absent': {
      if (typeof value !== 'boolean') {
        problems.add(opAt, 'expected true or false.');
        return undefined;
      }
      return {
        describe: value ? 'absent' : 'present',
        test: (actual) =>
          (actual === undefined) === value ? MATCH : { ok: false, distance: 1, why: actual === undefined ? 'absent' : `present (${quote(actual)})` },
      };
    }
    case 'binaryEqualTo': {
      const base64 = string();
      if (base64 === undefined) return undefined;
      const expected = Buffer.from(base64, 'base64');
      return {
        describe: `binaryEqualTo ${expected.length} bytes`,
        test: (actual) =>
          actual !== undefined && Buffer.from(actual, 'latin1').equals(expected) ? MATCH : { ok: false, distance: 1, why: 'the bytes differ' },
      };
    }
    case 'equalToJson': {
      let expected: unknown = value;
      if (typeof value === 'string') {
        try {
          expected = JSON.parse(value);
        } catch (error) {
          problems.add(opAt, `is not valid JSON: ${(error as Error).message}.`);
          return undefined;
        }
      }
      const bad = unknownPlaceholder(expected);
      if (bad !== undefined) {
        problems.add(
          opAt,
          `the JsonUnit placeholder ${bad} is not supported.`,
          `Supported: $${'{'}json-unit.any-string}, any-number, any-boolean, ignore, regex.`,
        );
        return undefined;
      }
      const options = { ignoreArrayOrder: object.ignoreArrayOrder === true, ignoreExtraElements: object.ignoreExtraElements === true };
      return {
        describe: `equalToJson ${truncate(JSON.stringify(expected), 60)}`,
        test(actual) {
          const parsed = parseJson(actual);
          if (!parsed.ok) return { ok: false, distance: 1, why: parsed.why };
          const difference = jsonDifference(expected, parsed.value, options);
          return difference === undefined ? MATCH : { ok: false, distance: 0.5, why: difference };
        },
      };
    }
    case 'matchesJsonPath':
      return compileJsonPath(value, opAt, problems);
    case 'and':
    case 'or': {
      if (!Array.isArray(value) || value.length === 0) {
        problems.add(opAt, 'expected a non-empty array of matchers.');
        return undefined;
      }
      const parts = value.map((part, index) => compileMatcher(part, [...opAt, index], problems, place));
      if (parts.some((part) => part === undefined)) return undefined;
      const all = parts as ValueMatcher[];
      return {
        describe: all.map((part) => part.describe).join(` ${operation} `),
        test(actual) {
          const verdicts = all.map((part) => part.test(actual));
          const ok = operation === 'and' ? verdicts.every((v) => v.ok) : verdicts.some((v) => v.ok);
          if (ok) return MATCH;
          const failed = verdicts.filter((v) => !v.ok);
          return { ok: false, distance: Math.min(...failed.map((v) => v.distance)), why: failed[0]!.why };
        },
      };
    }
  }
}

function compileJsonPath(spec: unknown, at: (string | number)[], problems: Problems): ValueMatcher | undefined {
  let expression: string;
  let sub: ValueMatcher | undefined;
  if (typeof spec === 'string') expression = spec;
  else if (spec !== null && typeof spec === 'object' && typeof (spec as Record<string, unknown>).expression === 'string') {
    const { expression: given, ...rest } = spec as Record<string, unknown>;
    expression = given as string;
    sub = compileMatcher(rest, at, problems, 'body');
    if (sub === undefined) return undefined;
  } else {
    problems.add(at, 'expected a JSONPath string such as "$.name", or { "expression": "$.name", "equalTo": "..." }.');
    return undefined;
  }
  if (!expression.startsWith('$')) {
    problems.add(at, `JSONPath ${JSON.stringify(expression)} must start with "$".`);
    return undefined;
  }
  const evaluate = (json: unknown): unknown[] | undefined => {
    try {
      // 'safe': jsonpath-plus's own evaluator for filters, no JavaScript eval.
      return JSONPath({ path: expression, json: json as object, wrap: true, eval: 'safe' }) as unknown[];
    } catch {
      return undefined; // a path that cannot apply to this document is no match, as in WireMock
    }
  };
  return {
    describe: `matchesJsonPath ${expression}${sub ? ` ${sub.describe}` : ''}`,
    test(actual) {
      const parsed = parseJson(actual);
      if (!parsed.ok) return { ok: false, distance: 1, why: parsed.why };
      const found = evaluate(parsed.value) ?? [];
      if (sub === undefined) return found.length > 0 ? MATCH : { ok: false, distance: 1, why: `${expression} finds nothing` };
      if (found.length === 0) return sub.test(undefined).ok ? MATCH : { ok: false, distance: 1, why: `${expression} finds nothing` };
      // One result is compared as itself (a string as is, other values as JSON); several as a JSON array.
      const value = found.length === 1 ? found[0] : found;
      const verdict = sub.test(typeof value === 'string' ? value : JSON.stringify(value));
      return verdict.ok ? MATCH : { ok: false, distance: verdict.distance, why: `${expression}: ${verdict.why ?? 'differs'}` };
    },
  };
}

/** Java's `Pattern.matches` (what WireMock uses): the whole value must match. `(?i)` at the start becomes the i flag. */
export function compileRegex(pattern: string, at: (string | number)[], problems: Problems): RegExp | undefined {
  let source = pattern;
  let flags = '';
  const inline = /^\(\?([imsx]+)\)/.exec(source);
  if (inline) {
    source = source.slice(inline[0].length);
    flags = [...new Set(inline[1]!.replace('x', ''))].join('');
  }
  try {
    return new RegExp(`^(?:${source})$`, flags);
  } catch (error) {
    problems.add(at, `invalid regular expression: ${(error as Error).message}.`);
    return undefined;
  }
}

function parseJson(text: string | undefined): { ok: true; value: unknown } | { ok: false; why: string } {
  if (text === undefined || text === '') return { ok: false, why: 'the body is empty' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, why: `the body is not JSON (${quote(text)})` };
  }
}

function unknownPlaceholder(value: unknown): string | undefined {
  if (typeof value === 'string') return value.startsWith('${json-unit.') && !KNOWN_PLACEHOLDER.test(value) ? value : undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const bad = unknownPlaceholder(item);
      if (bad !== undefined) return bad;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) {
      const bad = unknownPlaceholder(item);
      if (bad !== undefined) return bad;
    }
  }
  return undefined;
}

/** Normalised edit distance (WireMock ranks near misses the same way). */
export function stringDistance(a: string, b: string): number {
  if (a === b) return 0;
  const longest = Math.max(a.length, b.length);
  if (longest > 2000) return 1; // not worth a quadratic comparison
  return Math.min(1, editDistance(a, b) / longest);
}

export function quote(text: string): string {
  return JSON.stringify(truncate(text, 80));
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
