/**
 * Requests in flight per upstream ("host:port"), so a reload can retire an old instance
 * once nothing is on its way to it: the proxy's call pipeline and each published port
 * keep one.
 */
export class InFlight {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();

  enter(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  leave(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) return void this.counts.set(key, left);
    this.counts.delete(key);
    for (const wake of this.waiters.get(key) ?? []) wake();
    this.waiters.delete(key);
  }

  /** Resolves once nothing is in flight to `key` (or after `timeoutMs`). */
  whenIdle(key: string, timeoutMs: number): Promise<void> {
    if (!this.counts.has(key)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), wake]);
    });
  }
}
