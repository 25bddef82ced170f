/**
 * WireMock's `equalToJson`: JSON equality as JsonUnit does it, with its two options
 * (`ignoreArrayOrder`, `ignoreExtraElements`) and the JsonUnit placeholders WireMock
 * documents (`${json-unit.any-string}`, `any-number`, `any-boolean`, `ignore`,
 * `regex`). A deep-equal library would answer yes or no; a near-miss message needs
 * the first place that differs, and the options and placeholders change what
 * "equal" means, so this comparison is written here (about 80 lines).
 */

export interface JsonEqualOptions {
  readonly ignoreArrayOrder: boolean;
  readonly ignoreExtraElements: boolean;
}

/** undefined when equal; otherwise the first difference, e.g. `$.items[1].qty: expected 2, got 3`. */
export function jsonDifference(expected: unknown, actual: unknown, options: JsonEqualOptions, path = '$'): string | undefined {
  if (typeof expected === 'string' && expected.startsWith('${json-unit.')) return placeholder(expected, actual, path);
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${show(actual)}`;
    if (!options.ignoreExtraElements && actual.length !== expected.length) return `${path}: expected ${expected.length} elements, got ${actual.length}`;
    if (options.ignoreArrayOrder) {
      const unused = actual.map((_, index) => index);
      for (let i = 0; i < expected.length; i++) {
        const found = unused.findIndex((index) => jsonDifference(expected[i], actual[index], options) === undefined);
        if (found === -1) return `${path}: no element matches ${show(expected[i])}`;
        unused.splice(found, 1);
      }
      return undefined;
    }
    if (actual.length < expected.length) return `${path}: expected ${expected.length} elements, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const difference = jsonDifference(expected[i], actual[i], options, `${path}[${i}]`);
      if (difference !== undefined) return difference;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: expected an object, got ${show(actual)}`;
    const actualObject = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected)) {
      const keyPath = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (!(key in actualObject)) {
        if (value === IGNORE) continue;
        return `${keyPath}: missing (expected ${show(value)})`;
      }
      const difference = jsonDifference(value, actualObject[key], options, keyPath);
      if (difference !== undefined) return difference;
    }
    if (!options.ignoreExtraElements) {
      const extra = Object.keys(actualObject).find((key) => !(key in (expected as object)));
      if (extra !== undefined) return `${path}.${extra}: not expected (set "ignoreExtraElements": true to allow extra fields)`;
    }
    return undefined;
  }
  // Numbers compare by value (1 and 1.0 are equal in JSON); everything else strictly.
  if (expected === actual) return undefined;
  return `${path}: expected ${show(expected)}, got ${show(actual)}`;
}

/** JsonUnit's placeholder for "any value, or none" (a literal string, not a template). */
const IGNORE = '$' + '{json-unit.ignore}';

function placeholder(expected: string, actual: unknown, path: string): string | undefined {
  const kind = expected.slice('${json-unit.'.length);
  if (kind.startsWith('regex}')) {
    const pattern = kind.slice('regex}'.length);
    return typeof actual === 'string' && new RegExp(`^(?:${pattern})$`).test(actual)
      ? undefined
      : `${path}: expected a string matching /${pattern}/, got ${show(actual)}`;
  }
  switch (kind) {
    case 'ignore}':
    case 'ignore-element}':
      return undefined;
    case 'any-string}':
      return typeof actual === 'string' ? undefined : `${path}: expected any string, got ${show(actual)}`;
    case 'any-number}':
      return typeof actual === 'number' ? undefined : `${path}: expected any number, got ${show(actual)}`;
    case 'any-boolean}':
      return typeof actual === 'boolean' ? undefined : `${path}: expected any boolean, got ${show(actual)}`;
    default:
      // Not a placeholder we know: compared as the literal string it is.
      return expected === actual ? undefined : `${path}: expected ${show(expected)}, got ${show(actual)}`;
  }
}

/** The placeholders `jsonDifference` understands (the loader rejects others). */
export const KNOWN_PLACEHOLDER = /^\$\{json-unit\.(any-string|any-number|any-boolean|ignore|ignore-element|regex)\}/;

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
