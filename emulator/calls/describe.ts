import type { PolicyRuleEntry } from '../config/policies-schema.js';

/**
 * One line per rule, for `emulator routes` and logs:
 * `gateway → orders GET /api/* : timeout 2 s · retry 2× (connect-failure, reset) · shape · abort 503 at 10 % · breaker 5 in a row / 30 s`.
 */
export function summarizeRule(rule: PolicyRuleEntry): string {
  const match = `${rule.from ?? '*'} → ${rule.to ?? '*'}${rule.methods === undefined ? '' : ` ${rule.methods.join(',')}`}${rule.path === undefined ? '' : ` ${rule.path}`}`;
  const does: string[] = [];
  if (rule.timeout !== undefined) does.push(`timeout ${rule.timeout} s`);
  if (rule.retry !== undefined)
    does.push(`retry ${rule.retry.attempts}× (${(rule.retry.on ?? ['connect-failure', 'reset']).join(', ')}; ${rule.retry.backoffMs ?? 25} ms apart)`);
  if (rule.request !== undefined) {
    const parts = (['remove', 'set', 'add'] as const).filter((step) => rule.request![step] !== undefined);
    does.push(`shape (${parts.join(', ')})`);
  }
  const fault = rule.fault;
  if (fault !== undefined) {
    const what = [
      fault.delayMs === undefined ? undefined : `delay ${fault.delayMs} ms`,
      fault.abort === undefined ? undefined : `abort ${fault.abort}`,
      fault.type,
    ]
      .filter(Boolean)
      .join(' + ');
    does.push(`fault ${what} at ${fault.percent ?? 100} %`);
  }
  if (rule.circuitBreaker !== undefined)
    does.push(`breaker after ${rule.circuitBreaker.consecutiveFailures} failures, open ${rule.circuitBreaker.openSeconds ?? 30} s`);
  return `${match}: ${does.length === 0 ? 'nothing (matches and stops later rules)' : does.join(' · ')}`;
}
