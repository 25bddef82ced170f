/**
 * The inner-call domains: `{fromId}-{toId}.inner-call.dyc.ivolces.com` (current) and
 * `{fromId}-{toId}.dycloud.service` (older docs and much existing code).
 *
 * CommonJS on purpose: the process runtime's preload (a CommonJS file that any Node a
 * service runs, old ones included, loads with --require) requires it, and the ESM code
 * imports it; one list for both. The docker router, which runs alone in its container,
 * gets the list in its environment (EMULATOR_INNER_CALL_DOMAINS).
 */
export const INNER_CALL_DOMAINS = ['inner-call.dyc.ivolces.com', 'dycloud.service'] as const;
export type InnerCallDomain = (typeof INNER_CALL_DOMAINS)[number];

/** The domain that URLs the emulator builds use. */
export const DEFAULT_INNER_CALL_DOMAIN: InnerCallDomain = INNER_CALL_DOMAINS[0];

/** Whether `host` (a name, without a port) lies under an inner-call domain; a trailing dot is allowed. */
export function isUnderInnerCallDomain(host: string): boolean {
  const name = (host.endsWith('.') ? host.slice(0, -1) : host).toLowerCase();
  return INNER_CALL_DOMAINS.some((domain) => name.endsWith(`.${domain}`));
}
