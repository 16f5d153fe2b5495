// Log replication (Raft §5.3) and commitment (§5.4.2): the leader's side (sending appends and
// snapshots within each member's flow control, handling acknowledgements, advancing the commit
// index) and the follower's side (accepting or rejecting appends, heartbeats and snapshots).
// Functions over the Raft state (raft.ts), split out to keep each file readable.

import { NO_ENTRIES } from "./messages.ts";
import type { MemberProgress } from "./progress.ts";
import { committedIndex, isQuorum } from "./quorum.ts";
import type { Raft } from "./raft.ts";
import { entryBytes } from "./raft-log.ts";
import { foldCommittedConfChanges, onLogTruncated, trackConfEntries } from "./raft-membership.ts";
import { answerRead, releaseWaitingReads } from "./reads.ts";
import { type Entry, type Message, NO_NODE, type NodeId, RaftError } from "./types.ts";

export function handleAppendResponse(r: Raft, m: Message, pr: MemberProgress): void {
  if (m.reject) {
    // Fast backtracking (§5.3, "conflicting term" optimisation): the follower told us its
    // last index or the last index of the term that conflicts; skip that whole term.
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === "replicate") pr.becomeProbe();
      maybeSendAppend(r, m.from, pr, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) return;
  if (pr.state === "probe") pr.becomeReplicate();
  else if (pr.state === "snapshot" && pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);

  if (maybeCommit(r)) {
    if (r.role !== "leader") return;
    // Tell everyone the new commit index (batched with the next Ready); or, with
    // lazyCommitPropagation, let it travel with the next append, or alone within a tick
    // (propagateCommit): an append of its own per commit, and its answer, were close to half of
    // all the messages between the members under a steady write load.
    if (!r.cfg.lazyCommitPropagation) r.needsBroadcast = true;
  } else if (wasPaused) {
    maybeSendAppend(r, m.from, pr, false);
  }
  // Fill the pipelining window.
  while (pr.state === "replicate" && maybeSendAppend(r, m.from, pr, false)) {}
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.sendTimeoutNow(m.from);
  }
}

export function handleHeartbeatResponse(r: Raft, m: Message, pr: MemberProgress): void {
  pr.probeSent = false;
  // The follower's commit index is in our log (leader completeness), so it is a safe match.
  // This repairs a lost acknowledgement, in particular of an installed snapshot.
  if (m.commit > pr.match) pr.maybeUpdate(m.commit);
  if (pr.state === "snapshot") {
    if (pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
    } else if (r.tickCount - pr.snapshotSentTick >= r.cfg.snapshotRetryTicks) {
      // The follower is alive but the snapshot has not arrived: the message or the transfer
      // was lost without a reportSnapshot(). Send it again.
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
  }
  // The follower is alive: let one more append through a full window.
  if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.log.lastIndex()) maybeSendAppend(r, m.from, pr, true);
  // Acknowledgements of ReadIndex rounds (also used by lease reads during a transfer).
  if (r.readOnly.size === 0 || m.context === undefined || m.context.length === 0) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (acks === undefined || !isQuorum(r.conf.voters, (id) => acks.has(id))) return;
  for (const req of r.readOnly.advance(m.context)) answerRead(r, req.from, req.context, req.index);
}

/** Sends the next append to `to` if its progress allows. Returns whether a message was sent. */
export function maybeSendAppend(
  r: Raft,
  to: NodeId,
  pr: MemberProgress,
  sendIfEmpty: boolean,
): boolean {
  if (pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.termOrNegative(prevIndex);
  if (prevTerm < 0) return sendSnapshot(r, to, pr);
  const lastIndex = r.log.lastIndex();
  let entries: readonly Entry[] = NO_ENTRIES;
  let bytes = 0;
  if (pr.next <= lastIndex) {
    try {
      entries = r.log.slice(pr.next, lastIndex + 1, r.cfg.maxMessageSizeBytes);
    } catch (err) {
      // Compacted between the term lookup and the read: fall back to a snapshot.
      if (err instanceof RaftError && err.code === "COMPACTED") return sendSnapshot(r, to, pr);
      throw err;
    }
    for (let i = 0; i < entries.length; i++) bytes += entryBytes(entries[i]!);
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send(
    "append",
    to,
    r.term,
    prevTerm,
    prevIndex,
    entries,
    r.log.committed,
    false,
    0,
    undefined,
    undefined,
  );
  // The follower commits no further than the entries it holds once this arrives.
  const usable = Math.min(r.log.committed, prevIndex + entries.length);
  if (usable > pr.sentCommit) pr.sentCommit = usable;
  pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
  return true;
}

/**
 * Sends the commit index, alone, to each member that holds committed entries it was not told
 * are committed; once per tick, so that a commit no append carried reaches the followers soon.
 */
export function propagateCommit(r: Raft): void {
  if (!r.cfg.lazyCommitPropagation) return;
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    if (Math.min(pr.match, r.log.committed) > pr.sentCommit) maybeSendAppend(r, id, pr, true);
  }
}

export function sendSnapshot(r: Raft, to: NodeId, pr: MemberProgress): boolean {
  // Only to a follower that answered recently: a snapshot is expensive to move.
  if (!r.isRecentlyActive(to, pr)) return false;
  const snapshot = r.log.snapshot();
  if (snapshot.metadata.index === 0) {
    throw new RaftError(
      "INVARIANT",
      `follower ${to} needs entries that are compacted, but there is no snapshot`,
    );
  }
  r.send("snapshot", to, r.term, 0, 0, NO_ENTRIES, 0, false, 0, snapshot, undefined);
  pr.becomeSnapshot(snapshot.metadata.index, r.tickCount);
  return true;
}

export function bcastAppend(r: Raft): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    if (maybeSendAppend(r, id, pr, true)) {
      while (pr.state === "replicate" && maybeSendAppend(r, id, pr, false)) {}
    }
  }
}

