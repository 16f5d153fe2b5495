// The Raft algorithm's state and its control flow: roles, terms, time, the step dispatch,
// proposals and leadership transfer. Elections (elections.ts), replication and commitment
// (replication.ts), reads (reads.ts) and membership (raft-membership.ts) are functions over
// this state. Driven by RaftNode (raft-node.ts), which adds the Ready/advance protocol. Fields
// are public within this folder (index.ts does not export Raft).
// Paper references: "§5.x" is the Raft paper (Ongaro & Ousterhout 2014), "diss. §x" the
// dissertation (Ongaro 2014).

import { decodeConfChange, encodeConfChange } from "./conf-change.ts";
import { type ResolvedConfig, resolveConfig } from "./config.ts";
import { campaign, handleVoteRequest, inLease, poll } from "./elections.ts";
import { Membership } from "./membership.ts";
import { isTransferContext, makeMessage, NO_ENTRIES } from "./messages.ts";
import type { MemberProgress } from "./progress.ts";
import { isQuorum } from "./quorum.ts";
import { RaftLog } from "./raft-log.ts";
import {
  checkConfChange,
  foldCommittedConfChanges,
  onConfChangeAppended,
  syncProgress,
  trackConfEntries,
} from "./raft-membership.ts";
import { ReadOnlyQueue } from "./read-only.ts";
import { handleReadIndex } from "./reads.ts";
import {
  bcastAppend,
  bcastHeartbeat,
  handleAppend,
  handleAppendResponse,
  handleHeartbeat,
  handleHeartbeatResponse,
  handleSnapshot,
  maybeCommit,
  maybeSendAppend,
  propagateCommit,
} from "./replication.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryType,
  type Message,
  type MessageType,
  NO_NODE,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  RaftError,
  type ReadState,
  type Role,
  type Snapshot,
} from "./types.ts";

interface WaitingRead {
  readonly from: NodeId;
  readonly context: Uint8Array;
}

