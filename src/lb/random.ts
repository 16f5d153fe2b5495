// Seedable randomness for the balancing policies. Policies never call Math.random directly so
// that distribution tests can replay exactly the same choices from a seed.

/** Returns a float in [0, 1). */
export type RandomSource = () => number;

/** mulberry32: tiny, fast, good enough statistical quality for load spreading. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source seeded from the clock, for production use where no seed is configured. */
export function defaultRandom(): RandomSource {
  return seededRandom((Date.now() ^ (process.pid << 16)) >>> 0);
}

/** Integer in [0, bound). */
export function randomIndex(random: RandomSource, bound: number): number {
  return Math.floor(random() * bound);
}
