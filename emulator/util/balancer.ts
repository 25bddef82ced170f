// A load balancer over the members of one service: its instances ("host:port") or
// its remote targets (URLs). Modelled on Apigee's LoadBalancer (RoundRobin default,
// Weighted, LeastConnections, MaxFailures with ServerUnhealthyResponse, IsFallback,
// a health monitor that brings an ejected server back), without the parts a laptop
// does not need. Generic over what a member is: the caller keeps the connection
// details in `target` and only tells the balancer how each call ended.

export type BalancerAlgorithm = 'round-robin' | 'least-connections' | 'weighted';

export const BALANCER_ALGORITHMS: readonly BalancerAlgorithm[] = ['round-robin', 'least-connections', 'weighted'];

export interface BalancerMember<T> {
  /** Stable identity ("host:port", a URL): counts and ejection survive a refresh of the member list. */
  readonly key: string;
  readonly target: T;
  /** Share of calls under `weighted` (weights 1 and 2 split calls 1:2). Default 1. */
  readonly weight?: number;
  /** Gets calls only while no other member is in rotation (Apigee's IsFallback). */
  readonly fallback?: boolean;
}

/** How a call to a member ended, as far as its health is concerned. */
export type CallOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'failure'; readonly reason: 'connect-failure' | 'reset' | 'timeout' }
  /** The caller went away, a fault was injected, …: says nothing about the member. */
  | { readonly kind: 'none' };

export type BalancerEvent =
  | { readonly kind: 'ejected'; readonly key: string; readonly failures: number; readonly reason: string }
  | { readonly kind: 'returned'; readonly key: string; readonly reason: string };

export interface BalancerOptions<T> {
  algorithm?: BalancerAlgorithm;
  /** Consecutive failures that take a member out of rotation; 0 (the default, as Apigee's) never does. */
  maxFailures?: number;
  /** Response statuses that count as failures (Apigee's ServerUnhealthyResponse); any other response resets the count. */
  unhealthyStatus?: readonly number[];
  /** Probes an ejected member; it returns to rotation once this resolves true. */
  healthCheck?: (target: T) => Promise<boolean>;
  /** How often ejected members are probed. Default 1000 ms. */
  healthCheckIntervalMs?: number;
  /** Ejections and returns, for the log. */
  onEvent?: (event: BalancerEvent) => void;
}

/** One member with its counters; what `pick` hands out and `done` takes back. */
export interface Slot<T> {
  readonly key: string;
  target: T;
  weight: number;
  fallback: boolean;
  /** Calls in flight (least-connections). */
  active: number;
  /** Consecutive failures. */
  failures: number;
  ejected: boolean;
  /** Smooth weighted round-robin's running weight. */
  current: number;
  /** Still a member (a refresh may drop it while calls to it are in flight). */
  member: boolean;
  /** `done(slot, outcome)`, bound once per member, so a call hands it on without a new closure. */
  readonly release: (outcome: CallOutcome) => void;
}

export interface SlotSnapshot {
  key: string;
  weight: number;
  fallback: boolean;
  active: number;
  failures: number;
  inRotation: boolean;
}

const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 1000;

export class LoadBalancer<T> {
  private slots: Slot<T>[] = [];
  private readonly byKey = new Map<string, Slot<T>>();
  /** Members in rotation: primaries, or the fallbacks when no primary is left. */
  private rotation: Slot<T>[] = [];
  private cursor = 0;
  private algorithm: BalancerAlgorithm;
  private maxFailures: number;
  private unhealthy: ReadonlySet<number>;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly probing = new Set<Slot<T>>();
  private stopped = false;

  constructor(private options: BalancerOptions<T> = {}) {
    this.algorithm = options.algorithm ?? 'round-robin';
    this.maxFailures = options.maxFailures ?? 0;
    this.unhealthy = new Set(options.unhealthyStatus ?? []);
  }

  /** New settings (a config reload); members and their counts stay. */
  configure(options: BalancerOptions<T>): void {
    this.options = options;
    this.algorithm = options.algorithm ?? 'round-robin';
    this.maxFailures = options.maxFailures ?? 0;
    this.unhealthy = new Set(options.unhealthyStatus ?? []);
    // maxFailures 0 never ejects: whoever was out comes back at once.
    if (this.maxFailures === 0) for (const slot of this.slots) if (slot.ejected) this.readmit(slot, 'maxFailures is now 0');
    this.rebuild();
  }

  /**
   * Replaces the member list. Cheap when nothing changed (the same keys in the same
   * order), so a caller may pass the current list before every pick.
   */
  update(members: readonly BalancerMember<T>[]): void {
    const slots = this.slots;
    let same = members.length === slots.length;
    for (let i = 0; same && i < members.length; i++) {
      const member = members[i]!;
      const slot = slots[i]!;
      if (slot.key !== member.key || slot.weight !== (member.weight ?? 1) || slot.fallback !== (member.fallback ?? false)) same = false;
      else slot.target = member.target;
    }
    if (same) return;
    const next: Slot<T>[] = [];
    const keep = new Set<string>();
    for (const member of members) {
      if (keep.has(member.key)) continue;
      keep.add(member.key);
      let slot = this.byKey.get(member.key);
      if (slot === undefined) {
        const created: Slot<T> = {
          key: member.key,
          target: member.target,
          weight: 1,
          fallback: false,
          active: 0,
          failures: 0,
          ejected: false,
          current: 0,
          member: true,
          release: (outcome) => this.done(created, outcome),
        };
        slot = created;
        this.byKey.set(member.key, slot);
      }
      slot.target = member.target;
      slot.weight = Math.max(0, member.weight ?? 1);
      slot.fallback = member.fallback ?? false;
      slot.member = true;
      next.push(slot);
    }
    for (const [key, slot] of this.byKey) {
      if (keep.has(key)) continue;
      slot.member = false;
      this.byKey.delete(key);
      this.probing.delete(slot);
    }
    this.slots = next;
    this.rebuild();
  }

