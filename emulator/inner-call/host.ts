/**
 * The inner-call host-name grammar: `{fromId}-{toId}.<domain>`, port 80 implied. Ids may
 * contain "-", so the label is split where both halves are known ids. Parsing and
 * building live here only: dns, proxy, testing and cli use these.
 */
import { DEFAULT_INNER_CALL_DOMAIN, INNER_CALL_DOMAINS, type InnerCallDomain } from './domains.cjs';

export { DEFAULT_INNER_CALL_DOMAIN, INNER_CALL_DOMAINS, isUnderInnerCallDomain, type InnerCallDomain } from './domains.cjs';

export type InnerCallName =
  /** Under an inner-call domain but not `{a}-{b}`: empty label, extra labels, no "-". */
  | { kind: 'malformed'; label: string; reason: string }
  /** Well formed, but the ids do not name services. */
  | { kind: 'unknown'; label: string; unknownIds: string[] }
  | { kind: 'call'; fromId: string; toId: string };

/**
 * Strips the port and a trailing dot, lower-cases; for a name under an inner-call domain,
 * returns the part before the domain (the `{from}-{to}` label), the domain and the port.
 */
export function innerCallLabel(host: string): { label: string; domain: InnerCallDomain; port: number | undefined } | undefined {
  let name = host.toLowerCase();
  let port: number | undefined;
  const colon = name.lastIndexOf(':');
  if (colon !== -1 && !name.includes(']')) {
    port = Number(name.slice(colon + 1));
    name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  for (const domain of INNER_CALL_DOMAINS) {
    if (name.endsWith(`.${domain}`)) return { label: name.slice(0, -domain.length - 1), domain, port };
    if (name === domain) return { label: '', domain, port };
  }
  return undefined;
}

/**
 * Splits a `{from}-{to}` label against the known ids. When several splits fit (ids "a",
 * "a-b", "b-c", "c" make "a-b-c" ambiguous), the one whose caller is `preferFromId` wins.
 * With no ids known, only the form is checked (`malformed` or not).
 */
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

/** `{fromId}-{toId}.inner-call.dyc.ivolces.com`: the Host of a call from one service to another. */
export function innerCallHost(fromId: string, toId: string, domain: InnerCallDomain = DEFAULT_INNER_CALL_DOMAIN): string {
  return `${fromId}-${toId}.${domain}`;
}

/** `http://{fromId}-{toId}.inner-call.dyc.ivolces.com{path}`, as production code builds it. */
export function innerCallUrl(fromId: string, toId: string, path = '/'): string {
  return `http://${innerCallHost(fromId, toId)}${path.startsWith('/') ? path : `/${path}`}`;
}
