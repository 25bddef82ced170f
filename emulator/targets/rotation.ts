/**
 * Which `targets` server gets the next call. The relay of a `targets` service is one
 * instance to the proxy, and spreads its calls over the remote servers behind it.
 *
 * `TargetBalancer` is the shape of the shared load balancer (`LoadBalancer` of
 * emulator/calls/balancer.ts, which spreads calls over replicas); calls/ sits above
 * targets/ in the layers, so the orchestrator passes that class in as a factory and
 * nothing here imports it. `MinimalBalancer` is the same contract written small: the
 * default until the shared one is wired in, and what the relay's own tests use.
 */

export type Algorithm = 'round-robin' | 'least-connections' | 'weighted';

export interface BalancerMember<T> {
  /** Stable identity (the target URL): counts and ejection survive a refresh of the list. */
  readonly key: string;
  readonly target: T;
  readonly weight?: number;
  /** Gets calls only while no other member is in rotation (Apigee's IsFallback). */
  readonly fallback?: boolean;
}

/** How a call ended, as far as the member's health is concerned. */
export type CallOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'failure'; readonly reason: 'connect-failure' | 'reset' | 'timeout' }
  | { readonly kind: 'none' };

export type BalancerEvent =
  | { readonly kind: 'ejected'; readonly key: string; readonly failures: number; readonly reason: string }
  | { readonly kind: 'returned'; readonly key: string; readonly reason: string };

export interface BalancerOptions<T> {
  algorithm?: Algorithm;
  /** Failures in a row that take a member out of rotation; 0 never does. */
  maxFailures?: number;
  /** Statuses that count as failures. */
  unhealthyStatus?: readonly number[];
  /** Probes an ejected member; it returns once this resolves true. */
  healthCheck?: (target: T) => Promise<boolean>;
  healthCheckIntervalMs?: number;
  onEvent?: (event: BalancerEvent) => void;
}

export interface BalancerSlot<T> {
  readonly key: string;
  readonly target: T;
  readonly active: number;
  readonly failures: number;
}

export interface SlotSnapshot {
  key: string;
  weight: number;
  fallback: boolean;
  active: number;
  failures: number;
  inRotation: boolean;
}

/** What the relay needs from a load balancer (a structural subset of calls/balancer.ts's LoadBalancer). */
export interface TargetBalancer<T> {
  /** Replaces the member list (cheap when unchanged); members not listed leave the rotation. */
  update(members: readonly BalancerMember<T>[]): void;
  /** The member for the next call (its `active` count goes up), or undefined when none is in rotation. */
  pick(): BalancerSlot<T> | undefined;
  /** How the call to a picked member ended. */
  done(slot: BalancerSlot<T>, outcome: CallOutcome): void;
  snapshot(): SlotSnapshot[];
  describeEmpty(): string;
  stop(): void;
}

export type BalancerFactory = <T>(options: BalancerOptions<T>) => TargetBalancer<T>;

interface Slot<T> {
  readonly key: string;
  target: T;
  weight: number;
  fallback: boolean;
  active: number;
  failures: number;
  ejected: boolean;
  /** Smooth weighted round-robin state (nginx's algorithm: exact shares, no bursts). */
  current: number;
  member: boolean;
}

export const minimalBalancer: BalancerFactory = (options) => new MinimalBalancer(options);

export class MinimalBalancer<T> implements TargetBalancer<T> {
  private slots: Slot<T>[] = [];
  private readonly byKey = new Map<string, Slot<T>>();
  private cursor = 0;
  private readonly unhealthy: ReadonlySet<number>;
  private timer: NodeJS.Timeout | undefined;
  private readonly probing = new Set<Slot<T>>();
  private stopped = false;

  constructor(private readonly options: BalancerOptions<T>) {
    this.unhealthy = new Set(options.unhealthyStatus ?? []);
  }

  update(members: readonly BalancerMember<T>[]): void {
    const keep = new Set(members.map((member) => member.key));
    for (const [key, slot] of this.byKey) {
      if (keep.has(key)) continue;
      slot.member = false;
      this.byKey.delete(key);
    }
    this.slots = members.map((member) => {
      let slot = this.byKey.get(member.key);
      if (slot === undefined) {
        slot = { key: member.key, target: member.target, weight: 1, fallback: false, active: 0, failures: 0, ejected: false, current: 0, member: true };
        this.byKey.set(member.key, slot);
      }
      slot.target = member.target;
      slot.weight = member.weight ?? 1;
      slot.fallback = member.fallback ?? false;
      return slot;
    });
  }