export function bcastHeartbeat(r: Raft, context: Uint8Array | undefined): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    // Never tell a follower to commit beyond what it is known to have.
    const commit = Math.min(pr.match, r.log.committed);
    if (commit > pr.sentCommit) pr.sentCommit = commit;
    r.send("heartbeat", id, r.term, 0, 0, NO_ENTRIES, commit, false, 0, undefined, context);
  }
}

/**
 * Commit the highest index a quorum of voters has, but only if it is of the current term:
 * entries of earlier terms are committed indirectly (§5.4.2, figure 8).
 */
export function maybeCommit(r: Raft): boolean {
  const mci = committedIndex(r.conf.voters, (id) => r.progress.get(id)?.match ?? 0, r.matchScratch);
  if (mci <= r.log.committed || r.log.termOrNegative(mci) !== r.term) return false;
  const firstInTerm = r.log.termOrNegative(r.log.committed) !== r.term;
  r.log.commitTo(mci);
  foldCommittedConfChanges(r);
  if (firstInTerm) releaseWaitingReads(r);
  // A leader that the committed configuration no longer contains steps down (diss. §4.2.2):
  // until then it managed the cluster without counting itself.
  if (!r.isVoter(r.id) && !r.membership.hasUncommittedChanges()) {
    r.becomeFollower(r.term, NO_NODE);
  }
  return true;
}

export function handleAppend(r: Raft, m: Message): void {
  const committed = r.log.committed;
  if (m.index < committed) {
    r.sendAppendResponse(m.from, committed);
    return;
  }
  const prevLast = r.log.lastIndex();
  const result = r.log.maybeAppend(m.index, m.logTerm, m.entries);
  if (result.last >= 0) {
    if (result.appendedFrom > 0) {
      if (result.appendedFrom <= prevLast) onLogTruncated(r, result.appendedFrom);
      trackConfEntries(r, m.entries, result.appendedFrom - (m.index + 1));
    }
    r.log.commitTo(Math.min(m.commit, result.last));
    foldCommittedConfChanges(r);
    r.sendAppendResponse(m.from, result.last);
    return;
  }
  // Reject with a hint: our last index, or the last index of a term no newer than the
  // leader's prevLogTerm, so the leader can skip the conflicting term at once.
  const hintIndex = Math.min(m.index, r.log.lastIndex());
  const hint = r.log.findConflictByTerm(hintIndex, m.logTerm);
  r.send(
    "append-response",
    m.from,
    r.term,
    hint.term,
    m.index,
    NO_ENTRIES,
    0,
    true,
    hint.index,
    undefined,
    undefined,
  );
}

export function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  foldCommittedConfChanges(r);
  r.send(
    "heartbeat-response",
    m.from,
    r.term,
    0,
    0,
    NO_ENTRIES,
    r.log.committed,
    false,
    0,
    undefined,
    m.context,
  );
}

export function handleSnapshot(r: Raft, m: Message): void {
  const snapshot = m.snapshot;
  if (snapshot === undefined) return;
  const { index, term } = snapshot.metadata;
  if (index <= r.log.committed) {
    // Stale: we already have all of it.
    r.sendAppendResponse(m.from, r.log.committed);
    return;
  }
  if (r.log.matchTerm(index, term)) {
    // Our log already holds the snapshot's last entry: fast-forward the commit index only.
    // Entries after it may still conflict with the leader's: acknowledge only the commit.
    r.log.commitTo(index);
    foldCommittedConfChanges(r);
    r.sendAppendResponse(m.from, r.log.committed);
    return;
  }
  r.log.restore(snapshot);
  r.membership.restore(snapshot.metadata.confState);
  r.sendAppendResponse(m.from, r.log.lastIndex());
}
