// Membership on the node (diss. §4.1): validating a proposed change on the leader, tracking the
// conf-change entries as they are appended or truncated, and keeping the leader's progress
// tracker in line with the configuration in force.

import { applyConfChange } from "./conf-change.ts";
import { MemberProgress } from "./progress.ts";
import type { Raft } from "./raft.ts";
import { maybeCommit } from "./replication.ts";
import { type ConfChange, type Entry, NO_NODE, type NodeId, RaftError } from "./types.ts";

export function checkConfChange(r: Raft, change: ConfChange): void {
  // One change at a time (diss. §4.1): the previous one must be committed, and the leader
  // must have committed an entry of its term so it knows every earlier change.
  if (r.log.termOrNegative(r.log.committed) !== r.term) {
    throw new RaftError(
      "CONF_CHANGE_PENDING",
      "the leader has not committed an entry of its term yet; retry in a moment",
    );
  }
  const last = r.membership.lastChangeIndex();
  if (last > r.log.committed) {
    throw new RaftError(
      "CONF_CHANGE_PENDING",
      `the membership change at index ${last} is not committed yet; retry when it is`,
    );
  }
  applyConfChange(r.conf, change); // validates, throws INVALID_CONF_CHANGE
  if (change.type === "promote-learner") {
    const pr = r.progress.get(change.nodeId);
    const lastIndex = r.log.lastIndex();
    // A learner that has acknowledged nothing yet (match 0: the leader's log always holds its
    // term's first entry) or has not answered lately is not caught up, however short the log
    // is: a voter that cannot vote would only take fault tolerance away.
    if (pr !== undefined && (pr.match === 0 || !r.isRecentlyActive(change.nodeId, pr))) {
      throw new RaftError(
        "LEARNER_NOT_CAUGHT_UP",
        `learner ${change.nodeId} has not answered this leader lately; promote it once it has caught up`,
      );
    }
    if (pr === undefined || pr.match + r.cfg.promotionMaxLagEntries < lastIndex) {
      throw new RaftError(
        "LEARNER_NOT_CAUGHT_UP",
        `learner ${change.nodeId} has ${pr?.match ?? 0} of ${lastIndex} entries; promote it once it is within ${r.cfg.promotionMaxLagEntries}`,
      );
    }
  }
}

/** Records conf-change entries of ents[from..] that were just appended; they take effect now. */
export function trackConfEntries(r: Raft, ents: readonly Entry[], from: number): void {
  if (r.membership.addEntries(ents, from)) onConfChanged(r);
}

export function onConfChangeAppended(r: Raft, index: number, change: ConfChange): void {
  r.membership.add(index, change);
  onConfChanged(r);
}

/** Entries from `from` on were replaced: changes they held are undone (diss. §4.1). */
export function onLogTruncated(r: Raft, from: number): void {
  if (r.membership.truncateFrom(from)) onConfChanged(r);
}

export function foldCommittedConfChanges(r: Raft): void {
  r.membership.commitTo(r.log.committed);
}

/** The configuration changed: on the leader, track exactly the new members. */
export function onConfChanged(r: Raft): void {
  if (r.role !== "leader") return;
  syncProgress(r);
  if (r.leadTransferee !== NO_NODE && !r.isVoter(r.leadTransferee)) r.leadTransferee = NO_NODE;
  // A smaller quorum may already have the entries.
  if (maybeCommit(r) && r.role === "leader") r.needsBroadcast = true;
}

export function syncProgress(r: Raft): void {
  const lastIndex = r.log.lastIndex();
  const { voters, learners } = r.conf;
  const add = (id: NodeId, isLearner: boolean): void => {
    const pr = r.progress.get(id);
    if (pr !== undefined) {
      pr.isLearner = isLearner;
      return;
    }
    r.progress.set(
      id,
      new MemberProgress(
        lastIndex + 1,
        isLearner,
        r.cfg.maxInflightMessages,
        r.cfg.maxInflightBytes,
        r.tickCount,
      ),
    );
  };
  for (const id of voters) add(id, false);
  for (const id of learners) add(id, true);
  for (const id of [...r.progress.keys()]) {
    if (!voters.includes(id) && !learners.includes(id)) r.progress.delete(id);
  }
}
