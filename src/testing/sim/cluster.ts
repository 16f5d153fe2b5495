// The simulated cluster: real RaftNode instances over MemoryStorage ("durable"), each with a
// volatile state machine, wired to the simulated network. The Ready handling here follows the
// documented order exactly (persist snapshot, entries, hard state; send; install and apply;
// answer reads; advance), and every step of it feeds the invariant checkers.
//
// A crash drops everything volatile: the RaftNode, the state machine, pending reads. A restart
// builds a new RaftNode over the same MemoryStorage, so the node has only what it persisted;
// its state machine comes back from the storage's snapshot.

import {
  type ConfState,
  type Entry,
  MemoryStorage,
  type Message,
  type MessageType,
  RaftNode,
  type ReadState,
  type Ready,
} from "../../raft/index.ts";
import { newCheckers } from "./checkers.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimEvent } from "./events.ts";
import { InvariantViolation } from "./invariants/violation.ts";
import type { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { Scenario } from "./scenario.ts";
import { type Mutation, SimNode } from "./sim-node.ts";
import { SimStateMachine } from "./state-machine.ts";
import type { Trace } from "./trace.ts";
import { MESSAGE_TYPE_CODES, packMessageFlags, ROLE_CODES } from "./trace-format.ts";

export type { Checkers } from "./checkers.ts";
export type { CrashPoint, Mutation } from "./sim-node.ts";
export { SimNode } from "./sim-node.ts";

/** Messages a leader may send before its Ready is persisted (see Scenario.leaderSendsBeforePersist). */
const EARLY_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "append",
  "heartbeat",
  "snapshot",
  "timeout-now",
  "read-index-response",
]);

/** Ready rounds one input may cause before the harness calls it a livelock. */
const MAX_READY_ROUNDS = 1000;

export interface ClusterHooks {
  /** `node` applied `entry`; `writeId` is the client write it carries, if any. */
  onApplied(node: SimNode, entry: Entry, writeId: number | undefined): void;
  /** `node` served a read: its state machine reached the read state's index. */
  onReadServed(node: SimNode, readState: ReadState): void;
  onCrash(node: SimNode): void;
}

export interface ClusterStats {
  messagesDelivered: number;
  messagesDropped: number;
  crashes: number;
  /** Node starts, the first ones included. */
  starts: number;
  snapshotsCreated: number;
  snapshotsInstalled: number;
  entriesApplied: number;
}

export class Cluster {
  readonly nodes = new Map<number, SimNode>();
  readonly checkers = newCheckers();
  readonly stats: ClusterStats = {
    messagesDelivered: 0,
    messagesDropped: 0,
    crashes: 0,
    starts: 0,
    snapshotsCreated: 0,
    snapshotsInstalled: 0,
    entriesApplied: 0,
  };
  /** Simulated time, in units (see scenario.ts). */
  now = 0;
  hooks: ClusterHooks = { onApplied() {}, onReadServed() {}, onCrash() {} };
  private readonly bootstrap: ConfState;
  private readonly scenario: Scenario;
  private readonly network: Network;
  private readonly queue: EventQueue<SimEvent>;
  private readonly trace: Trace;
  private readonly prng: Prng;
  readonly mutation: Mutation | undefined;

  constructor(options: {
    nodeIds: readonly number[];
    initialVoters: readonly number[];
    scenario: Scenario;
    network: Network;
    queue: EventQueue<SimEvent>;
    trace: Trace;
    prng: Prng;
    mutation?: Mutation;
  }) {
    this.mutation = options.mutation;
    this.bootstrap = { voters: [...options.initialVoters], learners: [] };
    this.scenario = options.scenario;
    this.network = options.network;
    this.queue = options.queue;
    this.trace = options.trace;
    this.prng = options.prng;
    for (const id of options.nodeIds) this.nodes.set(id, new SimNode(id, options.prng));
  }

