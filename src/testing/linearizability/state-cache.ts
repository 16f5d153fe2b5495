// The memo of Lowe's refinement: every (set of linearized operations, model state) configuration
// the search has already explored. Reaching one again cannot lead anywhere new, so the search
// skips it. Stored flat in typed arrays (one arena of bitset words, open addressing over it) so
// that a lookup allocates nothing; only an insertion copies the bitset, once.

export class CacheLimitError extends Error {
  readonly code = "CACHE_LIMIT";
  constructor(limitBytes: number) {
    super(`the search memo reached its limit of ${Math.round(limitBytes / 2 ** 20)} MiB`);
  }
}

export class StateCache {
  private readonly words: number;
  private readonly maxBytes: number;
  private bits: Uint32Array;
  private states: Int32Array;
  private hashes: Uint32Array;
  /** Slot -> entry index + 1 (0 = empty). Kept at most half full. */
  private table: Int32Array;
  private count = 0;

  constructor(words: number, maxBytes: number) {
    this.words = Math.max(1, words);
    this.maxBytes = maxBytes;
    const initialEntries = 1024;
    this.bits = new Uint32Array(initialEntries * this.words);
    this.states = new Int32Array(initialEntries);
    this.hashes = new Uint32Array(initialEntries);
    this.table = new Int32Array(initialEntries * 2);
  }

  get size(): number {
    return this.count;
  }

  /** Adds (bitset, state) unless present. Returns true when it was new. */
  insert(bitset: Uint32Array, state: number, hash: number): boolean {
    const mask = this.table.length - 1;
    const words = this.words;
    let slot = hash & mask;
    for (;;) {
      const stored = this.table[slot]!;
      if (stored === 0) break;
      const entry = stored - 1;
      if (this.hashes[entry] === hash && this.states[entry] === state) {
        const base = entry * words;
        let same = true;
        for (let w = 0; w < words; w++) {
          if (this.bits[base + w] !== bitset[w]) {
            same = false;
            break;
          }
        }
        if (same) return false;
      }
      slot = (slot + 1) & mask;
    }
    if (this.count === this.states.length) {
      this.grow();
      return this.insert(bitset, state, hash);
    }
    const entry = this.count++;
    this.bits.set(bitset.subarray(0, words), entry * words);
    this.states[entry] = state;
    this.hashes[entry] = hash;
    this.table[slot] = entry + 1;
    return true;
  }

  private grow(): void {
    const entries = this.states.length * 2;
    const bytes = entries * (this.words * 4 + 4 + 4) + entries * 2 * 4;
    if (bytes > this.maxBytes) throw new CacheLimitError(this.maxBytes);
    const bits = new Uint32Array(entries * this.words);
    bits.set(this.bits);
    const states = new Int32Array(entries);
    states.set(this.states);
    const hashes = new Uint32Array(entries);
    hashes.set(this.hashes);
    this.bits = bits;
    this.states = states;
    this.hashes = hashes;
    const table = new Int32Array(entries * 2);
    const mask = table.length - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = hashes[entry]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = entry + 1;
    }
    this.table = table;
  }
}
