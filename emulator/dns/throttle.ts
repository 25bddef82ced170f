import type { Logger } from '../logging/logger.js';

/** Warns about `key` at most once per interval, so a flood of bad packets cannot flood the log. */
export type ThrottledWarn = (key: string, message: string) => void;

const MAX_KEYS = 1000;

export function throttledWarn(logger: Logger, intervalMs = 10_000): ThrottledWarn {
  const seen = new Map<string, { at: number; suppressed: number }>();
  return (key, message) => {
    const now = Date.now();
    const entry = seen.get(key);
    if (entry !== undefined && now - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    if (seen.size >= MAX_KEYS) seen.clear();
    seen.set(key, { at: now, suppressed: 0 });
    const suppressed = entry?.suppressed ?? 0;
    logger.warn(suppressed > 0 ? `${message} (${suppressed} more like this since the last report)` : message);
  };
}
