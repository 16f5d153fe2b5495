// A small seeded pseudo-random generator (xoshiro128**) so that one seed number determines a
// whole simulation run. Math.random would make failures unreproducible; this generator is
// fast, has a 2^128 - 1 period and passes BigCrush, which is far more than a fault schedule needs.

/** splitmix32: spreads a seed over the state so that nearby seeds give unrelated streams. */
function splitmix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return { state: next, value: z >>> 0 };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const TWO_POW_32 = 4294967296;

export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** `seed` is any safe integer; its high and low 32-bit halves both influence the stream. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be a safe integer, got ${seed}`);
    }
    const high = Math.floor(seed / TWO_POW_32) | 0;
    let state = (seed | 0) ^ Math.imul(high, 0x85ebca6b);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const step = splitmix32(state);
      state = step.state;
      words.push(step.value);
    }
    this.s0 = words[0]! | 0;
    this.s1 = words[1]! | 0;
    this.s2 = words[2]! | 0;
    this.s3 = words[3]! | 0;
    // The all-zero state is the one fixed point of xoshiro; splitmix32 makes it practically
    // impossible, but a guard costs nothing.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next unsigned 32-bit value. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    if (!(maxExclusive >= 1))
      throw new RangeError(`int(): bound must be >= 1, got ${maxExclusive}`);
    return Math.floor(this.next() * maxExclusive);
  }

  /** Uniform integer in [low, high] (both inclusive). */
  range(low: number, high: number): number {
    if (high < low) throw new RangeError(`range(): high ${high} < low ${low}`);
    return low + this.int(high - low + 1);
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return probability > 0 && this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick(): empty list");
    return items[this.int(items.length)]!;
  }

  /**
   * An independent generator derived from this one. Each consumer (network, each node's core,
   * clients, faults) gets its own stream, so adding a draw in one place does not shift the
   * decisions made in another.
   */
  fork(): Prng {
    const high = this.nextU32() & 0x1fffff;
    return new Prng(high * TWO_POW_32 + this.nextU32());
  }
}