  /** The member for the next call, or undefined when none is in rotation (`no_healthy_target`). Call `done` when the call ends. */
  pick(): Slot<T> | undefined {
    const rotation = this.rotation;
    const count = rotation.length;
    if (count === 0) return undefined;
    let chosen: Slot<T>;
    if (count === 1) {
      chosen = rotation[0]!;
    } else if (this.algorithm === 'round-robin') {
      chosen = rotation[this.cursor++ % count]!;
    } else if (this.algorithm === 'least-connections') {
      // Ties go round-robin, so an idle service still spreads its calls.
      const start = this.cursor++ % count;
      chosen = rotation[start]!;
      for (let i = 1; i < count; i++) {
        const slot = rotation[(start + i) % count]!;
        if (slot.active < chosen.active) chosen = slot;
      }
    } else {
      // nginx's smooth weighted round-robin: exact shares, and no bursts to the heaviest member.
      let total = 0;
      chosen = rotation[0]!;
      for (const slot of rotation) {
        slot.current += slot.weight;
        total += slot.weight;
        if (slot.current > chosen.current) chosen = slot;
      }
      chosen.current -= total;
    }
    if (this.cursor > 0x3fffffff) this.cursor = 0;
    chosen.active++;
    return chosen;
  }

  /** Reports how the call to `slot` ended. Any response not in `unhealthyStatus` resets its failure count (Apigee). */
  done(slot: Slot<T>, outcome: CallOutcome): void {
    if (slot.active > 0) slot.active--;
    if (outcome.kind === 'none' || this.maxFailures === 0 || !slot.member || slot.ejected) return;
    if (outcome.kind === 'response' && !this.unhealthy.has(outcome.status)) {
      slot.failures = 0;
      return;
    }
    slot.failures++;
    if (slot.failures < this.maxFailures) return;
    slot.ejected = true;
    const reason = outcome.kind === 'response' ? `status ${outcome.status}` : outcome.reason;
    this.rebuild();
    this.options.onEvent?.({ kind: 'ejected', key: slot.key, failures: slot.failures, reason });
    this.startProbing();
  }

  /** Whether any member exists at all (none: the service has no instance, which is another error than all ejected). */
  get size(): number {
    return this.slots.length;
  }

  get inRotation(): number {
    return this.rotation.length;
  }

  snapshot(): SlotSnapshot[] {
    return this.slots.map((slot) => ({
      key: slot.key,
      weight: slot.weight,
      fallback: slot.fallback,
      active: slot.active,
      failures: slot.failures,
      inRotation: this.rotation.includes(slot),
    }));
  }

  /** Why `pick` found nothing, for the `no_healthy_target` message. */
  describeEmpty(): string {
    const out = this.slots.filter((slot) => slot.ejected);
    if (this.slots.length === 0) return 'it has no instance or target';
    return `all ${this.slots.length} of its ${this.slots.length === 1 ? 'member is' : 'members are'} out of rotation after ${this.maxFailures} failure${this.maxFailures === 1 ? '' : 's'} in a row (${out.map((slot) => slot.key).join(', ')}); each returns when its health check passes`;
  }

  stop(): void {
    this.stopped = true;
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  private readmit(slot: Slot<T>, reason: string): void {
    slot.ejected = false;
    slot.failures = 0;
    slot.current = 0;
    this.options.onEvent?.({ kind: 'returned', key: slot.key, reason });
  }

  private rebuild(): void {
    const primaries = this.slots.filter((slot) => !slot.ejected && !slot.fallback && slot.weight > 0);
    this.rotation = primaries.length > 0 ? primaries : this.slots.filter((slot) => !slot.ejected && slot.fallback && slot.weight > 0);
    for (const slot of this.rotation) slot.current = 0;
  }

  /** While a member is out, probe the ejected ones on an interval; the timer stops when all are back. */
  private startProbing(): void {
    if (this.probeTimer !== undefined || this.stopped) return;
    const interval = this.options.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS;
    this.probeTimer = setInterval(() => this.probe(), interval).unref();
  }

  private probe(): void {
    const ejected = this.slots.filter((slot) => slot.ejected);
    if (ejected.length === 0) {
      clearInterval(this.probeTimer);
      this.probeTimer = undefined;
      return;
    }
    const check = this.options.healthCheck;
    for (const slot of ejected) {
      if (check === undefined) {
        // Nothing to ask: back on probation, and one more failure takes it out again.
        this.readmit(slot, 'retrying (no health check configured)');
        slot.failures = Math.max(0, this.maxFailures - 1);
        this.rebuild();
        continue;
      }
      if (this.probing.has(slot)) continue;
      this.probing.add(slot);
      check(slot.target).then(
        (healthy) => {
          const current = this.probing.delete(slot) && slot.member && slot.ejected && !this.stopped;
          if (!current || !healthy) return;
          this.readmit(slot, 'health check passed');
          this.rebuild();
        },
        () => this.probing.delete(slot),
      );
    }
  }
}
