/**
 * A circuit breaker for one (rule, caller, target): after `consecutiveFailures` failed
 * calls in a row it opens, and calls get `503 circuit_open` without reaching the
 * target; after `openMs` one trial call is let through (half-open) and decides:
 * success closes it, failure opens it again. Dapr's defaults are the model
 * (maxRequests 1 while half-open), with its own error instead of Dapr's 200 (#4454).
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export type Admission = 'pass' | 'trial' | 'reject';

export class CircuitBreaker {
  state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  constructor(
    readonly consecutiveFailures: number,
    readonly openMs: number,
    private readonly onChange: (state: BreakerState, why: string) => void,
  ) {}

  admit(now: number): Admission {
    if (this.state === 'closed') return 'pass';
    if (this.state === 'open') {
      if (now - this.openedAt < this.openMs) return 'reject';
      this.state = 'half-open';
      this.onChange('half-open', `after ${this.openMs / 1000} s open, one trial call decides`);
    }
    if (this.trialInFlight) return 'reject';
    this.trialInFlight = true;
    return 'trial';
  }

  /** Seconds until a trial call may go, for Retry-After. */
  retryAfterSeconds(now: number): number {
    return Math.max(1, Math.ceil((this.openMs - (now - this.openedAt)) / 1000));
  }

  /** How an admitted call ended: `failure` names why (a 5xx, a timeout, a connection error). */
  report(admission: Admission, failure: string | undefined, now: number): void {
    if (admission === 'trial') {
      this.trialInFlight = false;
      if (failure === undefined) {
        this.state = 'closed';
        this.failures = 0;
        this.onChange('closed', 'the trial call succeeded');
      } else {
        this.open(now, `the trial call failed (${failure})`);
      }
      return;
    }
    if (this.state !== 'closed') return; // an old call ending after the circuit opened
    if (failure === undefined) {
      this.failures = 0;
      return;
    }
    if (++this.failures >= this.consecutiveFailures) this.open(now, `${this.failures} failures in a row, the last: ${failure}`);
  }

  /** An admitted call that ended without saying anything about the target (the caller went away). */
  cancel(admission: Admission): void {
    if (admission === 'trial') this.trialInFlight = false;
  }

  private open(now: number, why: string): void {
    this.state = 'open';
    this.openedAt = now;
    this.failures = 0;
    this.onChange('open', why);
  }
}
