// The part of the log not yet persisted: entries (and possibly a snapshot) that the core has
// accepted and handed out in Ready, until the caller reports them durable via advance().
// `offset` is the index of entries[0]; everything below it is in RaftStorage.

import { type Entry, RaftError, type Snapshot } from "./types.ts";

export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  /** Replaced, never mutated, while `shared` (see handOut). */
  entries: Entry[] = [];
  offset: number;
  private shared = false;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** Index of the first entry, if only a snapshot is unstable. */
  maybeFirstIndex(): number {
    return this.snapshot !== undefined ? this.snapshot.metadata.index + 1 : 0;
  }

  /** Last index held here, or 0 if nothing. */
  maybeLastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata.index;
    return 0;
  }

  /** Term of `index` if it is held here, else -1. */
  maybeTerm(index: number): number {
    if (index < this.offset) {
      const snap = this.snapshot;
      if (snap !== undefined && snap.metadata.index === index) return snap.metadata.term;
      return -1;
    }
    const last = this.maybeLastIndex();
    if (last === 0 || index > last) return -1;
    return this.entries[index - this.offset]!.term;
  }

  /** Entries up to (index, term) are now durable. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t < 0) return;
    // Only if the entry is still the one that was persisted (it may have been replaced since).
    if (t === term && index >= this.offset) {
      const n = index + 1 - this.offset;
      this.entries = n >= this.entries.length ? [] : this.entries.slice(n);
      this.shared = false;
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.shared = false;
    this.snapshot = snapshot;
  }

  /** Appends `ents` (contiguous), replacing any entries at or after ents[0].index. */
  truncateAndAppend(ents: readonly Entry[], from: number, to: number): void {
    const after = ents[from]!.index;
    if (after === this.offset + this.entries.length) {
      if (this.entries.length === 0) {
        // The common case after advance(): one exact-size copy instead of growing by push.
        this.entries = ents.slice(from, to);
        this.shared = false;
        return;
      }
      this.ownEntries();
      for (let i = from; i < to; i++) this.entries.push(ents[i]!);
    } else if (after <= this.offset) {
      // Replaces everything unstable; the persisted entries at >= after are overwritten when
      // these are persisted (the Ready contract), and shadowed until then.
      this.offset = after;
      this.entries = ents.slice(from, to);
      this.shared = false;
    } else {
      const kept = this.entries.slice(0, after - this.offset);
      for (let i = from; i < to; i++) kept.push(ents[i]!);
      this.entries = kept;
      this.shared = false;
    }
  }

  /**
   * Hands the entries array out (Ready.entries) without copying. The array is shared until
   * the next change here, which copies first (copy on write), so the caller's view is stable.
   */
  handOut(): readonly Entry[] {
    this.shared = true;
    return this.entries;
  }

  /** Appends one entry (the leader's proposals). */
  push(entry: Entry): void {
    this.ownEntries();
    this.entries.push(entry);
  }

  private ownEntries(): void {
    if (this.shared) {
      this.entries = this.entries.slice();
      this.shared = false;
    }
  }

  /** Entries [lo, hi) held here; the caller checked the bounds. */
  slice(lo: number, hi: number): Entry[] {
    if (lo < this.offset || hi > this.offset + this.entries.length) {
      throw new RaftError(
        "INVARIANT",
        `unstable slice [${lo}, ${hi}) out of bounds [${this.offset}, ${this.offset + this.entries.length})`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
