// An in-memory RaftStorage with the caller's write side. Tests, the simulator and the benchmark
// use it as "durable storage": on a simulated crash a new RaftNode is built over the same
// MemoryStorage, which holds exactly what the caller persisted from Ready.

import { applyConfChange, decodeConfChange } from "./conf-change.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  RaftError,
  type RaftStorage,
  type Snapshot,
} from "./types.ts";

const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

export class MemoryStorage implements RaftStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  /** entries[i] has index dummyIndex + 1 + i. */
  private ents: Entry[] = [];
  /** The last compacted entry (index and term), so term(firstIndex() - 1) is known. */
  private dummyIndex = 0;
  private dummyTerm = 0;

  /**
   * `confState` is the cluster's initial membership (bootstrap): it becomes the configuration of
   * an empty snapshot at index 0. Every node of a cluster, including one that joins later, is
   * created with the same bootstrap configuration: it is the configuration "before index 1",
   * and a joiner that receives the log from index 1 builds the current membership from it. A
   * node created without one can only catch up by receiving a snapshot.
   */
  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.snap = {
      metadata: { index: 0, term: 0, confState: copyConf(confState) },
      data: new Uint8Array(0),
    };
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hard, confState: this.snap.metadata.confState };
  }

  hardState(): HardState {
    return this.hard;
  }

  /** Membership as of the latest snapshot. */
  confState(): ConfState {
    return this.snap.metadata.confState;
  }

  /** Membership as of `index` (snapshot's, plus conf-change entries up to `index`). */
  confStateAt(index: number): ConfState {
    const snapIndex = this.snap.metadata.index;
    if (index < snapIndex || index > this.lastIndex()) {
      throw new RaftError(
        "UNAVAILABLE",
        `conf state at ${index} is outside [${snapIndex}, ${this.lastIndex()}]`,
      );
    }
    let conf = this.snap.metadata.confState;
    // compact() never passes the snapshot, so every entry after the snapshot is still here.
    for (let i = snapIndex + 1; i <= index; i++) {
      const e = this.ents[i - this.dummyIndex - 1]!;
      if (e.type === "conf-change") conf = applyConfChange(conf, decodeConfChange(e.data));
    }
    return conf;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.dummyIndex) throw new RaftError("COMPACTED", `entry ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(
        "UNAVAILABLE",
        `entries up to ${hi - 1} requested, last is ${this.lastIndex()}`,
      );
    }
    if (lo >= hi) return [];
    const base = this.dummyIndex + 1;
    let size = 0;
    let end = lo;
    while (end < hi) {
      size += this.ents[end - base]!.data.byteLength;
      if (size > maxBytes && end > lo) break;
      end++;
    }
    return this.ents.slice(lo - base, end - base);
  }

  term(index: number): number {
    if (index < this.dummyIndex) throw new RaftError("COMPACTED", `entry ${index} is compacted`);
    if (index === this.dummyIndex) return this.dummyTerm;
    if (index > this.lastIndex())
      throw new RaftError("UNAVAILABLE", `entry ${index} is not in the log`);
    return this.ents[index - this.dummyIndex - 1]!.term;
  }

  firstIndex(): number {
    return this.dummyIndex + 1;
  }

  lastIndex(): number {
    return this.dummyIndex + this.ents.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Persists entries from Ready; an entry at an existing index replaces it and all after it. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    if (last <= this.dummyIndex) return; // all compacted already
    if (first > this.lastIndex() + 1) {
      throw new RaftError(
        "UNAVAILABLE",
        `append at ${first} would leave a gap after the last index ${this.lastIndex()}`,
      );
    }
    const skip = Math.max(0, this.dummyIndex + 1 - first);
    const keep = first + skip - this.dummyIndex - 1;
    if (keep < this.ents.length) this.ents.length = keep;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  /** Installs a snapshot received from the leader (Ready.snapshot): it replaces the whole log. */
  applySnapshot(snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    if (index <= this.snap.metadata.index && this.snap.metadata.index > 0) {
      throw new RaftError(
        "COMPACTED",
        `snapshot at ${index} is older than the stored one at ${this.snap.metadata.index}`,
      );
    }
    this.snap = snapshot;
    this.ents = [];
    this.dummyIndex = index;
    this.dummyTerm = snapshot.metadata.term;
  }

  /**
   * Records a snapshot of the application's state at `index` (applied, so committed). Pass
   * `confState` as of `index`, or undefined to have it computed from the log (confStateAt).
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new RaftError(
        "COMPACTED",
        `a snapshot at ${this.snap.metadata.index} already covers ${index}`,
      );
    }
    if (index > this.hard.commit) {
      throw new RaftError(
        "UNAVAILABLE",
        `cannot snapshot at ${index}: only ${this.hard.commit} is committed`,
      );
    }
    const conf = confState ?? this.confStateAt(index);
    this.snap = {
      metadata: { index, term: this.term(index), confState: copyConf(conf) },
      data,
    };
    return this.snap;
  }

  /** Discards entries up to `index`, which must be covered by the latest snapshot. */
  compact(index: number): void {
    if (index <= this.dummyIndex)
      throw new RaftError("COMPACTED", `already compacted up to ${this.dummyIndex}`);
    if (index > this.snap.metadata.index) {
      throw new RaftError(
        "UNAVAILABLE",
        `compact(${index}) passes the latest snapshot at ${this.snap.metadata.index}; createSnapshot first`,
      );
    }
    const term = this.term(index);
    this.ents = this.ents.slice(index - this.dummyIndex);
    this.dummyIndex = index;
    this.dummyTerm = term;
  }
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
