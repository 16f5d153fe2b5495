// The newest log entries in memory, as the consensus core knows them.
//
// Right after entries are appended the core reads them back: the leader to send them to a
// follower that was not ready for them yet, every node to apply them once they commit. Reading
// them from the segment files costs a read system call, a CRC check and a decode each time; this
// window answers those reads from memory. It is only a cache: a range it does not fully hold is
// read from the log store, and the member clears it wherever the log changes other than by a
// plain append (truncation of a conflicting suffix, a snapshot replacing the log).
import type { Entry } from "../raft/index.ts";

export interface RecentEntriesLimits {
  /** Entries kept at most (the oldest are dropped first). */
  readonly maxEntries: number;
  /** Payload bytes kept at most. */
  readonly maxBytes: number;
}

export const DEFAULT_RECENT_ENTRIES_LIMITS: RecentEntriesLimits = {
  maxEntries: 8192,
  maxBytes: 8 * 1024 * 1024,
};

export class RecentEntries {
  #entries: Entry[] = [];
  /** The index of #entries[0]. */
  #first = 0;
  #bytes = 0;
  readonly #limits: RecentEntriesLimits;

  constructor(limits: RecentEntriesLimits = DEFAULT_RECENT_ENTRIES_LIMITS) {
    if (!(limits.maxEntries >= 1 && limits.maxBytes >= 0))
      throw new RangeError("RecentEntries needs maxEntries >= 1 and maxBytes >= 0");
    this.#limits = limits;
  }

  /** How many entries are held (for tests and metrics). */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Records entries just handed to the log store. They must continue the window; entries that
   * do not (after a gap) restart it, and entries that overwrite held indexes replace them and
   * everything after.
   */
  remember(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const start = entries[0]!.index;
    const end = this.#first + this.#entries.length;
    if (this.#entries.length === 0 || start < this.#first || start > end) this.clear();
    else if (start < end) this.forgetFrom(start);
    if (this.#entries.length === 0) this.#first = start;
    for (const entry of entries) {
      if (entry.index !== this.#first + this.#entries.length) {
        // Not consecutive: keep nothing rather than something wrong.
        this.clear();
        return;
      }
      this.#entries.push(entry);
      this.#bytes += entry.data.length;
    }
    this.#trim();
  }

  /** Drops the entries at `index` and after (a conflicting suffix is being replaced). */
  forgetFrom(index: number): void {
    const keep = index - this.#first;
    if (keep <= 0) {
      this.clear();
      return;
    }
    if (keep >= this.#entries.length) return;
    for (let k = keep; k < this.#entries.length; k++) this.#bytes -= this.#entries[k]!.data.length;
    this.#entries.length = keep;
  }

  clear(): void {
    this.#entries = [];
    this.#bytes = 0;
  }

  /**
   * Entries [lo, hi) with at most `maxBytes` of payload but at least one, exactly as the log
   * store would answer; undefined unless the window holds all of them.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi || lo < this.#first || hi > this.#first + this.#entries.length) return undefined;
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.#entries[index - this.#first]!;
      if (result.length > 0 && bytes + entry.data.length > maxBytes) break;
      bytes += entry.data.length;
      result.push(entry);
    }
    return result;
  }

  #trim(): void {
    let drop = 0;
    let bytes = this.#bytes;
    const length = this.#entries.length;
    while (
      length - drop > 1 &&
      (length - drop > this.#limits.maxEntries || bytes > this.#limits.maxBytes)
    ) {
      bytes -= this.#entries[drop]!.data.length;
      drop++;
    }
    if (drop === 0) return;
    // Dropping in chunks keeps the copy amortized: the window shifts only when it overflows.
    const chunk = Math.max(drop, Math.min(length - 1, Math.floor(this.#limits.maxEntries / 4)));
    for (let k = drop; k < chunk; k++) bytes -= this.#entries[k]!.data.length;
    this.#entries = this.#entries.slice(chunk);
    this.#first += chunk;
    this.#bytes = bytes;
  }
}
