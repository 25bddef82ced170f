/**
 * Which `targets` server gets the next call. The proxy's balancer (calls/balancer.ts)
 * spreads calls over replicas of running services; a `targets` service is one
 * instance to the proxy, and this rotation spreads its calls over the remote servers
 * behind it with the same algorithms and ejection rules (SPEC "load balancing").
 */

export type Algorithm = 'round-robin' | 'least-connections' | 'weighted';

export interface RotationOptions {
  readonly algorithm: Algorithm;
  /** Failures in a row that take a member out of the rotation; 0 never ejects. */
  readonly maxFailures: number;
}

export interface Member {
  readonly index: number;
  readonly label: string;
  readonly weight: number;
  /** Gets calls only when no other member is in the rotation. */
  readonly fallback: boolean;
  inRotation: boolean;
  /** Calls in flight (least-connections). */
  active: number;
  failures: number;
  /** Smooth weighted round-robin state (nginx's algorithm: even spread, no bursts). */
  current: number;
}

export class Rotation {
  readonly members: Member[];
  private next = 0;

  constructor(
    members: readonly { label: string; weight: number; fallback: boolean }[],
    private readonly options: RotationOptions,
  ) {
    this.members = members.map((member, index) => ({ ...member, index, inRotation: true, active: 0, failures: 0, current: 0 }));
  }

  /** The member for the next call, or undefined when nothing is in the rotation. */
  pick(): Member | undefined {
    const primaries = this.members.filter((member) => member.inRotation && !member.fallback);
    const candidates = primaries.length > 0 ? primaries : this.members.filter((member) => member.inRotation && member.fallback);
    if (candidates.length === 0) return undefined;
    if (candidates.length === 1) return candidates[0];
    switch (this.options.algorithm) {
      case 'weighted': {
        let total = 0;
        let best: Member | undefined;
        for (const member of candidates) {
          member.current += member.weight;
          total += member.weight;
          if (best === undefined || member.current > best.current) best = member;
        }
        best!.current -= total;
        return best;
      }
      case 'least-connections': {
        const fewest = Math.min(...candidates.map((member) => member.active));
        const tied = candidates.filter((member) => member.active === fewest);
        return tied[this.next++ % tied.length];
      }
      default:
        return candidates[this.next++ % candidates.length];
    }
  }

  /**
   * Counts a failed call; returns true when it took the member out of the rotation
   * (the caller logs it).
   */
  failed(member: Member): boolean {
    member.failures++;
    if (this.options.maxFailures > 0 && member.failures >= this.options.maxFailures && member.inRotation) {
      member.inRotation = false;
      return true;
    }
    return false;
  }

  succeeded(member: Member): void {
    member.failures = 0;
  }

  /** Puts a member back (its health check passed); returns true when it was out. */
  readmit(member: Member): boolean {
    member.failures = 0;
    if (member.inRotation) return false;
    member.inRotation = true;
    member.current = 0;
    return true;
  }

  /** Takes a member out (its health check failed); returns true when it was in. */
  eject(member: Member): boolean {
    if (!member.inRotation) return false;
    member.inRotation = false;
    return true;
  }
}
