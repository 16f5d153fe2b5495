// Reconnect delays: exponential backoff with full jitter ("Exponential Backoff And Jitter",
// AWS Architecture Blog). Full jitter spreads the reconnects of many nodes that lost the same
// peer at the same instant, so a restarted node is not hit by a synchronized wave.

/** Returns a number in [0, 1). Injected so tests can make delays reproducible. */
export type RandomSource = () => number;

/**
 * A small seeded generator (mulberry32) for reproducible tests. Not cryptographic: it only
 * spreads reconnect delays. Nonces for authentication come from `crypto.randomBytes`.
 */
export function createSeededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BackoffOptions {
  /** Ceiling of the first delay; each failed attempt doubles the ceiling. */
  readonly minDelayMs: number;
  /** The ceiling never grows beyond this, so a peer that comes back is found within it. */
  readonly maxDelayMs: number;
}

export class Backoff {
  #attempt = 0;
  readonly #options: BackoffOptions;
  readonly #random: RandomSource;

  constructor(options: BackoffOptions, random: RandomSource) {
    if (!(options.minDelayMs >= 0 && options.maxDelayMs >= options.minDelayMs)) {
      throw new RangeError("backoff needs 0 <= minDelayMs <= maxDelayMs");
    }
    this.#options = options;
    this.#random = random;
  }

  /** The delay before the next attempt, uniformly drawn from [0, ceiling]; advances the attempt. */
  nextDelayMs(): number {
    // 2^30 already exceeds any sensible maxDelayMs; capping the exponent keeps the math finite.
    const exponent = Math.min(this.#attempt, 30);
    const ceilingMs = Math.min(this.#options.maxDelayMs, this.#options.minDelayMs * 2 ** exponent);
    this.#attempt += 1;
    const draw = this.#random();
    if (!(draw >= 0 && draw < 1)) throw new RangeError(`random source returned ${draw}, not [0,1)`);
    return Math.round(draw * ceilingMs);
  }

  /** After a successful connection the next loss starts again from the smallest delay. */
  reset(): void {
    this.#attempt = 0;
  }

  get attempt(): number {
    return this.#attempt;
  }
}
