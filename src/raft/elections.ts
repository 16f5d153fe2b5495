// Elections (Raft §5.2, §5.4.1): campaigns with or without pre-vote (diss. §9.6), vote
// counting, and the voter's side including the leader lease (diss. §6.2) and the early
// failover hint. Functions over the Raft state (raft.ts).

import { CAMPAIGN_TRANSFER_CONTEXT, NO_ENTRIES } from "./messages.ts";
import { voteResult } from "./quorum.ts";
import type { Raft } from "./raft.ts";
import { type Message, type MessageType, NO_NODE, type NodeId } from "./types.ts";

export function campaign(r: Raft, kind: "pre-election" | "election", transfer: boolean): void {
  let voteType: MessageType;
  let term: number;
  if (kind === "pre-election") {
    r.becomePreCandidate();
    voteType = "pre-vote";
    // The term the node would campaign in; its own term stays unchanged.
    term = r.term + 1;
  } else {
    r.becomeCandidate();
    voteType = "vote";
    term = r.term;
  }
  if (poll(r, r.id, true) === "won") {
    // Single-voter cluster.
    if (kind === "pre-election") campaign(r, "election", transfer);
    else r.becomeLeader();
    return;
  }
  const lastIndex = r.log.lastIndex();
  const lastTerm = r.log.lastTerm();
  const context = transfer ? CAMPAIGN_TRANSFER_CONTEXT : undefined;
  for (const id of r.conf.voters) {
    if (id === r.id) continue;
    r.send(voteType, id, term, lastTerm, lastIndex, NO_ENTRIES, 0, false, 0, undefined, context);
  }
}

export function poll(r: Raft, id: NodeId, granted: boolean): "won" | "lost" | "pending" {
  if (!r.votes.has(id)) r.votes.set(id, granted);
  return voteResult(r.conf.voters, r.votes);
}

/** Is this node inside a leader's lease, where it must not help depose that leader? */
export function inLease(r: Raft): boolean {
  return (
    r.cfg.checkQuorum &&
    r.lead !== NO_NODE &&
    r.electionElapsed < r.cfg.electionTimeoutTicks &&
    // Early failover: a voter that has itself lost the leader no longer protects it.
    !r.leaderLost
  );
}

export function handleVoteRequest(r: Raft, m: Message): void {
  const respType: MessageType = m.type === "vote" ? "vote-response" : "pre-vote-response";
  // We can vote for the node we voted for, for anyone if we have neither voted nor know a
  // leader in this term, and grant a pre-vote for a future term.
  const canVote =
    r.vote === m.from ||
    (r.vote === NO_NODE && r.lead === NO_NODE) ||
    (m.type === "pre-vote" && m.term > r.term);
  // §5.4.1 election restriction: only a candidate whose log is at least as up to date.
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    // Answer in the candidate's term: a pre-vote response with the future term is how the
    // pre-candidate recognises it.
    r.sendControl(respType, m.from, m.term, false, undefined);
    if (m.type === "vote") {
      r.electionElapsed = 0;
      r.vote = m.from;
    } else if (r.role === "pre-candidate" && m.from < r.id && r.earlyRetriesLeft > 0) {
      // Early failover: the followers of a crashed leader learn of it within a millisecond or
      // two and all campaign at once. Two pre-candidates that grant each other's pre-vote both
      // go on to a real election and split it (each votes for itself), which costs a retry
      // timeout. So in the hinted campaign the pre-candidate with the higher id steps aside
      // for the one it just granted: exactly one of two simultaneous pre-candidates goes on.
      // It never refuses anything (a refusal could meet the other's lease and stall both); it
      // stops competing and retries after the short timeout should that candidate not win.
      r.yieldCampaign();
    }
  } else {
    r.sendControl(respType, m.from, r.term, true, undefined);
  }
}
