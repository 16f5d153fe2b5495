// The configuration a node acts on (diss. §4.1): the base configuration (its snapshot's, plus
// every committed change) followed by the conf-change entries still uncommitted in its log, in
// log order. A change counts from the moment its entry is appended, and is undone if that
// entry is truncated away by a new leader.

import { applyConfChange, decodeConfChange } from "./conf-change.ts";
import type { ConfChange, ConfState, Entry, NodeId } from "./types.ts";

interface LoggedChange {
  readonly index: number;
  readonly change: ConfChange;
}

export class Membership {
  private base: ConfState;
  /** Uncommitted changes in log order (at most one on a leader that follows the rules). */
  private changes: LoggedChange[] = [];
  private current: ConfState;

  constructor(conf: ConfState) {
    this.base = conf;
    this.current = conf;
  }

  get conf(): ConfState {
    return this.current;
  }

  isVoter(id: NodeId): boolean {
    return this.current.voters.includes(id);
  }

  /** Index of the newest change entry not yet folded into the base (0 if none). */
  lastChangeIndex(): number {
    return this.changes[this.changes.length - 1]?.index ?? 0;
  }

  hasUncommittedChanges(): boolean {
    return this.changes.length > 0;
  }

  /** The change in the entry at `index` was appended. Throws INVALID_CONF_CHANGE if it makes no sense. */
  add(index: number, change: ConfChange): void {
    this.current = applyConfChange(this.current, change);
    this.changes.push({ index, change });
  }

  /** Records the conf-change entries among ents[from..] (just appended). Returns whether any. */
  addEntries(ents: readonly Entry[], from: number): boolean {
    let changed = false;
    for (let i = from; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.type !== "conf-change") continue;
      this.add(e.index, decodeConfChange(e.data));
      changed = true;
    }
    return changed;
  }

  /** Entries from `index` on were replaced. Returns whether the configuration changed. */
  truncateFrom(index: number): boolean {
    const keep = this.changes.filter((c) => c.index < index);
    if (keep.length === this.changes.length) return false;
    this.changes = keep;
    let conf = this.base;
    for (const c of keep) conf = applyConfChange(conf, c.change);
    this.current = conf;
    return true;
  }

  /** Folds changes committed up to `committed` into the base, keeping the list short. */
  commitTo(committed: number): void {
    let n = 0;
    while (n < this.changes.length && this.changes[n]!.index <= committed) {
      this.base = applyConfChange(this.base, this.changes[n]!.change);
      n++;
    }
    if (n > 0) this.changes = this.changes.slice(n);
  }

  /** A snapshot replaced the log: its configuration is the whole truth. */
  restore(conf: ConfState): void {
    this.base = conf;
    this.current = conf;
    this.changes = [];
  }
}
