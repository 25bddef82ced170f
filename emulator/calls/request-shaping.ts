// The query-string part of a rule's request shaping: remove, then set, then add, on
// `name=value` pairs, and `set.path`. Headers, method and the head itself are shaped
// by ./shaping.ts on both paths; this only works out the path and query they send.

import type { RequestShaping } from '../config/policies.js';

/** The path and query after `set.path` and the query changes. */
export function shapePath(target: string, shaping: RequestShaping): string {
  if (shaping.path === undefined && !shaping.touchesQuery) return target;
  const question = target.indexOf('?');
  const path = shaping.path ?? (question === -1 ? target : target.slice(0, question));
  let query = question === -1 ? '' : target.slice(question + 1);
  if (shaping.touchesQuery) {
    const kept = query === '' ? [] : query.split('&').filter((pair) => pair !== '' && !shaping.dropQuery.has(decodeName(pair)));
    for (const [name, value] of shaping.setQuery) kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    for (const [name, value] of shaping.addQuery) kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    query = kept.join('&');
  }
  return query === '' ? path : `${path}?${query}`;
}

/** The name of a `name=value` pair, decoded as a server would (`+` is a space in forms). */
function decodeName(pair: string): string {
  const equals = pair.indexOf('=');
  const raw = equals === -1 ? pair : pair.slice(0, equals);
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
