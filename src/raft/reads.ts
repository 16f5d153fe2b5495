// Linearizable reads (diss. §6.4): ReadIndex with a heartbeat round ("safe"), or the leader's
// lease ("lease"). Requests from followers are forwarded to the leader and answered back.

import { NO_ENTRIES } from "./messages.ts";
import type { Raft } from "./raft.ts";
import { bcastHeartbeat } from "./replication.ts";
import { NO_NODE, type NodeId, RaftError } from "./types.ts";

export function readIndex(r: Raft, context: Uint8Array): void {
  if (r.role === "leader") {
    handleReadIndex(r, NO_NODE, context);
    return;
  }
  if (r.role !== "follower" || r.lead === NO_NODE) {
    throw new RaftError(
      "PROPOSAL_DROPPED",
      `no leader is known to serve a read (node ${r.id} is ${r.role}); retry later`,
    );
  }
  r.send("read-index", r.lead, 0, 0, 0, NO_ENTRIES, 0, false, 0, undefined, context);
}

export function handleReadIndex(r: Raft, from: NodeId, context: Uint8Array): void {
  if (r.conf.voters.length === 1 && r.conf.voters[0] === r.id) {
    answerRead(r, from, context, r.log.committed);
    return;
  }
  // Until the leader commits an entry of its term it does not know the commit index
  // (diss. §6.4 step 1): hold the request.
  if (r.log.termOrNegative(r.log.committed) !== r.term) {
    if (r.waitingReads.length + r.readOnly.size >= r.cfg.maxPendingReadIndex) {
      throw new RaftError(
        "TOO_MANY_PENDING_READS",
        "too many read requests are pending; retry later",
      );
    }
    r.waitingReads.push({ from, context });
    return;
  }
  serveRead(r, from, context);
}

export function serveRead(r: Raft, from: NodeId, context: Uint8Array): void {
  // A lease is valid only because check-quorum keeps a deposed leader from believing it leads
  // for longer than an election timeout (bounded clock drift assumed). A leadership transfer
  // lets the target win inside the voters' leases, so during one every read takes the safe path.
  if (r.cfg.readOnlyOption === "lease" && r.leaseValid()) {
    answerRead(r, from, context, r.log.committed);
    return;
  }
  r.readOnly.add(r.log.committed, from, context);
  r.readOnly.recvAck(r.id, context);
  bcastHeartbeat(r, context);
}

export function releaseWaitingReads(r: Raft): void {
  if (r.waitingReads.length === 0) return;
  const waiting = r.waitingReads;
  r.waitingReads = [];
  for (const w of waiting) {
    try {
      serveRead(r, w.from, w.context);
    } catch (err) {
      if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
    }
  }
}

export function answerRead(r: Raft, from: NodeId, context: Uint8Array, index: number): void {
  if (from === NO_NODE || from === r.id) {
    r.readStates.push({ index, context });
  } else {
    r.send(
      "read-index-response",
      from,
      r.term,
      0,
      index,
      NO_ENTRIES,
      0,
      false,
      0,
      undefined,
      context,
    );
  }
}
