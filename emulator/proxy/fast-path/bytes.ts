// Byte helpers for the fast path, which reads heads where they were read, without strings.

/** A table of 256 entries: 1 for each of `chars` and each byte in `ranges` (inclusive). */
export function byteClass(chars: string, ...ranges: (readonly [number, number])[]): Uint8Array {
  const table = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  for (const [from, to] of ranges) table.fill(1, from, to + 1);
  return table;
}

/**
 * Copies `source[from, to)` to `target` at `at`; returns where it ended. For the few bytes
 * of a head, a loop costs less than a call into C++.
 */
export function copyBytes(source: Uint8Array, from: number, to: number, target: Uint8Array, at: number): number {
  if (to - from > 256) return at + (source as Buffer).copy(target, at, from, to);
  for (let i = from; i < to; i++) target[at++] = source[i]!;
  return at;
}
