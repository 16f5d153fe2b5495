// The memo of Lowe's refinement: every (set of linearized operations, model state) configuration
// the search has already explored. Reaching one again cannot lead anywhere new, so the search
// skips it. Stored flat in typed arrays (an arena of bitset words, open addressing over it) so
// that a lookup allocates nothing; only an insertion copies words, once.
//
// Sets are stored in a compact window rather than as full bitsets. Operations of known outcome
// are numbered in completion order; in every configuration the search reaches, all of them
// below some index `first` are linearized (the walk never gets past the earliest completion
// not yet placed), and above it only operations concurrent with that one can be. So a set is
// (first, the words from first to its highest member) plus the words of the few operations of
// unknown outcome, which are numbered before the others. Memory per entry then follows the
// concurrency of the history, not its length, which keeps long histories checkable.

export class CacheLimitError extends Error {
  readonly code = "CACHE_LIMIT";
  constructor(limitBytes: number) {
    super(`the search memo reached its limit of ${Math.round(limitBytes / 2 ** 20)} MiB`);
  }
}

/** Bytes of bookkeeping per entry besides its words: state, first, hash, offset, length, 2 slots. */
const ENTRY_OVERHEAD_BYTES = 5 * 4 + 2 * 4;

export class StateCache {
  /** Words at the start of every set that hold the operations of unknown outcome. */
  private readonly prefixWords: number;
  private readonly maxBytes: number;
  private arena: Uint32Array;
  private arenaUsed = 0;
  private states: Int32Array;
  private firsts: Int32Array;
  private hashes: Uint32Array;
  private offsets: Int32Array;
  private lengths: Int32Array;
  /** Slot -> entry index + 1 (0 = empty). Kept at most half full. */
  private table: Int32Array;
  private count = 0;

  constructor(prefixWords: number, maxBytes: number) {
    this.prefixWords = prefixWords;
    this.maxBytes = maxBytes;
    const entries = 1024;
    this.arena = new Uint32Array(entries * (prefixWords + 4));
    this.states = new Int32Array(entries);
    this.firsts = new Int32Array(entries);
    this.hashes = new Uint32Array(entries);
    this.offsets = new Int32Array(entries);
    this.lengths = new Int32Array(entries);
    this.table = new Int32Array(entries * 2);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.arena.byteLength + this.states.length * ENTRY_OVERHEAD_BYTES;
  }

  /**
   * Adds the configuration unless present; returns true when it was new. The set is `bitset`,
   * in which every operation of known outcome below `first` is a member; `lastWord` is the word
   * holding its highest member (or anything below first's word when there is none above it).
   */
  insert(
    bitset: Uint32Array,
    first: number,
    lastWord: number,
    state: number,
    hash: number,
  ): boolean {
    const prefixWords = this.prefixWords;
    const firstWord = first >>> 5;
    const windowWords = lastWord >= firstWord ? lastWord - firstWord + 1 : 0;
    const length = prefixWords + windowWords;
    const mask = this.table.length - 1;
    let slot = hash & mask;
    for (;;) {
      const stored = this.table[slot]!;
      if (stored === 0) break;
      const entry = stored - 1;
      if (
        this.hashes[entry] === hash &&
        this.states[entry] === state &&
        this.firsts[entry] === first &&
        this.lengths[entry] === length
      ) {
        const arena = this.arena;
        let at = this.offsets[entry]!;
        let same = true;
        for (let w = 0; w < prefixWords; w++, at++) {
          if (arena[at] !== bitset[w]) {
            same = false;
            break;
          }
        }
        if (same) {
          for (let w = firstWord; w < firstWord + windowWords; w++, at++) {
            if (arena[at] !== bitset[w]) {
              same = false;
              break;
            }
          }
        }
        if (same) return false;
      }
      slot = (slot + 1) & mask;
    }
    if (this.count === this.states.length) {
      this.growEntries();
      return this.insert(bitset, first, lastWord, state, hash);
    }
    if (this.arenaUsed + length > this.arena.length) this.growArena(length);
    const entry = this.count++;
    const offset = this.arenaUsed;
    this.arena.set(bitset.subarray(0, prefixWords), offset);
    this.arena.set(bitset.subarray(firstWord, firstWord + windowWords), offset + prefixWords);
    this.arenaUsed += length;
    this.states[entry] = state;
    this.firsts[entry] = first;
    this.hashes[entry] = hash;
    this.offsets[entry] = offset;
    this.lengths[entry] = length;
    this.table[slot] = entry + 1;
    return true;
  }

  private checkLimit(extraBytes: number): void {
    if (this.bytes + extraBytes > this.maxBytes) throw new CacheLimitError(this.maxBytes);
  }

  private growArena(needWords: number): void {
    const words = Math.max(this.arena.length * 2, this.arenaUsed + needWords);
    this.checkLimit((words - this.arena.length) * 4);
    const arena = new Uint32Array(words);
    arena.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = arena;
  }

  private growEntries(): void {
    const entries = this.states.length * 2;
    this.checkLimit(this.states.length * ENTRY_OVERHEAD_BYTES);
    const widen = <T extends Int32Array | Uint32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.states = widen(this.states, new Int32Array(entries));
    this.firsts = widen(this.firsts, new Int32Array(entries));
    this.hashes = widen(this.hashes, new Uint32Array(entries));
    this.offsets = widen(this.offsets, new Int32Array(entries));
    this.lengths = widen(this.lengths, new Int32Array(entries));
    const table = new Int32Array(entries * 2);
    const mask = table.length - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = this.hashes[entry]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = entry + 1;
    }
    this.table = table;
  }
}
