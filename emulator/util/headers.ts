/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy ones clients send us. Not
 * Transfer-Encoding: the fast path passes chunked bodies through as they are, so it
 * keeps that header; the slow path drops it too, since Node frames bodies anew.
 */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

const KEEP_ALIVE: readonly string[] = ['keep-alive'];
const CLOSE: readonly string[] = ['close'];

/** The options of a `Connection` header, lower case (`close`, `keep-alive`, or names of more hop-by-hop headers). */
export function connectionOptions(value: string): readonly string[] {
  // One option, nearly always `keep-alive` or `close`: no split, no new array (every response on the fast path has one).
  if (value.indexOf(',') === -1) {
    const option = value.trim().toLowerCase();
    return option === 'keep-alive' ? KEEP_ALIVE : option === 'close' ? CLOSE : option === '' ? [] : [option];
  }
  const options: string[] = [];
  for (const token of value.split(',')) {
    const option = token.trim().toLowerCase();
    if (option !== '') options.push(option);
  }
  return options;
}

/**
 * Copies raw headers (name, value, name, value…) without hop-by-hop ones, keeping
 * order, case and repeated names as the sender wrote them.
 */
export function endToEndHeaders(raw: readonly string[]): string[] {
  let extra: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const name of connectionOptions(raw[i + 1]!)) {
        if (name !== 'close' && name !== 'keep-alive') (extra ??= new Set()).add(name);
      }
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding' || extra?.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

export function hasHeader(raw: readonly string[], lowerName: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lowerName) return true;
  return false;
}
