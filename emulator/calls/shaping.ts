// Request shaping: header and request-line edits applied when a call's head is written
// to the target, on both paths. The entry (the mini-program gateway strips X-TT-* and
// sets identity headers) and call policies use exactly these primitives.

import { escapeRegExp } from '../util/strings.js';

export interface Shaping {
  /** Header names to drop, case-insensitive; a name ending in `*` drops by prefix (`x-tt-*`). */
  readonly remove?: readonly string[];
  /** Replaces every line of that name with this one (added when absent). */
  readonly set?: readonly (readonly [name: string, value: string])[];
  /** Appended as they are. */
  readonly add?: readonly (readonly [name: string, value: string])[];
  /** Path and query sent to the target. */
  readonly path?: string;
  readonly method?: string;
}

/** A Shaping prepared for repeated use (compile once per plan). */
export interface CompiledShaping {
  readonly drop: (lowerName: string) => boolean;
  /**
   * The same test on a raw head, at a line's start (set `lastIndex`): sticky and
   * case-insensitive, so a line is judged without slicing or lower-casing its name.
   */
  readonly dropLine: RegExp;
  /**
   * First characters (lower case, as `charCode | 0x20`) a dropped name can start with;
   * undefined: any. Lets `shapeHead` skip most lines without slicing or lower-casing
   * their names (the entry drops only `x-…` names, on every call).
   */
  readonly firstChars: ReadonlySet<number> | undefined;
  /** Lines appended after the kept ones: `set` then `add`, as `Name: value\r\n`. */
  readonly appended: string;
  readonly pairs: readonly (readonly [string, string])[];
  readonly path: string | undefined;
  readonly method: string | undefined;
}

type HeaderEdits = Omit<CompiledShaping, 'path' | 'method'>;
type Pairs = readonly (readonly [string, string])[];

const compiled = new WeakMap<Shaping, CompiledShaping>();
const NONE: readonly never[] = [];
// Header edits by the identity of their remove, set and add lists: a rule that rewrites
// the path makes a Shaping per call, with the same lists, and the entry merges its own
// with a rule's (mergeShaping); neither may cost a new RegExp per call.
const headerEdits = new WeakMap<readonly string[], WeakMap<Pairs, WeakMap<Pairs, HeaderEdits>>>();

export function compileShaping(shaping: Shaping): CompiledShaping {
  let done = compiled.get(shaping);
  if (done === undefined) {
    done = { ...editsOf(shaping.remove ?? NONE, shaping.set ?? NONE, shaping.add ?? NONE), path: shaping.path, method: shaping.method };
    compiled.set(shaping, done);
  }
  return done;
}

function editsOf(remove: readonly string[], set: Pairs, add: Pairs): HeaderEdits {
  const bySet = cachedMap(headerEdits, remove);
  const byAdd = cachedMap(bySet, set);
  let edits = byAdd.get(add);
  if (edits === undefined) {
    edits = compileEdits(remove, set, add);
    byAdd.set(add, edits);
  }
  return edits;
}

function cachedMap<K extends object, V extends object>(maps: WeakMap<K, WeakMap<object, V>>, key: K): WeakMap<object, V> {
  let map = maps.get(key);
  if (map === undefined) {
    map = new WeakMap();
    maps.set(key, map);
  }
  return map;
}

function compileEdits(remove: readonly string[], set: Pairs, add: Pairs): HeaderEdits {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const name of remove) {
    const lower = name.toLowerCase();
    if (lower.endsWith('*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  // `set` drops the lines it replaces.
  for (const [name] of set) exact.add(name.toLowerCase());
  const pairs = [...set, ...add];
  const starts = [...exact, ...prefixes];
  // Names are tokens, so a dropped line is the name (or a prefix and more token characters) and then ':'.
  const alternatives = [...[...exact].map(escapeRegExp), ...prefixes.map((prefix) => `${escapeRegExp(prefix)}[^:\r\n]*`)];
  return {
    drop: (lower) => exact.has(lower) || prefixes.some((prefix) => lower.startsWith(prefix)),
    dropLine: new RegExp(alternatives.length === 0 ? '(?!)' : `(?:${alternatives.join('|')}):`, 'iy'),
    firstChars: starts.some((name) => name === '') ? undefined : new Set(starts.map((name) => name.charCodeAt(0) | 0x20)),
    appended: pairs.map(([name, value]) => `${name}: ${value}\r\n`).join(''),
    pairs,
  };
}

const concatenated = new WeakMap<readonly unknown[], WeakMap<readonly unknown[], readonly unknown[]>>();

/** `[...a, ...b]`, the same array for the same two lists (so compileShaping finds it compiled). */
function concatOnce<T>(a: readonly T[], b: readonly T[]): readonly T[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const byB = cachedMap(concatenated, a);
  let both = byB.get(b) as readonly T[] | undefined;
  if (both === undefined) {
    both = [...a, ...b];
    byB.set(b, both);
  }
  return both;
}

/**
 * A gateway's shaping (the entry's: drop X-TT-*, set the identity) with a call rule's
 * after it: the rule may drop and add headers and change path and method, never bring
 * back a dropped identity (the gateway's `set` comes last).
 */
export function mergeShaping(gateway: Shaping, rule: Shaping | undefined): Shaping {
  if (rule === undefined) return gateway;
  return {
    remove: concatOnce(gateway.remove ?? NONE, rule.remove ?? NONE),
    set: concatOnce(rule.set ?? NONE, gateway.set ?? NONE),
    add: concatOnce(gateway.add ?? NONE, rule.add ?? NONE),
    ...(rule.path === undefined ? {} : { path: rule.path }),
    ...(rule.method === undefined ? {} : { method: rule.method }),
  };
}

/** Applies shaping to a raw request head (request line through the blank line), as the fast path writes it. */
export function shapeHead(head: string, shaping: CompiledShaping): string {
  const lineEnd = head.indexOf('\r\n');
  let line = head.slice(0, lineEnd);
  if (shaping.method !== undefined || shaping.path !== undefined) {
    const [method, path, version] = line.split(' ') as [string, string, string];
    line = `${shaping.method ?? method} ${shaping.path ?? path} ${version}`;
  }
  let out = `${line}\r\n`;
  const { firstChars, dropLine } = shaping;
  // Kept lines are copied in runs, from `keptFrom` to the next dropped line.
  let keptFrom = lineEnd + 2;
  for (let pos = keptFrom; pos < head.length - 2; ) {
    const eol = head.indexOf('\r\n', pos);
    if (firstChars === undefined || firstChars.has(head.charCodeAt(pos) | 0x20)) {
      dropLine.lastIndex = pos;
      if (dropLine.test(head)) {
        out += head.slice(keptFrom, pos);
        keptFrom = eol + 2;
      }
    }
    pos = eol + 2;
  }
  return `${out}${head.slice(keptFrom, head.length - 2)}${shaping.appended}\r\n`;
}

/** Applies shaping to Node's raw headers (name, value, name, value…), as the slow path sends them. */
export function shapeRawHeaders(raw: readonly string[], shaping: CompiledShaping): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!shaping.drop(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  for (const [name, value] of shaping.pairs) out.push(name, value);
  return out;
}
