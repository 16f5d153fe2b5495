// RaftNode: the public driver around the algorithm (raft.ts), in the style of etcd's RawNode.
// Inputs change the state; ready() hands out what the caller must persist, send and apply;
// advance() records that it was done. See the Ready contract in types.ts and docs/raft.md.

import { Raft } from "./raft.ts";
import { entryBytes } from "./raft-log.ts";
import { readIndex } from "./reads.ts";
import {
  type ConfChange,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Progress,
  type ProposeResult,
  type RaftConfig,
  RaftError,
  type RaftNodeApi,
  type Ready,
  type Role,
  type SoftState,
  type Status,
} from "./types.ts";

interface Outstanding {
  readonly hardState: HardState | undefined;
  readonly softState: SoftState | undefined;
  readonly lastEntryIndex: number;
  readonly lastEntryTerm: number;
  readonly snapshotIndex: number;
  readonly appliedTo: number;
  readonly committedBytes: number;
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

export class RaftNode implements RaftNodeApi {
  private readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Outstanding | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    const r = this.raft;
    this.prevHard = { term: r.term, vote: r.vote, commit: r.log.committed };
    this.prevSoft = { leaderId: r.lead, role: r.role };
  }

  tick(): void {
    this.raft.tick();
  }

  step(message: Message): void {
    this.raft.step(message);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose("normal", data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change);
  }

  readIndex(context: Uint8Array): void {
    readIndex(this.raft, context);
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  campaign(): void {
    this.raft.operatorCampaign();
  }

  reportLeaderLost(): void {
    this.raft.reportLeaderLost();
  }

  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  reportSnapshot(to: NodeId, succeeded: boolean): void {
    this.raft.reportSnapshot(to, succeeded);
  }

  hasReady(): boolean {
    // Nothing new can be handed out until the outstanding Ready is acknowledged.
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    r.flush();
    if (r.hasPendingOutput()) return true;
    const u = r.log.unstable;
    if (u.entries.length > 0 || u.snapshot !== undefined) return true;
    if (r.log.hasNextEntries()) return true;
    if (r.lead !== this.prevSoft.leaderId || r.role !== this.prevSoft.role) return true;
    const h = this.prevHard;
    return r.term !== h.term || r.vote !== h.vote || r.log.committed !== h.commit;
  }

  ready(): Ready {
    if (this.outstanding !== undefined) {
      throw new RaftError(
        "INVARIANT",
        "ready() called again before advance(): handle the Ready, then call advance()",
      );
    }
    const r = this.raft;
    r.flush();
    const log = r.log;
    const unstable = log.unstable;
    const entries = unstable.entries.length > 0 ? unstable.handOut() : NO_ENTRIES;
    const snapshot = unstable.snapshot;
    const committedEntries = log.hasNextEntries()
      ? log.nextEntries(r.cfg.maxCommittedBytesPerReady)
      : NO_ENTRIES;
    const messages = r.takeMessages();
    const readStates = r.takeReadStates();

    let softState: SoftState | undefined;
    if (r.lead !== this.prevSoft.leaderId || r.role !== this.prevSoft.role) {
      softState = { leaderId: r.lead, role: r.role };
    }
    let hardState: HardState | undefined;
    const h = this.prevHard;
    if (log.committed < h.commit || r.term < h.term) {
      throw new RaftError(
        "INVARIANT",
        `hard state going backwards: term ${h.term} -> ${r.term}, commit ${h.commit} -> ${log.committed}`,
      );
    }
    if (r.term !== h.term || r.vote !== h.vote || log.committed !== h.commit) {
      hardState = { term: r.term, vote: r.vote, commit: log.committed };
    }
    // Term and vote must be durable before any message that depends on them leaves; a commit
    // index alone may be lost and is relearned from the leader.
    const mustSync =
      entries.length > 0 ||
      snapshot !== undefined ||
      (hardState !== undefined && (hardState.term !== h.term || hardState.vote !== h.vote));

    let committedBytes = 0;
    for (let i = 0; i < committedEntries.length; i++)
      committedBytes += entryBytes(committedEntries[i]!);
    const lastEntry = entries.length > 0 ? entries[entries.length - 1]! : undefined;
    const lastCommitted =
      committedEntries.length > 0 ? committedEntries[committedEntries.length - 1]! : undefined;
    this.outstanding = {
      hardState,
      softState,
      lastEntryIndex: lastEntry?.index ?? 0,
      lastEntryTerm: lastEntry?.term ?? 0,
      snapshotIndex: snapshot?.metadata.index ?? 0,
      appliedTo: lastCommitted?.index ?? snapshot?.metadata.index ?? 0,
      committedBytes,
    };
    return {
      softState,
      hardState,
      entries,
      snapshot,
      committedEntries,
      messages,
      readStates,
      mustSync,
    };
  }

  advance(): void {
    const o = this.outstanding;
    if (o === undefined)
      throw new RaftError("INVARIANT", "advance() called without a ready() to acknowledge");
    this.outstanding = undefined;
    const log = this.raft.log;
    if (o.hardState !== undefined) this.prevHard = o.hardState;
    if (o.softState !== undefined) this.prevSoft = o.softState;
    if (o.snapshotIndex > 0) log.unstable.stableSnapTo(o.snapshotIndex);
    if (o.lastEntryIndex > 0) {
      const stillUnstable = log.unstable.maybeTerm(o.lastEntryIndex) === o.lastEntryTerm;
      if (stillUnstable && log.storage.lastIndex() < o.lastEntryIndex) {
        throw new RaftError(
          "INVARIANT",
          `advance() before Ready.entries up to ${o.lastEntryIndex} were persisted (storage ends at ${log.storage.lastIndex()})`,
        );
      }
      log.unstable.stableTo(o.lastEntryIndex, o.lastEntryTerm);
    }
    if (o.appliedTo > 0) log.appliedTo(o.appliedTo);
    if (o.committedBytes > 0 && this.raft.role === "leader")
      this.raft.reduceUncommittedBytes(o.committedBytes);
  }

  /** The core's role right now (status() without its copies, for per-request checks). */
  get role(): Role {
    return this.raft.role;
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, Progress>();
    if (r.role === "leader") {
      for (const [id, pr] of r.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: r.isRecentlyActive(id, pr),
          isLearner: pr.isLearner,
          lastContactTicks: id === r.id ? 0 : r.lastContactTicks(pr),
          inflightMessages: pr.inflights.count,
        });
      }
    }
    return {
      id: r.id,
      role: r.role,
      leaderId: r.lead,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: { voters: [...r.conf.voters], learners: [...r.conf.learners] },
      leadTransferee: r.leadTransferee,
      progress,
    };
  }
}
