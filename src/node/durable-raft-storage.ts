// The consensus core's read-only view of what this node has made durable: the log store's
// entries, the hard state, and the newest snapshot's metadata. The core never writes here; the
// member persists each Ready and only then advances the core.
import {
  type ConfState,
  type Entry,
  type HardState,
  RaftError,
  type RaftStorage,
  type Snapshot,
} from "../raft/index.ts";
import {
  ENTRY_TYPE_CONF_CHANGE,
  ENTRY_TYPE_NORMAL,
  type HardStateStore,
  type LogEntry,
  type LogStore,
} from "../storage/index.ts";
import { RecentEntries } from "./recent-entries.ts";

/** Membership with the addresses of every member, as stored in snapshots and the hard state. */
export interface Membership {
  readonly confState: ConfState;
  readonly addresses: Readonly<Record<string, { peer: string; api: string }>>;
}

/** What a snapshot message's `data` carries: the real bytes move in chunks (snapshot-transfer.ts). */
export interface SnapshotDescriptor {
  readonly index: number;
  readonly term: number;
}

export interface SnapshotState {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeDescriptor(descriptor: SnapshotDescriptor): Uint8Array {
  return encoder.encode(JSON.stringify(descriptor));
}

export function decodeDescriptor(data: Uint8Array): SnapshotDescriptor {
  return JSON.parse(decoder.decode(data)) as SnapshotDescriptor;
}

export function toLogEntry(entry: Entry): LogEntry {
  return {
    index: entry.index,
    term: entry.term,
    type: entry.type === "conf-change" ? ENTRY_TYPE_CONF_CHANGE : ENTRY_TYPE_NORMAL,
    data: entry.data,
  };
}

function fromLogEntry(entry: LogEntry): Entry {
  return {
    index: entry.index,
    term: entry.term,
    type: entry.type === ENTRY_TYPE_CONF_CHANGE ? "conf-change" : "normal",
    data: entry.data,
  };
}

export class DurableRaftStorage implements RaftStorage {
  /** The newest entries, so that reading them back right after the append skips the disk. */
  readonly recent = new RecentEntries();

  constructor(
    private readonly log: LogStore,
    private readonly hardStateStore: HardStateStore,
    /** The newest durable snapshot, or the bootstrap membership at index 0. */
    private readonly snapshotState: () => SnapshotState,
    /** Entries up to this index are applied: the commit index is at least that. */
    private readonly appliedIndex: () => number,
  ) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    const saved = this.hardStateStore.current().hardState;
    // The commit index is saved lazily (it is not needed for safety); what was applied was
    // certainly committed, so the restart never goes below it.
    const commit = Math.min(Math.max(saved.commit, this.appliedIndex()), this.log.lastIndex());
    return {
      hardState: { term: saved.term, vote: saved.vote, commit },
      confState: this.snapshotState().membership.confState,
    };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.check(lo, hi - 1);
    const cached = this.recent.slice(lo, hi, maxBytes);
    if (cached !== undefined) {
      // The window and the log must agree; if they ever did not, the log is the truth.
      const last = cached[cached.length - 1]!;
      if (cached[0]!.term === this.log.term(lo) && last.term === this.log.term(last.index))
        return cached;
      this.recent.clear();
    }
    return this.log.entries(lo, hi, maxBytes).map(fromLogEntry);
  }

  term(index: number): number {
    const snapshot = this.snapshotState();
    if (index === snapshot.index) return snapshot.term;
    if (index === this.log.firstIndex() - 1) return this.log.term(index);
    this.check(index, index);
    return this.log.term(index);
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  snapshot(): Snapshot {
    const state = this.snapshotState();
    return {
      metadata: { index: state.index, term: state.term, confState: state.membership.confState },
      data: encodeDescriptor({ index: state.index, term: state.term }),
    };
  }

  private check(lo: number, hi: number): void {
    if (lo < this.log.firstIndex()) {
      throw new RaftError(
        "COMPACTED",
        `log index ${lo} is compacted (first index ${this.log.firstIndex()})`,
      );
    }
    if (hi > this.log.lastIndex()) {
      throw new RaftError(
        "UNAVAILABLE",
        `log index ${hi} is not in the log yet (last ${this.log.lastIndex()})`,
      );
    }
  }
}