  node(id: number): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new InvariantViolation("harness", `unknown node ${id}`);
    return node;
  }

  runningNodes(): SimNode[] {
    const running: SimNode[] = [];
    for (const node of this.nodes.values()) if (node.raft !== undefined) running.push(node);
    return running;
  }

  /** The running node that believes it leads the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.nodes.values()) {
      if (
        node.raft !== undefined &&
        node.role === "leader" &&
        (best === undefined || node.term > best.term)
      ) {
        best = node;
      }
    }
    return best;
  }

  /**
   * Starts (or restarts) a node over its durable storage. A node never started before joins
   * with the cluster's bootstrap membership and an empty log, like a new machine configured
   * with the initial member list; it becomes a member only when a conf change adds it.
   */
  start(id: number): void {
    const node = this.node(id);
    if (node.raft !== undefined)
      throw new InvariantViolation("harness", `node ${id} is already running`);
    // A joining node starts with the bootstrap membership too (the core's documented
    // contract): it is not a member in it, so it waits for the leader.
    if (node.storage === undefined) node.storage = new MemoryStorage(this.bootstrap);
    const storage = node.storage;
    const snapshot = storage.snapshot();
    const core = this.scenario.core;
    // A durable state machine (updated atomically with its applied index) comes back as it was;
    // otherwise it is rebuilt from the snapshot and the core re-delivers what follows.
    const machine =
      this.scenario.durableStateMachine && node.machine.appliedIndex >= snapshot.metadata.index
        ? node.machine
        : this.restoreMachine(node, snapshot.data, snapshot.metadata.index);
    node.raft = new RaftNode({
      id,
      storage,
      random: node.random,
      appliedIndex: machine.appliedIndex,
      electionTimeoutTicks: core.electionTimeoutTicks,
      heartbeatIntervalTicks: core.heartbeatIntervalTicks,
      preVote: true,
      checkQuorum: true,
      earlyFailover: core.earlyFailover,
      lazyCommitPropagation: this.scenario.lazyCommitPropagation,
      maxMessageSizeBytes: core.maxMessageSizeBytes,
      maxInflightMessages: core.maxInflightMessages,
      maxInflightBytes: core.maxInflightBytes,
      maxUncommittedBytes: core.maxUncommittedBytes,
      maxCommittedBytesPerReady: core.maxCommittedBytesPerReady,
      promotionMaxLagEntries: core.promotionMaxLagEntries,
      readOnlyOption: core.readOnlyOption,
      maxPendingReadIndex: core.maxPendingReadIndex,
    });
    node.incarnation++;
    node.machine = machine;
    this.checkers.stateMachines.onRestore(
      id,
      node.machine.appliedIndex,
      node.machine.digest,
      false,
    );
    this.checkers.acknowledged.onRestore(id, node.machine);
    const hard = storage.hardState();
    node.term = hard.term;
    node.commit = hard.commit;
    node.role = "follower";
    node.leaderId = 0;
    node.readStates = [];
    node.pendingReady = undefined;
    node.armedCrash = undefined;
    this.stats.starts++;
    this.trace.record(
      this.now,
      "restart",
      id,
      hard.term,
      storage.lastIndex(),
      snapshot.metadata.index,
      hard.commit,
    );
    // First tick at a random phase within the node's period: nodes do not tick in lockstep.
    const period = this.scenario.tickPeriodUnits.get(id)!;
    this.queue.push(this.now + 1 + this.prng.int(period), {
      kind: "tick",
      node: id,
      incarnation: node.incarnation,
    });
  }

  /** Drops the node's volatile state now. */
  crash(id: number, reason: string): void {
    const node = this.node(id);
    if (node.raft === undefined) return;
    const wasLeader = node.role === "leader";
    node.raft = undefined;
    node.incarnation++;
    node.downToken++;
    if (this.mutation === "lose-log-tail") this.loseLogTail(node);
    if (this.mutation === "forget-votes" && node.storage !== undefined) {
      node.storage.setHardState({ ...node.storage.hardState(), vote: 0 });
    }
    if (!this.scenario.durableStateMachine) node.machine = new SimStateMachine();
    node.readStates = [];
    node.pausedUntil = 0;
    node.pendingReady = undefined; // an unwritten Ready dies with the process
    node.armedCrash = undefined;
    node.role = "follower";
    node.leaderId = 0;
    this.stats.crashes++;
    this.trace.record(this.now, "crash", id, wasLeader ? 1 : 0, 0, 0, 0, 0, 0, reason);
    this.hooks.onCrash(node);
    // Its peers' connections to it drop: followers of a crashed leader get the early hint.
    if (this.scenario.core.earlyFailover) {
      for (const other of this.nodes.values()) {
        if (other.raft !== undefined && other.leaderId === id) {
          this.queue.push(this.now + 1 + this.prng.int(300), {
            kind: "leader-lost",
            node: other.id,
            incarnation: other.incarnation,
          });
        }
      }
    }
  }

  tick(id: number, incarnation: number): void {
    const node = this.node(id);
    if (node.raft === undefined || node.incarnation !== incarnation) return;
    this.trace.recordQuiet(this.now, "tick", id);
    node.raft.tick();
    this.drain(node);
    if (node.raft !== undefined && node.incarnation === incarnation) {
      const period = this.scenario.tickPeriodUnits.get(id)!;
      this.queue.push(this.now + period, { kind: "tick", node: id, incarnation });
    }
  }

  deliver(message: Message, senderIncarnation: number): void {
    const node = this.nodes.get(message.to);
    const delivered = node?.raft !== undefined && this.network.isLinkUp(message.from, message.to);
    if (!delivered || node === undefined || node.raft === undefined) {
      this.stats.messagesDropped++;
      this.traceMessage("drop", message, node?.raft === undefined ? 3 : 1);
    } else {
      this.stats.messagesDelivered++;
      this.traceMessage("deliver", message, 0);
      node.raft.step(message);
      this.drain(node);
    }
    if (message.type === "snapshot") {
      this.reportSnapshot(message.from, senderIncarnation, message.to, delivered);
    }
  }

  /** Runs the node's Ready loop until the core has nothing more to hand out. */
  drain(node: SimNode): void {
    const raft = node.raft;
    if (raft === undefined) return;
    if (this.scenario.asyncPersistence) {
      // One Ready at a time is in the "disk"; inputs keep arriving meanwhile.
      if (node.pendingReady !== undefined || !raft.hasReady()) return;
      const ready = raft.ready();
      node.pendingReady = ready;
      node.earlySent = undefined;
      if (this.mayLeaderSendEarly(node, ready)) {
        // Raft thesis §10.2.1: the leader replicates while its own disk write is in flight.
        node.earlySent = new Set();
        for (const message of ready.messages) {
          if (!EARLY_MESSAGE_TYPES.has(message.type)) continue;
          node.earlySent.add(message);
          this.send(node, message);
        }
      }
      let latency = this.prng.range(
        this.scenario.diskLatencyMinUnits,
        this.scenario.diskLatencyMaxUnits,
      );
      // A stalled disk: the node keeps receiving but can send nothing until the write lands.
      if (this.prng.chance(this.scenario.diskStallProbability)) {
        latency += this.prng.range(0, this.scenario.diskStallMaxUnits);
      }
      this.queue.push(this.now + latency, {
        kind: "persisted",
        node: node.id,
        incarnation: node.incarnation,
      });
      return;
    }
    for (let round = 0; raft.hasReady(); round++) {
      if (round >= MAX_READY_ROUNDS) {
        throw new InvariantViolation(
          "core-error",
          `node ${node.id} produced Ready ${MAX_READY_ROUNDS} times for one input`,
        );
      }
      const ready = raft.ready();
      if (!this.handleReady(node, ready)) return; // crashed inside the Ready
      raft.advance();
      this.serveReads(node);
    }
    this.maybeSnapshot(node);
  }

  /**
   * The core's documented rule for sending before persisting (docs/raft.md, "A leader may send
   * before it persists"): only a leader, one Ready at a time, and only when the Ready does not
   * change the durable term or vote (only the commit index may change).
   */
  private mayLeaderSendEarly(node: SimNode, ready: Ready): boolean {
    if (!this.scenario.leaderSendsBeforePersist) return false;
    if ((ready.softState?.role ?? node.role) !== "leader") return false;
    const hard = ready.hardState;
    if (hard === undefined) return true;
    const durable = node.storage!.hardState();
    return hard.term === durable.term && hard.vote === durable.vote;
  }

  /** Asynchronous persistence: the disk finished writing the node's outstanding Ready. */
  persisted(id: number, incarnation: number): void {
    const node = this.node(id);
    const ready = node.pendingReady;
    if (node.raft === undefined || node.incarnation !== incarnation || ready === undefined) return;
    node.pendingReady = undefined;
    if (!this.handleReady(node, ready)) return; // crashed inside the Ready
    node.raft.advance();
    this.serveReads(node);
    this.maybeSnapshot(node);
    this.drain(node);
  }

  /** Returns false when an armed crash struck while handling the Ready. */
  private handleReady(node: SimNode, ready: Ready): boolean {
    const id = node.id;
    const storage = node.storage!;
    const { logs, completeness, stateMachines, acknowledged } = this.checkers;
    // 1. Persist: snapshot, entries, hard state.
    let restored: SimStateMachine | undefined;
    if (ready.snapshot !== undefined) {
      const metadata = ready.snapshot.metadata;
      restored = this.restoreMachine(node, ready.snapshot.data, metadata.index);
      storage.applySnapshot(ready.snapshot);
      logs.resetToSnapshot(id, metadata.index, metadata.term, restored.digest);
      this.stats.snapshotsInstalled++;
      this.trace.record(this.now, "snapshot-install", id, metadata.index, metadata.term);
    }
    if (ready.entries.length > 0) {
      storage.append(ready.entries);
      logs.append(id, ready.entries);
    }
    if (ready.hardState !== undefined) {
      const hard = ready.hardState;
      if (hard.term < node.term) {
        throw new InvariantViolation(
          "ready-contract",
          `node ${id} persisted term ${hard.term} after term ${node.term}`,
        );
      }
      if (hard.commit < node.commit) {
        throw new InvariantViolation(
          "ready-contract",
          `node ${id} persisted commit ${hard.commit} after commit ${node.commit}`,
        );
      }
      storage.setHardState(hard);
      this.checkers.votes.onHardState(id, hard.term, hard.vote);
      node.term = hard.term;
      if (hard.commit !== node.commit) {
        node.commit = hard.commit;
        completeness.onCommit(id, hard.term, hard.commit, logs.log(id));
        this.trace.record(this.now, "commit", id, hard.commit, hard.term);
      }
    }
    if (storage.lastIndex() !== logs.log(id).lastIndex) {
      throw new InvariantViolation(
        "harness",
        `node ${id}: storage last index ${storage.lastIndex()} but the checker's mirror says ${logs.log(id).lastIndex}`,
      );
    }
    const persisted =
      ready.snapshot !== undefined || ready.entries.length > 0 || ready.hardState !== undefined;
    if (persisted && node.armedCrash === "after-persist") {
      this.crash(id, "crash after persisting, before sending");
      return false;
    }
    // 2. Send.
    const early = node.earlySent;
    for (const message of ready.messages)
      if (early === undefined || !early.has(message)) this.send(node, message);
    if (persisted && node.armedCrash === "after-send") {
      this.crash(id, "crash after sending, before applying");
      return false;
    }
    if (ready.softState !== undefined) {
      const soft = ready.softState;
      if (soft.role !== node.role || soft.leaderId !== node.leaderId) {
        node.role = soft.role;
        node.leaderId = soft.leaderId;
        this.trace.record(this.now, "role", id, ROLE_CODES[soft.role], node.term, soft.leaderId);
      }
    }
    // 3. Install the snapshot into the state machine, then apply committed entries in order.
    if (restored !== undefined) {
      stateMachines.onRestore(id, restored.appliedIndex, restored.digest, true);
      node.machine = restored;
      acknowledged.onRestore(id, restored);
    }
    for (const entry of ready.committedEntries) this.apply(node, entry);
    // 4. Reads are answered once applied reaches their index (serveReads, after advance).
    for (const readState of ready.readStates) node.readStates.push(readState);
    return true;
  }

  private apply(node: SimNode, entry: Entry): void {
    const id = node.id;
    const machine = node.machine;
    if (entry.index !== machine.appliedIndex + 1) {
      throw new InvariantViolation(
        "ready-contract",
        `node ${id} was handed committed entry ${entry.index} with its state machine at ${machine.appliedIndex}`,
      );
    }
    if (entry.index > node.commit) {
      throw new InvariantViolation(
        "ready-contract",
        `node ${id} was handed entry ${entry.index} to apply, beyond its persisted commit ${node.commit}`,
      );
    }
    const writeId = machine.apply(entry);
    const committed = this.checkers.completeness.committedDigestAt(entry.index);
    if (committed !== undefined && committed !== machine.digest) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${id} applied entry ${entry.index} (term ${entry.term}) that is not the committed entry at that index`,
      );
    }
    this.checkers.stateMachines.onApply(id, entry.index, machine.digest);
    this.checkers.acknowledged.onApply(id, machine);
    this.stats.entriesApplied++;
    const kind = entry.type === "conf-change" ? 2 : writeId === undefined ? 0 : 1;
    this.trace.record(this.now, "apply", id, entry.index, entry.term, kind, writeId ?? 0);
    this.hooks.onApplied(node, entry, writeId);
  }

  private serveReads(node: SimNode): void {
    if (node.readStates.length === 0) return;
    const waiting: ReadState[] = [];
    for (const readState of node.readStates) {
      if (readState.index <= node.machine.appliedIndex) this.hooks.onReadServed(node, readState);
      else waiting.push(readState);
      if (node.raft === undefined) return;
    }
    node.readStates = waiting;
  }

  private send(node: SimNode, message: Message): void {
    if (message.from !== node.id) {
      throw new InvariantViolation(
        "ready-contract",
        `node ${node.id} emitted a message from ${message.from}`,
      );
    }
    if (!this.nodes.has(message.to)) {
      throw new InvariantViolation(
        "ready-contract",
        `node ${node.id} sent a ${message.type} to unknown node ${message.to}`,
      );
    }
    const delays = this.network.plan(message.from, message.to);
    if (delays.length === 0) {
      this.stats.messagesDropped++;
      const cut = !this.network.isLinkUp(message.from, message.to);
      this.traceMessage("drop", message, cut ? 1 : 2);
      if (cut && (message.type === "append" || message.type === "snapshot")) {
        this.queue.push(this.now + 1, {
          kind: "unreachable",
          node: node.id,
          incarnation: node.incarnation,
          to: message.to,
        });
      }
      if (message.type === "snapshot") this.reportSnapshotLater(node, message.to, false);
      return;
    }
    for (const delay of delays) {
      this.queue.push(this.now + delay, {
        kind: "deliver",
        message,
        senderIncarnation: node.incarnation,
      });
    }
  }

  private reportSnapshotLater(node: SimNode, to: number, succeeded: boolean): void {
    this.queue.push(this.now + 1, {
      kind: "snapshot-status",
      node: node.id,
      incarnation: node.incarnation,
      to,
      succeeded,
    });
  }

  reportSnapshot(from: number, incarnation: number, to: number, succeeded: boolean): void {
    const node = this.nodes.get(from);
    if (node?.raft === undefined || node.incarnation !== incarnation) return;
    node.raft.reportSnapshot(to, succeeded);
    this.drain(node);
  }

  reportUnreachable(from: number, incarnation: number, to: number): void {
    const node = this.node(from);
    if (node.raft === undefined || node.incarnation !== incarnation) return;
    node.raft.reportUnreachable(to);
    this.drain(node);
  }

  reportLeaderLost(id: number, incarnation: number): void {
    const node = this.node(id);
    if (node.raft === undefined || node.incarnation !== incarnation) return;
    node.raft.reportLeaderLost();
    this.drain(node);
  }

  /** Mutation "lose-log-tail": rebuild the node's storage without its last 1-3 entries. */
  private loseLogTail(node: SimNode): void {
    const old = node.storage;
    if (old === undefined) return;
    const snapshot = old.snapshot();
    const keepLast = Math.max(snapshot.metadata.index, old.lastIndex() - this.prng.range(1, 3));
    const storage = new MemoryStorage(this.bootstrap);
    if (snapshot.metadata.index > 0) storage.applySnapshot(snapshot);
    const first = snapshot.metadata.index + 1;
    const entries =
      keepLast >= first ? old.entries(first, keepLast + 1, Number.MAX_SAFE_INTEGER) : [];
    storage.append(entries);
    const hard = old.hardState();
    storage.setHardState({ ...hard, commit: Math.min(hard.commit, keepLast) });
    node.storage = storage;
    const digest = SimStateMachine.decode(snapshot.data).digest;
    this.checkers.logs.resetToSnapshot(
      node.id,
      snapshot.metadata.index,
      snapshot.metadata.term,
      digest,
    );
    this.checkers.logs.append(node.id, entries);
  }

  /** Periodic snapshot and compaction, so lagging followers are caught up by snapshot. */
  private maybeSnapshot(node: SimNode): void {
    const storage = node.storage;
    if (node.raft === undefined || storage === undefined) return;
    const applied = node.machine.appliedIndex;
    const snapshotIndex = storage.snapshot().metadata.index;
    if (applied - snapshotIndex < this.scenario.snapshotEveryEntries) return;
    storage.createSnapshot(applied, undefined, node.machine.encode());
    const compactTo = applied - this.scenario.compactionLagEntries;
    if (compactTo >= storage.firstIndex()) storage.compact(compactTo);
    this.stats.snapshotsCreated++;
    this.trace.record(this.now, "snapshot-create", node.id, applied, compactTo);
  }

  private restoreMachine(node: SimNode, data: Uint8Array, index: number): SimStateMachine {
    const machine = SimStateMachine.decode(data);
    if (machine.appliedIndex !== index) {
      throw new InvariantViolation(
        "harness",
        `node ${node.id}: snapshot at index ${index} holds a state machine image at ${machine.appliedIndex}`,
      );
    }
    return machine;
  }

  /** One line per node: up or down, role, term, commit, applied, log bounds. */
  describeNodes(): string[] {
    const lines: string[] = [];
    for (const node of this.nodes.values()) {
      const storage = node.storage;
      if (storage === undefined) {
        lines.push(`n${node.id}: never started`);
        continue;
      }
      const log = `log ${storage.firstIndex()}..${storage.lastIndex()}, snapshot ${storage.snapshot().metadata.index}`;
      lines.push(
        node.raft === undefined
          ? `n${node.id}: DOWN term=${node.term} commit=${node.commit} ${log}`
          : `n${node.id}: ${node.role} term=${node.term} leader=${node.leaderId} commit=${node.commit} ` +
              `applied=${node.machine.appliedIndex} ${log}${node.pendingReady === undefined ? "" : ", Ready on disk"}`,
      );
    }
    return lines;
  }

  /** After every step: election safety and leader completeness for every current leader. */
  checkLeaders(): void {
    const { election, completeness, logs } = this.checkers;
    for (const node of this.nodes.values()) {
      if (node.raft === undefined || node.role !== "leader") continue;
      election.observeLeader(node.id, node.term);
      completeness.checkLeader(node.id, node.term, logs.log(node.id));
    }
  }

  /**
   * Once per tick: a node with nothing left to hand out must have reported, through Ready,
   * exactly the role, leader, term and commit its status shows. A change that never reached a
   * Ready would leave the node layer acting on stale state (e.g. still routing to a deposed
   * leader, or never persisting a new term).
   */
  checkReportedState(): void {
    for (const node of this.nodes.values()) {
      const raft = node.raft;
      if (raft === undefined || node.pendingReady !== undefined || raft.hasReady()) continue;
      const status = raft.status();
      if (
        status.role !== node.role ||
        status.leaderId !== node.leaderId ||
        status.term !== node.term ||
        status.commit !== node.commit
      ) {
        throw new InvariantViolation(
          "ready-contract",
          `node ${node.id} has no Ready pending but its status (${status.role}, leader ${status.leaderId}, ` +
            `term ${status.term}, commit ${status.commit}) differs from what its Readies reported ` +
            `(${node.role}, leader ${node.leaderId}, term ${node.term}, commit ${node.commit})`,
        );
      }
    }
  }

  /** `reason` for drops: 1 cut link, 2 random loss, 3 receiver down. */
  private traceMessage(kind: "deliver" | "drop", message: Message, reason: number): void {
    this.trace.record(
      this.now,
      kind,
      message.to,
      message.from,
      packMessageFlags(MESSAGE_TYPE_CODES[message.type], message.reject, reason),
      message.term,
      message.index,
      message.entries.length,
      message.commit,
      message.snapshot === undefined ? "" : `snapshot@${message.snapshot.metadata.index}`,
    );
  }
}
