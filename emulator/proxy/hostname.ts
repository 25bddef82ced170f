/**
 * Inner-call host names: `{fromId}-{toId}.inner-call.dyc.ivolces.com` (current) and
 * `{fromId}-{toId}.dycloud.service` (older docs). Ids may contain "-", so the label
 * is split where both halves are known ids.
 */
export const INNER_CALL_DOMAINS = ['inner-call.dyc.ivolces.com', 'dycloud.service'] as const;

export type InnerCallName =
  | { kind: 'not-inner-call' }
  /** Under an inner-call domain but not `{a}-{b}`: empty label, extra labels, no "-". */
  | { kind: 'malformed'; label: string; reason: string }
  /** Well formed, but the ids do not name services. */
  | { kind: 'unknown'; label: string; unknownIds: string[] }
  | { kind: 'call'; fromId: string; toId: string };

/** Strips the port and a trailing dot, lower-cases; returns the domain suffix if it is inner-call. */
export function innerCallLabel(host: string): { label: string; domain: string; port: number | undefined } | undefined {
  let name = host.toLowerCase();
  let port: number | undefined;
  const colon = name.lastIndexOf(':');
  if (colon !== -1 && !name.includes(']')) {
    port = Number(name.slice(colon + 1));
    name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  for (const domain of INNER_CALL_DOMAINS) {
    if (name.endsWith('.' + domain)) return { label: name.slice(0, -domain.length - 1), domain, port };
    if (name === domain) return { label: '', domain, port };
  }
  return undefined;
}

/**
 * Parses a host name against the known ids. When several splits fit (ids "a", "a-b",
 * "b-c", "c" make "a-b-c" ambiguous), the one whose caller is `preferFromId` wins.
 */
export function parseInnerCallHost(host: string, knownIds: ReadonlySet<string>, preferFromId?: string): InnerCallName {
  const parsed = innerCallLabel(host);
  if (parsed === undefined) return { kind: 'not-inner-call' };
  return splitLabel(parsed.label, knownIds, preferFromId);
}

export function splitLabel(label: string, knownIds: ReadonlySet<string>, preferFromId?: string): InnerCallName {
  if (label === '') return { kind: 'malformed', label, reason: 'the name has no `{from}-{to}` label' };
  if (label.includes('.')) {
    const reason = label.split('.').some((part) => part === '')
      ? 'it contains an empty label (two dots in a row)'
      : 'the `{from}-{to}` part must be a single label, without dots';
    return { kind: 'malformed', label, reason };
  }
  if (!label.includes('-')) return { kind: 'malformed', label, reason: 'the label has no "-" between the caller id and the target id' };
  if (label.startsWith('-') || label.endsWith('-')) return { kind: 'malformed', label, reason: 'the caller id or the target id is empty' };

  const fits: { fromId: string; toId: string }[] = [];
  for (let i = label.indexOf('-'); i !== -1; i = label.indexOf('-', i + 1)) {
    const fromId = label.slice(0, i);
    const toId = label.slice(i + 1);
    if (knownIds.has(fromId) && knownIds.has(toId)) fits.push({ fromId, toId });
  }
  const chosen = fits.find((fit) => fit.fromId === preferFromId) ?? fits[0];
  if (chosen) return { kind: 'call', ...chosen };

  // Name the unknown side: a split where one half is known says which half is wrong.
  for (let i = label.indexOf('-'); i !== -1; i = label.indexOf('-', i + 1)) {
    const fromId = label.slice(0, i);
    const toId = label.slice(i + 1);
    if (knownIds.has(fromId)) return { kind: 'unknown', label, unknownIds: [toId] };
    if (knownIds.has(toId)) return { kind: 'unknown', label, unknownIds: [fromId] };
  }
  return { kind: 'unknown', label, unknownIds: [label] };
}
