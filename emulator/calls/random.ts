import { EmulatorError } from '../errors.js';

/**
 * The random source that decides injected faults. Seeded, so a test that failed once
 * fails the same way again: the same seed and the same sequence of calls give the
 * same decisions. sfc32 (Chris Doty-Humphrey's small fast counter): 32-bit, passes
 * PractRand, and its state is four numbers, so it costs nothing on the call path.
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next(); // mix the seed through the state
  }

  /** A number in [0, 1). */
  next(): number {
    let { a, b, c, d } = this;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    return (t >>> 0) / 4294967296;
  }

  /** True with probability `percent` / 100; 100 always, 0 never (no draw is spent on either). */
  chance(percent: number): boolean {
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return this.next() * 100 < percent;
  }

  /** `length` random bytes (random-then-close). */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/**
 * The seed in force: EMULATOR_SEED, else the config's `policiesSeed`, else a new one
 * (printed at `up`, so the run can be replayed with EMULATOR_SEED).
 */
export function chooseSeed(
  configSeed: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { seed: number; from: 'EMULATOR_SEED' | 'policiesSeed' | 'random' } {
  const fromEnv = env.EMULATOR_SEED;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const value = Number(fromEnv);
    if (Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return { seed: value, from: 'EMULATOR_SEED' };
    throw new EmulatorError('usage', `EMULATOR_SEED=${JSON.stringify(fromEnv)} is not a whole number from 0 to 4294967295.`, {
      fix: 'Set it to the seed printed by an earlier run (e.g. EMULATOR_SEED=42), or unset it.',
    });
  }
  if (configSeed !== undefined) return { seed: configSeed, from: 'policiesSeed' };
  return { seed: Math.floor(Math.random() * 0x7fffffff), from: 'random' };
}
