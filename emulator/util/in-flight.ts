/** One upstream's count: kept once made (an upstream's "host:port" is one key among few), so a call costs one Map lookup. */
interface Slot {
  count: number;
  waiters: (() => void)[] | undefined;
}

/**
 * Requests in flight per upstream ("host:port"), so a reload can retire an old instance
 * once nothing is on its way to it: the proxy's call pipeline and each published port
 * keep one.
 */
export class InFlight {
  private readonly slots = new Map<string, Slot>();

  enter(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, { count: 1, waiters: undefined });
    else slot.count++;
  }

  leave(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined || slot.count === 0 || --slot.count > 0 || slot.waiters === undefined) return;
    this.slots.delete(key); // waited for: an instance being retired
    for (const wake of slot.waiters) wake();
  }

  /** Resolves once nothing is in flight to `key` (or after `timeoutMs`). */
  whenIdle(key: string, timeoutMs: number): Promise<void> {
    const slot = this.slots.get(key);
    if (slot === undefined || slot.count === 0) {
      this.slots.delete(key); // an instance being retired: its count is not needed again
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      (slot.waiters ??= []).push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