const EMPTY_DATA = new Uint8Array(0);
/** Lease reads need a quorum heard from this many ticks inside the election timeout. */
const LEASE_MARGIN_TICKS = 2;
const NO_MESSAGES: readonly Message[] = Object.freeze([]) as readonly Message[];
const NO_READ_STATES: readonly ReadState[] = Object.freeze([]) as readonly ReadState[];

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;

  term = 0;
  vote: NodeId = NO_NODE;
  lead: NodeId = NO_NODE;
  role: Role = "follower";

  /** Outgoing messages, handed out (and replaced) by takeMessages(). */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  readonly membership: Membership;

  get conf(): ConfState {
    return this.membership.conf;
  }

  /** On the leader: every member's progress (including its own). */
  readonly progress = new Map<NodeId, MemberProgress>();
  readonly votes = new Map<NodeId, boolean>();

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Monotonic tick counter, for lastContactTicks. */
  tickCount = 0;

  /** Early failover: the node layer reported the leader lost since we last heard from it. */
  leaderLost = false;
  /**
   * Elections left that may use the short retry timeout: after the leader-lost hint, every
   * follower that lost the leader campaigns at once; a vote can still split (without pre-vote,
   * or with delayed messages), and a pre-candidate may yield to another that then fails to
   * win. While this lasts, a pre-candidate yields to a lower id (elections.ts). Waiting a whole randomized election timeout before the retry would cost 300-600 ms
   * of failover for a crash detected in milliseconds; a short randomized timeout retries within
   * a few heartbeats. Bounded, so that a follower whose hint the others do not share falls back
   * to the normal timeout. Timing only: votes and terms follow the usual rules.
   */
  earlyRetriesLeft = 0;

  leadTransferee: NodeId = NO_NODE;
  /** Lease reads are not served before this tick (set when timeout-now is sent). */
  noLeaseBeforeTick = 0;
  uncommittedBytes = 0;
  readonly readOnly: ReadOnlyQueue;
  /** ReadIndex requests that arrived before the leader committed an entry of its term. */
  waitingReads: WaitingRead[] = [];
  /** Appends are batched: proposals mark this and the broadcast happens once per Ready. */
  needsBroadcast = false;
  readonly matchScratch: number[] = [];

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const storage = this.cfg.storage;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage);
    this.membership = new Membership(confState);
    this.readOnly = new ReadOnlyQueue(this.cfg.maxPendingReadIndex);

    // On restart the configuration is the snapshot's plus the conf-change entries in the log
    // after the snapshot. The log may still hold entries the snapshot covers (the application
    // compacts lazily); their changes are already in the snapshot's configuration.
    const first = Math.max(storage.firstIndex(), storage.snapshot().metadata.index + 1);
    const last = storage.lastIndex();
    for (let lo = first; lo <= last; ) {
      const batch = storage.entries(lo, last + 1, 4 * 1024 * 1024);
      trackConfEntries(this, batch, 0);
      lo += batch.length;
    }

    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log.commitTo(hardState.commit);
    foldCommittedConfChanges(this);
    const applied = this.cfg.appliedIndex;
    if (applied > this.log.committed) {
      throw new RaftError(
        "INVALID_CONFIG",
        `appliedIndex ${applied} is beyond the persisted commit index ${this.log.committed}`,
      );
    }
    if (applied > this.log.applied) this.log.appliedTo(applied);
    this.becomeFollower(this.term, NO_NODE);
  }

  // ---- outputs -------------------------------------------------------------------------------

  // Handing out an array gives it away: inputs between ready() and advance() must not append
  // to an array the caller is still working through, so an empty one is never handed out.

  takeMessages(): readonly Message[] {
    const out = this.msgs;
    if (out.length === 0) return NO_MESSAGES;
    this.msgs = [];
    return out;
  }

  takeReadStates(): readonly ReadState[] {
    const out = this.readStates;
    if (out.length === 0) return NO_READ_STATES;
    this.readStates = [];
    return out;
  }

  hasPendingOutput(): boolean {
    return this.msgs.length > 0 || this.readStates.length > 0;
  }

  send(
    type: MessageType,
    to: NodeId,
    term: number,
    logTerm: number,
    index: number,
    entries: readonly Entry[],
    commit: number,
    reject: boolean,
    rejectHint: number,
    snapshot: Snapshot | undefined,
    context: Uint8Array | undefined,
  ): void {
    this.msgs.push(
      makeMessage(
        type,
        this.id,
        to,
        term,
        logTerm,
        index,
        entries,
        commit,
        reject,
        rejectHint,
        snapshot,
        context,
      ),
    );
  }

  /** Sends the appends that proposals and commits made due, once per Ready. */
  flush(): void {
    if (!this.needsBroadcast) return;
    this.needsBroadcast = false;
    if (this.role !== "leader") return;
    maybeCommit(this);
    if (this.role === "leader") bcastAppend(this);
  }

  sendTimeoutNow(to: NodeId): void {
    this.sendControl("timeout-now", to, this.term, false, undefined);
    // The target may win inside the voters' leases; this leader's lease is void until it has
    // certainly stepped down or re-established a quorum (check-quorum acts within one timeout).
    this.noLeaseBeforeTick = this.tickCount + 2 * this.cfg.electionTimeoutTicks;
  }

  /** A message without log payload: vote responses, heartbeat responses, timeout-now. */
  sendControl(
    type: MessageType,
    to: NodeId,
    term: number,
    reject: boolean,
    context: Uint8Array | undefined,
  ): void {
    this.send(type, to, term, 0, 0, NO_ENTRIES, 0, reject, 0, undefined, context);
  }

  /** An accepting append-response: the follower's log matches the leader's up to `index`. */
  sendAppendResponse(to: NodeId, index: number): void {
    this.send(
      "append-response",
      to,
      this.term,
      0,
      index,
      NO_ENTRIES,
      0,
      false,
      0,
      undefined,
      undefined,
    );
  }

  // ---- roles ---------------------------------------------------------------------------------

  isVoter(id: NodeId): boolean {
    return this.membership.isVoter(id);
  }

  /** Only voters campaign; learners and removed nodes never do. */
  promotable(): boolean {
    return this.isVoter(this.id);
  }

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NO_NODE;
    this.votes.clear();
    this.progress.clear();
    this.readOnly.clear();
    this.waitingReads = [];
    this.uncommittedBytes = 0;
    this.needsBroadcast = false;
    this.leaderLost = false;
  }

  resetRandomizedElectionTimeout(): void {
    const early =
      this.earlyRetriesLeft > 0 && (this.role === "pre-candidate" || this.role === "candidate");
    const timeout = this.cfg.electionTimeoutTicks;
    const r = this.cfg.random();
    if (!(r >= 0 && r < 1))
      throw new RaftError("INVALID_CONFIG", `random() returned ${r}, expected [0, 1)`);
    if (early) {
      // [timeout / 10, timeout / 2]: spread wide enough that two retrying candidates rarely
      // collide again. The floor keeps a (pre-)candidate from abandoning its own election
      // before the round trip (two fsyncs) can complete: with a floor of one tick, a candidate
      // on a loaded machine restarted its election in a new term on the next tick, 0-10 ms
      // later, and the answers to the first one were wasted.
      const floor = Math.max(1, Math.round(timeout / 10));
      const span = Math.max(2, (timeout >> 1) - floor + 1);
      this.randomizedElectionTimeout = floor + Math.floor(r * span);
      this.earlyRetriesLeft--;
    } else {
      this.randomizedElectionTimeout = timeout + Math.floor(r * timeout);
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.earlyRetriesLeft = 0;
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  becomePreCandidate(): void {
    // A pre-candidate does not bump its term or vote: losing a pre-vote leaves no trace (§9.6).
    this.role = "pre-candidate";
    this.votes.clear();
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  /**
   * Early failover: a pre-candidate steps back to follower (same term, no leader, no vote) in
   * favour of another pre-candidate whose pre-vote it granted; see handleVoteRequest. Late
   * pre-vote responses are then ignored. It keeps its short retry timeout, so it campaigns
   * again within a few ticks if that candidate does not win.
   */
  yieldCampaign(): void {
    if (this.role !== "pre-candidate")
      throw new RaftError("INVARIANT", "only a pre-candidate yields its campaign");
    // Drawn while still a pre-candidate: the short timeout while early retries remain.
    this.resetRandomizedElectionTimeout();
    this.role = "follower";
    this.votes.clear();
    this.lead = NO_NODE;
    this.electionElapsed = 0;
  }

  becomeCandidate(): void {
    if (this.role === "leader")
      throw new RaftError("INVARIANT", "a leader cannot become a candidate");
    this.role = "candidate";
    this.reset(this.term + 1);
    this.vote = this.id;
  }

  becomeLeader(): void {
    if (this.role === "follower")
      throw new RaftError("INVARIANT", "a follower cannot become leader");
    this.earlyRetriesLeft = 0;
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    syncProgress(this);
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.maybeUpdate(this.log.lastIndex());
    }
    // §5.4.2 / diss. §3.6.2: a leader cannot count replicas of older terms' entries toward
    // commitment, so it commits a no-op of its own term to learn what is committed.
    this.appendLocal("normal", EMPTY_DATA);
    this.needsBroadcast = true;
  }

  // ---- time ----------------------------------------------------------------------------------

  tick(): void {
    this.tickCount++;
    if (this.role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    // A leader that has not heard from a quorum for an election timeout may have been replaced
    // on the other side of a partition: stop acting as leader.
    if (this.cfg.checkQuorum && !this.quorumActive()) {
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.leadTransferee !== NO_NODE) this.leadTransferee = NO_NODE; // transfer timed out
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this, this.readOnly.lastContext());
    }
    propagateCommit(this);
  }

  /** Heard from within the last election timeout (the leader itself always counts). */
  isRecentlyActive(id: NodeId, pr: MemberProgress): boolean {
    return id === this.id || this.tickCount - pr.lastContactTick < this.cfg.electionTimeoutTicks;
  }

  quorumActive(): boolean {
    return isQuorum(this.conf.voters, (id) => {
      const pr = this.progress.get(id);
      return pr !== undefined && this.isRecentlyActive(id, pr);
    });
  }

  /** Early failover hint from the node layer: the connection to the leader was lost. */
  reportLeaderLost(): void {
    if (!this.cfg.earlyFailover || this.role !== "follower" || !this.promotable()) return;
    if (this.leaderLost) return;
    this.leaderLost = true;
    // Three short retries, each a pre-vote and a vote.
    this.earlyRetriesLeft = 6;
    // Campaign at once. The followers that lost the same leader all do so within a few
    // milliseconds; a pre-candidate that grants the pre-vote of one with a lower id yields to
    // it (elections.ts), so simultaneous campaigns do not split the vote and no follower
    // needs to wait for a tick first.
    this.hup(false);
  }

  // ---- elections -----------------------------------------------------------------------------

  /** Start an election: pre-vote first if configured; `transfer` skips it (timeout-now). */
  hup(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (transfer) campaign(this, "election", true);
    else campaign(this, this.cfg.preVote ? "pre-election" : "election", false);
  }

  /**
   * campaign() from the application. With lease reads, a node that heard from a leader within
   * the election timeout must not vote for anyone, itself included: the old leader may still
   * answer reads from its lease. So the request is ignored then (the lease lasts at most one
   * election timeout; transferLeadership is the way to move a healthy leader).
   */
  operatorCampaign(): void {
    if (this.cfg.readOnlyOption === "lease" && inLease(this)) return;
    this.hup(false);
  }

  // ---- step ----------------------------------------------------------------------------------

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.type === "propose" || m.type === "read-index") {
      // Forwarded proposals and read requests carry no term: whoever leads now serves them.
    } else if (m.term > this.term) {
      if (m.type === "vote" || m.type === "pre-vote") {
        // Leader lease (check-quorum, §6 of the dissertation): while we hear from a leader we do
        // not help anyone replace it, so a node returning from a partition cannot disrupt it.
        if (!isTransferContext(m.context) && inLease(this)) return;
      }
      if (m.type === "pre-vote") {
        // Never change term on a pre-vote.
      } else if (m.type === "pre-vote-response" && !m.reject) {
        // The future term of our own pre-vote; the term is bumped when the pre-vote is won.
      } else if (m.type === "append" || m.type === "heartbeat" || m.type === "snapshot") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === "heartbeat" || m.type === "append")
      ) {
        // A stale leader (e.g. after a partition) would otherwise never learn of the new term:
        // with pre-vote/check-quorum nobody bumps terms through it. Tell it.
        this.sendAppendResponse(m.from, 0);
      } else if (m.type === "pre-vote" || m.type === "vote") {
        // Refuse with our term (Raft §5.1): a stale candidate catches up at once instead of
        // climbing one term per election timeout.
        const resp = m.type === "vote" ? "vote-response" : "pre-vote-response";
        this.sendControl(resp, m.from, this.term, true, undefined);
      }
      return;
    }

    if (m.type === "vote" || m.type === "pre-vote") {
      handleVoteRequest(this, m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
      default:
        this.stepCandidate(m);
    }
  }

  heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.lead = from;
    this.leaderLost = false;
  }

  stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.heardFromLeader(m.from);
        handleAppend(this, m);
        break;
      case "heartbeat":
        this.heardFromLeader(m.from);
        handleHeartbeat(this, m);
        break;
      case "snapshot":
        this.heardFromLeader(m.from);
        handleSnapshot(this, m);
        break;
      case "timeout-now":
        // Leadership transfer: campaign now, skipping pre-vote and the lease of the others.
        this.hup(true);
        break;
      case "read-index-response":
        if (m.context !== undefined) this.readStates.push({ index: m.index, context: m.context });
        break;
      default:
        // "propose"/"read-index" reach a follower only from a stale view of who leads; they are
        // dropped rather than forwarded again (no forwarding loops; the sender retries).
        break;
    }
  }

  stepCandidate(m: Message): void {
    const myResponse: MessageType =
      this.role === "pre-candidate" ? "pre-vote-response" : "vote-response";
    switch (m.type) {
      case "append":
        this.becomeFollower(m.term, m.from);
        handleAppend(this, m);
        return;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        handleHeartbeat(this, m);
        return;
      case "snapshot":
        this.becomeFollower(m.term, m.from);
        handleSnapshot(this, m);
        return;
      default:
        break;
    }
    if (m.type !== myResponse) return;
    const result = poll(this, m.from, !m.reject);
    if (result === "won") {
      if (this.role === "pre-candidate") campaign(this, "election", false);
      else this.becomeLeader();
    } else if (result === "lost") {
      this.becomeFollower(this.term, NO_NODE);
    }
  }

  stepLeader(m: Message): void {
    switch (m.type) {
      case "propose":
        for (const e of m.entries) {
          try {
            this.proposeOnLeader(e.type, e.data);
          } catch (err) {
            // A forwarded proposal that cannot be accepted is dropped; the proposer times out
            // and retries, as with any lost message.
            if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
          }
        }
        return;
      case "read-index":
        if (m.context === undefined) return;
        try {
          handleReadIndex(this, m.from, m.context);
        } catch (err) {
          if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
        }
        return;
      default:
        break;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    if (m.type === "append-response") {
      pr.lastContactTick = this.tickCount;
      handleAppendResponse(this, m, pr);
    } else if (m.type === "heartbeat-response") {
      pr.lastContactTick = this.tickCount;
      handleHeartbeatResponse(this, m, pr);
    }
  }

  // ---- proposals -----------------------------------------------------------------------------

  propose(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.role === "leader") return this.proposeOnLeader(type, data);
    if (this.role !== "follower" || this.lead === NO_NODE) {
      throw new RaftError(
        "PROPOSAL_DROPPED",
        `no leader is known (node ${this.id} is ${this.role}); retry later`,
      );
    }
    const entry: Entry = { term: 0, index: 0, type, data };
    this.send("propose", this.lead, 0, 0, 0, [entry], 0, false, 0, undefined, undefined);
    return { forwarded: true };
  }

  proposeOnLeader(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.leadTransferee !== NO_NODE) {
      throw new RaftError(
        "PROPOSAL_DROPPED",
        `leadership is being transferred to ${this.leadTransferee}; retry at the new leader`,
      );
    }
    if (!this.progress.has(this.id)) {
      throw new RaftError(
        "PROPOSAL_DROPPED",
        `leader ${this.id} is being removed from the cluster; retry later`,
      );
    }
    const size = data.byteLength;
    // Always admit one proposal when nothing is pending, so a single large proposal can pass.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.cfg.maxUncommittedBytes) {
      throw new RaftError(
        "TOO_MANY_UNCOMMITTED",
        `${this.uncommittedBytes} bytes are proposed but not committed (maxUncommittedBytes ${this.cfg.maxUncommittedBytes}); back off and retry`,
      );
    }
    let change: ConfChange | undefined;
    if (type === "conf-change") {
      change = decodeConfChange(data);
      checkConfChange(this, change);
    }
    const entry = this.appendLocal(type, data);
    this.uncommittedBytes += size;
    if (change !== undefined) onConfChangeAppended(this, entry.index, change);
    this.needsBroadcast = true;
    if (this.conf.voters.length === 1) maybeCommit(this);
    return { forwarded: false, index: entry.index, term: entry.term };
  }

  appendLocal(type: EntryType, data: Uint8Array): Entry {
    const index = this.log.lastIndex() + 1;
    const entry: Entry = { term: this.term, index, type, data };
    this.log.appendOne(entry);
    this.progress.get(this.id)?.maybeUpdate(index);
    return entry;
  }

  /** Committed entries were handed to the application: they no longer count as uncommitted. */
  reduceUncommittedBytes(bytes: number): void {
    this.uncommittedBytes = bytes >= this.uncommittedBytes ? 0 : this.uncommittedBytes - bytes;
  }

  // ---- membership ----------------------------------------------------------------------------

  proposeConfChange(change: ConfChange): ProposeResult {
    const data = encodeConfChange(change);
    return this.propose("conf-change", data);
  }

  // ---- leadership transfer -------------------------------------------------------------------

  transferLeadership(to: NodeId): void {
    if (this.role !== "leader") {
      throw new RaftError(
        "NOT_LEADER",
        `node ${this.id} is not the leader; ask the leader (${this.lead})`,
      );
    }
    if (to === this.id) throw new RaftError("TRANSFER_INVALID", `node ${to} is already the leader`);
    const pr = this.progress.get(to);
    if (pr === undefined) throw new RaftError("TRANSFER_INVALID", `node ${to} is not a member`);
    if (pr.isLearner)
      throw new RaftError("TRANSFER_INVALID", `node ${to} is a learner; promote it first`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer must finish within an election timeout or it is abandoned.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else maybeSendAppend(this, to, pr, true);
  }

  // ---- progress reports from the node layer ---------------------------------------------------

  reportUnreachable(to: NodeId): void {
    if (this.role !== "leader") return;
    const pr = this.progress.get(to);
    // Messages may have been lost: stop pipelining and find out where the follower is.
    if (pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  reportSnapshot(to: NodeId, succeeded: boolean): void {
    if (this.role !== "leader") return;
    const pr = this.progress.get(to);
    if (pr === undefined || pr.state !== "snapshot") return;
    if (!succeeded) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing.
    pr.probeSent = true;
  }

  /** Whether a lease read may be answered locally now. */
  leaseValid(): boolean {
    if (this.leadTransferee !== NO_NODE || this.tickCount < this.noLeaseBeforeTick) return false;
    // The leader learns of a follower's contact a little after the follower started counting
    // its lease, and ticks are not in phase across nodes: keep a margin of LEASE_MARGIN_TICKS.
    const window = this.cfg.electionTimeoutTicks - LEASE_MARGIN_TICKS;
    if (window <= 0) return false;
    return isQuorum(this.conf.voters, (id) => {
      if (id === this.id) return true;
      const pr = this.progress.get(id);
      return pr !== undefined && this.tickCount - pr.lastContactTick < window;
    });
  }

  lastContactTicks(pr: MemberProgress): number {
    return this.tickCount - pr.lastContactTick;
  }
}
