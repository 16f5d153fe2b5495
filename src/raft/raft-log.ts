// The node's log as the algorithm sees it: the persisted part, read through RaftStorage, with the
// unstable part (accepted, not yet durable) on top. Also tracks the commit and applied indexes.
//
//   storage.firstIndex() ... storage.lastIndex() | unstable.offset ... lastIndex()
//   applied <= committed <= lastIndex()

import { type Entry, RaftError, type RaftStorage, type Snapshot } from "./types.ts";
import { Unstable } from "./unstable.ts";

export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(readonly storage: RaftStorage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i > 0 ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i > 0 ? i : this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.termOrNegative(this.lastIndex());
    if (t < 0) throw new RaftError("INVARIANT", "the term of the last log index is not available");
    return t;
  }

  /**
   * Term of the entry at `index`, or -1 when it is compacted away or not in the log. The valid
   * range is firstIndex()-1 (the snapshot's last entry) .. lastIndex().
   */
  termOrNegative(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return -1;
    const t = this.unstable.maybeTerm(index);
    if (t >= 0) return t;
    try {
      return this.storage.term(index);
    } catch (err) {
      if (err instanceof RaftError && (err.code === "COMPACTED" || err.code === "UNAVAILABLE"))
        return -1;
      throw err;
    }
  }

  /** Term of `index`; throws COMPACTED / UNAVAILABLE like the storage. */
  term(index: number): number {
    const t = this.termOrNegative(index);
    if (t >= 0) return t;
    if (index < this.firstIndex() - 1) {
      throw new RaftError("COMPACTED", `log index ${index} is compacted; send a snapshot instead`);
    }
    throw new RaftError("UNAVAILABLE", `log index ${index} is not in the log yet`);
  }

  matchTerm(index: number, term: number): boolean {
    return this.termOrNegative(index) === term;
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * First entry in ents[from..] that conflicts with the log (different term at that index) or
   * is new (beyond the last index); 0 if all are already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, and its term. The
   * leader skips every entry of a conflicting term in one round trip instead of one per entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrNegative(index);
      if (t < 0) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * The follower's append: if the log matches at (index, logTerm), appends the new part of
   * `ents`, truncating a conflicting suffix, and returns the index of the last new entry; else -1.
   * `appendedFrom` is the index of the first entry written (0 = nothing new).
   */
  maybeAppend(
    index: number,
    logTerm: number,
    ents: readonly Entry[],
  ): { last: number; appendedFrom: number } {
    if (!this.matchTerm(index, logTerm)) return { last: -1, appendedFrom: 0 };
    const last = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict === 0) return { last, appendedFrom: 0 };
    if (conflict <= this.committed) {
      throw new RaftError(
        "INVARIANT",
        `entry ${conflict} conflicts with a committed entry (commit ${this.committed})`,
      );
    }
    const from = conflict - (index + 1);
    this.appendRange(ents, from, ents.length);
    return { last, appendedFrom: conflict };
  }

  /** Appends contiguous entries; returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    return this.appendRange(ents, 0, ents.length);
  }

  /** The leader's append of one new entry at lastIndex() + 1 (hot path: no array per entry). */
  appendOne(entry: Entry): void {
    const unstable = this.unstable;
    if (entry.index !== this.lastIndex() + 1) {
      throw new RaftError(
        "INVARIANT",
        `appendOne at ${entry.index}, expected ${this.lastIndex() + 1}`,
      );
    }
    if (unstable.entries.length === 0 && unstable.offset !== entry.index) {
      // After a snapshot or a crash the unstable part may start elsewhere; realign.
      unstable.truncateAndAppend([entry], 0, 1);
      return;
    }
    unstable.push(entry);
  }

  private appendRange(ents: readonly Entry[], from: number, to: number): number {
    const after = ents[from]!.index - 1;
    if (after < this.committed) {
      throw new RaftError(
        "INVARIANT",
        `append after ${after} is below the commit index ${this.committed}`,
      );
    }
    if (after > this.lastIndex()) {
      throw new RaftError(
        "INVARIANT",
        `append after ${after} leaves a gap after ${this.lastIndex()}`,
      );
    }
    this.unstable.truncateAndAppend(ents, from, to);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftError(
        "INVARIANT",
        `commit ${index} is beyond the last index ${this.lastIndex()}: the log was corrupted, truncated or lost`,
      );
    }
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new RaftError(
        "INVARIANT",
        `applied index ${index} outside [applied ${this.applied}, committed ${this.committed}]`,
      );
    }
    this.applied = index;
  }

  /** Whether committed entries wait to be applied. */
  hasNextEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** Committed entries not yet applied, up to `maxBytes` (at least one). */
  nextEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Entries [lo, hi) with at most `maxBytes` of payload (at least one entry if lo < hi). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first)
      throw new RaftError("COMPACTED", `log index ${lo} is compacted (first index ${first})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(
        "UNAVAILABLE",
        `log slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`,
      );
    }
    const offset = this.unstable.offset;
    let result: Entry[];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      result = this.storage.entries(lo, storedHi, maxBytes);
      // The storage stopped at the byte limit, or the unstable part is not needed.
      if (result.length < storedHi - lo || hi <= offset) return result;
      // Copy: the storage may hand out an array it keeps.
      result = result.slice();
      lo = offset;
    } else {
      result = [];
    }
    let size = 0;
    for (const e of result) size += entryBytes(e);
    const ents = this.unstable.entries;
    // Find the byte-limited end first, then copy once at exact size.
    let end = lo;
    while (end < hi) {
      size += entryBytes(ents[end - offset]!);
      if (size > maxBytes && (result.length > 0 || end > lo)) break;
      end++;
    }
    if (result.length === 0) return ents.slice(lo - offset, end - offset);
    for (let i = lo; i < end; i++) result.push(ents[i - offset]!);
    return result;
  }

  /** A snapshot from the leader replaces the log. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** A snapshot to send: the unstable one if any, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
