// The leader's view of one member's log: how far it matches (match), what to send next (next),
// and how to send it (state):
// - probe: we do not know where the follower's log diverges; send one append per heartbeat
//   interval and wait for its answer.
// - replicate: the follower accepted our last append; stream appends optimistically, bounded by
//   the inflight window.
// - snapshot: the follower is behind the compaction point; a snapshot is in transfer and no
//   appends are sent until it is reported done.

import { Inflights } from "./inflights.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class MemberProgress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** Index of the snapshot in transfer (state "snapshot"). */
  pendingSnapshot = 0;
  /** The leader's tick counter when the snapshot was sent. */
  snapshotSentTick = 0;
  /** In probe state: an append was sent and is not answered yet. */
  probeSent = false;
  isLearner: boolean;
  /** The leader's tick counter when it last heard from this member. */
  lastContactTick: number;
  /** The highest commit index this member was sent (that it can use: within what it has). */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(
    next: number,
    isLearner: boolean,
    maxInflightMessages: number,
    maxInflightBytes: number,
    nowTick: number,
  ) {
    this.next = next;
    this.isLearner = isLearner;
    this.lastContactTick = nowTick;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index: resume just past it.
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number, nowTick: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.snapshotSentTick = nowTick;
  }

  /** An acknowledgement up to `index`. Returns whether match advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** Bookkeeping after sending an append whose last entry is `lastIndex`. */
  sentEntries(entryCount: number, lastIndex: number, sizeBytes: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, sizeBytes);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /**
   * A rejection of the append that followed `rejected`; `matchHint` is the highest index that
   * may still match (from the follower's conflict hint). Returns false for stale rejections.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // Stale: we already know the follower matches beyond it.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the latest probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back appends to this member. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      default:
        return true;
    }
  }
}