  pick(): BalancerSlot<T> | undefined {
    const rotation = this.rotation();
    if (rotation.length === 0) return undefined;
    let chosen = rotation[0]!;
    if (rotation.length > 1) {
      switch (this.options.algorithm ?? 'round-robin') {
        case 'weighted': {
          let total = 0;
          for (const slot of rotation) {
            slot.current += slot.weight;
            total += slot.weight;
            if (slot.current > chosen.current) chosen = slot;
          }
          chosen.current -= total;
          break;
        }
        case 'least-connections': {
          // Ties go round-robin, so an idle service still spreads its calls.
          const start = this.cursor++ % rotation.length;
          chosen = rotation[start]!;
          for (let i = 1; i < rotation.length; i++) {
            const slot = rotation[(start + i) % rotation.length]!;
            if (slot.active < chosen.active) chosen = slot;
          }
          break;
        }
        default:
          chosen = rotation[this.cursor++ % rotation.length]!;
      }
    }
    chosen.active++;
    return chosen;
  }

  done(picked: BalancerSlot<T>, outcome: CallOutcome): void {
    const slot = picked as Slot<T>;
    if (slot.active > 0) slot.active--;
    const maxFailures = this.options.maxFailures ?? 0;
    if (outcome.kind === 'none' || maxFailures === 0 || !slot.member || slot.ejected) return;
    if (outcome.kind === 'response' && !this.unhealthy.has(outcome.status)) {
      slot.failures = 0;
      return;
    }
    slot.failures++;
    if (slot.failures < maxFailures) return;
    slot.ejected = true;
    this.options.onEvent?.({
      kind: 'ejected',
      key: slot.key,
      failures: slot.failures,
      reason: outcome.kind === 'response' ? `status ${outcome.status}` : outcome.reason,
    });
    this.timer ??= setInterval(() => this.probe(), this.options.healthCheckIntervalMs ?? 1000).unref();
  }

  snapshot(): SlotSnapshot[] {
    const rotation = new Set(this.rotation());
    return this.slots.map((slot) => ({
      key: slot.key,
      weight: slot.weight,
      fallback: slot.fallback,
      active: slot.active,
      failures: slot.failures,
      inRotation: rotation.has(slot),
    }));
  }

  describeEmpty(): string {
    if (this.slots.length === 0) return 'no target is healthy';
    return `${this.slots.map((slot) => `${slot.key} (${slot.ejected ? `out after ${slot.failures} failures` : 'not healthy'})`).join(', ')}`;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private rotation(): Slot<T>[] {
    const primaries = this.slots.filter((slot) => !slot.ejected && !slot.fallback && slot.weight > 0);
    return primaries.length > 0 ? primaries : this.slots.filter((slot) => !slot.ejected && slot.fallback && slot.weight > 0);
  }

  /** Ejected members come back when their health check passes (without one: on probation, one failure from ejection). */
  private probe(): void {
    const ejected = this.slots.filter((slot) => slot.ejected);
    if (ejected.length === 0 || this.stopped) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    for (const slot of ejected) {
      const readmit = (reason: string): void => {
        if (this.stopped || !slot.member || !slot.ejected) return;
        slot.ejected = false;
        slot.current = 0;
        slot.failures = this.options.healthCheck === undefined ? Math.max(0, (this.options.maxFailures ?? 1) - 1) : 0;
        this.options.onEvent?.({ kind: 'returned', key: slot.key, reason });
      };
      if (this.options.healthCheck === undefined) readmit('retrying (no health check configured)');
      else if (!this.probing.has(slot)) {
        // One probe at a time per member: a slow one must not pile up across intervals.
        this.probing.add(slot);
        void this.options
          .healthCheck(slot.target)
          .then(
            (healthy) => healthy && readmit('health check passed'),
            () => undefined,
          )
          .finally(() => this.probing.delete(slot));
      }
    }
  }
}
