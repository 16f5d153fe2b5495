// One cluster member: drives the consensus core with durable storage, the peer transport and the
// key-value state machine, and implements the client API (member-api.ts) on top.
//
// The Ready loop runs one batch at a time, in the order the core requires: persist (snapshot,
// entries, hard state), send, apply, answer, advance. Inputs (ticks, peer messages, proposals,
// read requests) reach the core at any time; the loop picks up what they produce.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { Agent } from "undici";
import {
  type CommandResult,
  encodeCommand,
  type KvCommand,
  KvError,
  KvStateMachine,
  type TxnOp,
} from "../kv/index.ts";
import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  type Message,
  RaftError,
  RaftNode,
  type Ready,
  type Role,
} from "../raft/index.ts";
import {
  HardStateStore,
  type JsonValue,
  LogStore,
  SnapshotStore,
  StorageError,
} from "../storage/index.ts";
import { type MessageCodec, PeerTransport, TransportError } from "../transport/index.ts";
import type { NodeConfig } from "./config.ts";
import { hostOf, portOf } from "./config.ts";
import {
  DurableRaftStorage,
  decodeDescriptor,
  type Membership,
  type SnapshotState,
  toLogEntry,
} from "./durable-raft-storage.ts";
import { NodeError } from "./errors.ts";
import type {
  ClusterEvent,
  Consistency,
  DeleteAnswer,
  DigestView,
  Durability,
  KeyRecord,
  ListAnswer,
  MemberApi,
  MemberView,
  PutAnswer,
  ReadAnswer,
  StatusView,
  TxnAnswer,
  TxnOperationResult,
  TxnRequest,
} from "./member-api.ts";
import { NodeMetrics } from "./metrics.ts";
import { raftCodec } from "./raft-codec.ts";
import { type SnapshotEnvelope, SnapshotTransfer } from "./snapshot-transfer.ts";

type Envelope = { readonly k: "raft"; readonly m: Message } | SnapshotEnvelope;

/** A request relayed to the leader by a node that does not lead. */
interface ForwardRequest {
  method: string;
  path: string;
  body?: string | Uint8Array;
  contentType?: string;
}

interface PendingProposal {
  readonly term: number;
  /** When the write is answered TIMEOUT (swept on each tick; proposals are in deadline order). */
  readonly deadlineMs: number;
  readonly resolve: (result: CommandResult | undefined) => void;
  readonly reject: (error: Error) => void;
}

interface ReadRound {
  readonly context: string;
  readonly waiters: Array<{ resolve: (index: number) => void; reject: (error: Error) => void }>;
  readonly startedAt: number;
}

/** Message types a leader may send before persisting the Ready that carries them. */
const SENT_BEFORE_PERSIST: ReadonlySet<Message["type"]> = new Set([
  "append",
  "heartbeat",
  "snapshot",
  "timeout-now",
  "read-index-response",
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface MemberOptions {
  readonly config: NodeConfig;
  readonly secret: string;
  readonly logger: Logger;
}

export class ClusterMember implements MemberApi {
  readonly id: number;
  readonly metrics: NodeMetrics;
  private readonly config: NodeConfig;
  private readonly logger: Logger;
  private readonly raft: RaftNode;
  private readonly raftStorage: DurableRaftStorage;
  private readonly transport: PeerTransport<Envelope>;
  private readonly snapshotTransfer: SnapshotTransfer;
  private readonly forwarder = new Agent({ connections: 32, keepAliveTimeout: 4000 });

  private role: Role = "follower";
  private leaderId = 0;
  /** awaitLeader() calls waiting for a leader, woken when the role or the known leader changes. */
  private readonly leaderWaiters = new Set<() => void>();
  private term = 0;
  private commitIndex = 0;
  private persistedIndex = 0;
  /** Membership as of the applied index (what snapshots record). */
  private appliedMembership: Membership;
  /** Every member address ever announced, by id. */
  private readonly addresses = new Map<number, { peer: string; api: string }>();

  private readonly pending = new Map<number, PendingProposal>();
  private readonly persistWaiters: Array<{ index: number; resolve: () => void }> = [];
  private readonly applyWaiters: Array<{ index: number; resolve: () => void }> = [];
  private readonly readQueue: ReadRound["waiters"] = [];
  private readonly readRounds = new Map<string, ReadRound>();
  private readSequence = 0;
  /**
   * Distinguishes this process's read requests from those of earlier runs of the same member: a
   * leader may still answer a request the previous process made (DRILL-3), and that answer must
   * not release a new read with an old read index.
   */
  private readonly incarnation = randomBytes(8).toString("hex");
  private readonly listeners = new Set<(event: ClusterEvent) => void>();
  private lastEventKey = "";

  private driving = false;
  private again = false;
  private stopped = false;
  private failure: Error | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private snapshotting = false;
  private lastSnapshotIndex: number;

  private constructor(
    options: MemberOptions,
    private readonly log: LogStore,
    private readonly hardState: HardStateStore,
    private readonly snapshots: SnapshotStore,
    private readonly kv: KvStateMachine,
    private snapshotState: SnapshotState,
  ) {
    this.config = options.config;
    this.id = options.config.id;
    this.logger = options.logger;
    this.appliedMembership = snapshotState.membership;
    this.lastSnapshotIndex = snapshotState.index;
    for (const member of options.config.members)
      this.addresses.set(member.id, { peer: member.peer, api: member.api });
    this.learnAddresses(snapshotState.membership);
    // Replay membership changes between the snapshot and the applied index, and learn the
    // addresses announced anywhere in the log.
    const applied = kv.appliedIndex();
    for (
      let index = Math.max(log.firstIndex(), snapshotState.index + 1);
      index <= log.lastIndex();
      index++
    ) {
      const [entry] = log.entries(index, index + 1);
      if (entry?.type !== 1) continue;
      const change = decodeConfChange(entry.data);
      this.learnAddress(change);
      if (index <= applied)
        this.appliedMembership = applyChange(this.appliedMembership, change, this.addresses);
    }
    const raft = this.config.raft;
    const storage = new DurableRaftStorage(
      log,
      hardState,
      () => this.snapshotState,
      () => this.kv.appliedIndex(),
    );
    this.raftStorage = storage;
    this.raft = new RaftNode({
      id: this.id,
      storage,
      random: Math.random,
      electionTimeoutTicks: raft.electionTimeoutTicks,
      heartbeatIntervalTicks: raft.heartbeatIntervalTicks,
      appliedIndex: applied,
      preVote: raft.preVote,
      checkQuorum: raft.checkQuorum,
      earlyFailover: raft.earlyFailover,
      lazyCommitPropagation: raft.lazyCommitPropagation,
      maxMessageSizeBytes: raft.maxMessageSizeBytes,
      maxInflightMessages: raft.maxInflightMessages,
      maxInflightBytes: raft.maxInflightBytes,
      maxUncommittedBytes: raft.maxUncommittedBytes,
    });
    this.persistedIndex = log.lastIndex();
    const status = this.raft.status();
    this.term = status.term;
    this.commitIndex = status.commit;

    this.transport = new PeerTransport<Envelope>({
      id: this.id,
      listen: { host: hostOf(this.config.listen.peer), port: portOf(this.config.listen.peer) },
      peers: [...this.addresses]
        .filter(([id]) => id !== this.id)
        .map(
          ([id, address]) =>
            [id, { host: hostOf(address.peer), port: portOf(address.peer) }] as const,
        ),
      secret: options.secret,
      ...(this.config.tls
        ? {
            tls: {
              keyFile: this.config.tls.key,
              certFile: this.config.tls.cert,
              caFile: this.config.tls.ca,
            },
          }
        : {}),
      maxFrameBytes: Math.max(4 * 1024 * 1024, raft.maxMessageSizeBytes * 2),
      logger: this.logger.child({ component: "transport" }),
      codec: raftCodec as MessageCodec<Envelope>,
    });
    this.transport.on("message", (from, envelope) => this.onEnvelope(from, envelope));
    this.transport.on("peerDown", (peer) => {
      if (peer === this.leaderId && this.role !== "leader") {
        this.logger.info(
          { leaderId: peer, term: this.term },
          "lost the connection to the leader: starting an early pre-vote",
        );
        this.raft.reportLeaderLost();
        this.schedule();
      }
    });
    this.snapshotTransfer = new SnapshotTransfer({
      store: snapshots,
      chunkBytes: this.config.snapshot.chunkBytes,
      send: (to, envelope) => this.transport.send(to, envelope),
      onSent: (to, succeeded) => {
        this.metrics.snapshotsSent.inc({ outcome: succeeded ? "ok" : "failed" });
        this.raft.reportSnapshot(to, succeeded);
        this.schedule();
      },
      onReceived: (message) => {
        this.raft.step(message);
        this.schedule();
      },
      log: (message, fields) => this.logger.warn(fields ?? {}, message),
    });
    this.metrics = new NodeMetrics(
      {
        role: () => this.viewRole(),
        term: () => this.term,
        commitIndex: () => this.commitIndex,
        appliedIndex: () => this.kv.appliedIndex(),
        stateMachineCommits: () => this.kv.store.commits,
        stateMachinePendingBatches: () => this.kv.store.pendingBatches(),
        peerLag: () => {
          const status = this.raft.status();
          return [...status.progress]
            .filter(([peer]) => peer !== this.id)
            .map(([peer, progress]) => ({
              peer,
              lag: Math.max(0, status.lastIndex - progress.match),
            }));
        },
      },
      { node: String(this.id) },
    );
  }

  /** Open (or create) the member's data directory and recover it. */
  static async open(options: MemberOptions): Promise<ClusterMember> {
    const { config } = options;
    const directories = {
      log: join(config.dataDir, "log"),
      state: join(config.dataDir, "state"),
      snapshots: join(config.dataDir, "snapshots"),
      kv: join(config.dataDir, "kv"),
    };
    for (const directory of Object.values(directories)) mkdirSync(directory, { recursive: true });
    const log = await LogStore.open({ directory: directories.log });
    const hardState = HardStateStore.open(directories.state);
    const snapshots = SnapshotStore.open({
      directory: directories.snapshots,
      keep: config.snapshot.keep,
    });
    // A state-machine commit that fails in the background stops the member (set once it exists).
    let storeFailure: ((error: Error) => void) | undefined;
    const kv = KvStateMachine.open({
      dir: directories.kv,
      // The log is the durable record: the state machine's batches are committed and flushed by
      // LMDB's writer thread, off the Ready loop, several together (commitIntervalMs), and
      // flushed before the log behind them is compacted (takeSnapshot); after a crash the
      // member re-applies from the log.
      syncMode: "async",
      commitIntervalMs: config.stateMachine.commitIntervalMs,
      onAsyncError: (error) => storeFailure?.(error),
      limits: {
        maxKeySizeBytes: config.limits.maxKeyBytes,
        maxValueSizeBytes: config.limits.maxValueBytes,
      },
    });

    let bootstrap = hardState.current().membership as unknown as Membership | null;
    if (bootstrap === null) {
      bootstrap = config.join
        ? await fetchBootstrap(config, options.logger)
        : {
            confState: { voters: config.members.map((member) => member.id), learners: [] },
            addresses: Object.fromEntries(
              config.members.map((member) => [
                String(member.id),
                { peer: member.peer, api: member.api },
              ]),
            ),
          };
      hardState.save({ membership: bootstrap as unknown as JsonValue });
    }
    const latest = snapshots.latest();
    const snapshotState: SnapshotState = latest
      ? {
          index: latest.index,
          term: latest.term,
          membership: latest.membership as unknown as Membership,
        }
      : { index: 0, term: 0, membership: bootstrap };
    if (latest) {
      // Repairs a crash between installing a snapshot and resetting the log.
      await log.alignToSnapshot(latest.index, latest.term);
    }
    // If the state machine is behind the log's first entry (a crash between installing a
    // snapshot's data and its log step), the log cannot bring it forward: restore the newest
    // snapshot first.
    if (kv.appliedIndex() < log.firstIndex() - 1) {
      if (!latest) {
        throw new StorageError(
          "STORAGE_CORRUPT_FILE",
          `the state machine is at index ${kv.appliedIndex()} but the log starts at ${log.firstIndex()} and no snapshot exists; rebuild this node from its peers (empty its data directory)`,
        );
      }
      const reader = await snapshots.openReader(latest.index);
      try {
        await kv.restoreFromSnapshot(readAll(reader, config.snapshot.chunkBytes));
      } finally {
        await reader.close();
      }
      options.logger.info(
        { index: latest.index },
        "restored the state machine from the local snapshot",
      );
    }
    const member = new ClusterMember(options, log, hardState, snapshots, kv, snapshotState);
    storeFailure = (error) => member.fail(error);
    return member;
  }

  /** Start the transport and the tick timer. */
  async start(): Promise<void> {
    await this.transport.start();
    this.tickTimer = setInterval(() => {
      this.raft.tick();
      this.expireReadRounds();
      this.expireProposals();
      this.schedule();
    }, this.config.raft.tickMs);
    // A single-voter cluster elects itself at once; larger ones wait for the (short) first timeout.
    const conf = this.raft.status().confState;
    if (conf.voters.length === 1 && conf.voters[0] === this.id) this.raft.campaign();
    this.schedule();
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    this.snapshotTransfer.close();
    while (this.driving) await new Promise((resolve) => setTimeout(resolve, 5));
    // A pending write may still commit through the other members: its outcome is unknown.
    const unknown = new NodeError(
      "TIMEOUT",
      "the node shut down before the write was applied; it may or may not take effect",
    );
    for (const pending of this.pending.values()) pending.reject(unknown);
    this.pending.clear();
    const closing = new NodeError("NO_LEADER", "the node is shutting down; retry on another node");
    for (const round of this.readRounds.values())
      for (const waiter of round.waiters) waiter.reject(closing);
    for (const waiter of this.readQueue.splice(0)) waiter.reject(closing);
    await this.transport.close();
    await this.forwarder.close();
    await this.log.close();
    await this.kv.close();
  }

  // ---------------------------------------------------------------- the Ready loop

  private schedule(): void {
    if (this.stopped || this.failure) return;
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = true;
    queueMicrotask(() => {
      this.drive().catch((error: unknown) => this.fail(error));
    });
  }

  private async drive(): Promise<void> {
    try {
      do {
        this.again = false;
        this.startReadRound();
        while (!this.stopped && this.raft.hasReady()) {
          await this.handleReady(this.raft.ready());
          this.raft.advance();
        }
      } while (this.again && !this.stopped);
    } finally {
      this.driving = false;
    }
    this.maybeSnapshot();
  }

  private async handleReady(ready: Ready): Promise<void> {
    // 0. A leader whose term and vote are already durable sends its replication messages while
    //    it writes its own copy (Raft thesis 10.2.1; the Ready contract in docs/raft.md allows
    //    it): a commit computed from its own entries can only leave in a later Ready.
    for (const entry of ready.entries) {
      if (entry.type === "conf-change") this.learnAddress(decodeConfChange(entry.data));
    }
    let messages = ready.messages;
    const role = ready.softState?.role ?? this.role;
    const durable = this.hardState.current().hardState;
    if (
      role === "leader" &&
      (!ready.hardState ||
        (ready.hardState.term === durable.term && ready.hardState.vote === durable.vote))
    ) {
      const deferred: Message[] = [];
      for (const message of ready.messages) {
        if (SENT_BEFORE_PERSIST.has(message.type)) this.sendMessage(message);
        else deferred.push(message);
      }
      messages = deferred;
    }

    // 1. A snapshot from the leader replaces the state machine before anything else.
    if (ready.snapshot) await this.installSnapshot(ready);

    // 2. Start writing the new entries (the write completes on the disk's time)...
    let written: Promise<void> | undefined;
    const startedAt = performance.now();
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!;
      if (first.index < this.log.nextIndex()) {
        // A conflicting suffix from an old leader; queued before the append, in order.
        void this.log.truncate(first.index).catch(() => {});
        this.raftStorage.recent.forgetFrom(first.index);
      }
      written = this.log.append(ready.entries.map(toLogEntry));
      this.raftStorage.recent.remember(ready.entries);
    }

    // 3. ...and meanwhile apply the committed entries that are already durable here, answering
    //    their clients. On a leader that is every committed entry, which takes a disk write off
    //    the latency of each acknowledged write.
    let toApply = ready.committedEntries;
    if (!ready.snapshot && toApply.length > 0) {
      const durableThrough = Math.min(
        this.persistedIndex,
        ready.entries.length > 0 ? ready.entries[0]!.index - 1 : Number.MAX_SAFE_INTEGER,
      );
      let split = 0;
      while (split < toApply.length && toApply[split]!.index <= durableThrough) split++;
      if (split > 0) {
        this.apply(split === toApply.length ? toApply : toApply.slice(0, split));
        toApply = toApply.slice(split);
      }
    }

    // 4. The entries and then the hard state are durable before any message that depends on them.
    if (written) {
      await written;
      this.metrics.fsyncSeconds.observe((performance.now() - startedAt) / 1000);
      this.persistedIndex = ready.entries[ready.entries.length - 1]!.index;
      this.wakePersistWaiters();
    }
    if (ready.hardState) {
      const saved = this.hardState.current().hardState;
      // Term and vote must be durable before any message that depends on them; the commit
      // index need not be (it is recomputed), so it is written only along with them.
      if (ready.hardState.term !== saved.term || ready.hardState.vote !== saved.vote) {
        this.hardState.save({ hardState: ready.hardState });
      }
      if (ready.hardState.term !== this.term) this.term = ready.hardState.term;
      this.commitIndex = ready.hardState.commit;
    }
    if (ready.softState) this.onSoftState(ready.softState.role, ready.softState.leaderId);

    // 5. Send (what was not sent early).
    for (const message of messages) this.sendMessage(message);

    // 6. Apply the rest.
    if (toApply.length > 0) this.apply(toApply);

    // 7. Answer reads whose index is known; the reads queued meanwhile start the next round.
    for (const state of ready.readStates) {
      const context = decoder.decode(state.context);
      const round = this.readRounds.get(context);
      if (!round) continue;
      this.readRounds.delete(context);
      for (const waiter of round.waiters) waiter.resolve(state.index);
    }
    if (ready.readStates.length > 0 && this.readQueue.length > 0) this.schedule();
    this.emitIfChanged();
  }

  private sendMessage(message: Message): void {
    if (message.type === "snapshot") {
      this.snapshotTransfer.send(message);
      return;
    }
    let sent: boolean;
    try {
      sent = this.transport.send(message.to, { k: "raft", m: message });
    } catch (error) {
      // A member whose address is not known yet (its membership entry is still on its way):
      // the core retries it like any unreachable peer.
      if (!(error instanceof TransportError && error.code === "TRANSPORT_UNKNOWN_PEER"))
        throw error;
      sent = false;
    }
    if (!sent) this.raft.reportUnreachable(message.to);
  }

  private onEnvelope(from: number, envelope: Envelope): void {
    if (this.stopped || this.failure) return;
    if (envelope.k === "raft") {
      try {
        this.raft.step(envelope.m);
      } catch (error) {
        // The core refuses to continue from a state it cannot trust; so does the member.
        this.logger.error(
          { from, type: envelope.m?.type },
          "the consensus core refused a peer message",
        );
        this.fail(error);
        return;
      }
      this.schedule();
      return;
    }
    this.snapshotTransfer.receive(from, envelope);
  }

  private onSoftState(role: Role, leaderId: number): void {
    this.logger.debug({ role, leaderId, term: this.term }, "role changed");
    if (role === "candidate" && this.role !== "candidate") this.metrics.elections.inc();
    if (leaderId !== this.leaderId && leaderId !== 0) {
      this.metrics.leaderChanges.inc();
      this.logger.info(
        { leaderId, term: this.term, role },
        leaderId === this.id ? "became the leader" : "following a new leader",
      );
    }
    if (leaderId !== this.leaderId) {
      // A round asked of the previous leader is answered by nobody now: ask the new one at once
      // rather than after the round's expiry (the reads queued behind it would wait as long).
      for (const round of this.readRounds.values()) this.readQueue.push(...round.waiters);
      this.readRounds.clear();
    }
    this.role = role;
    this.leaderId = leaderId;
    for (const wake of this.leaderWaiters) wake();
    this.leaderWaiters.clear();
  }

  private apply(entries: readonly Entry[]): void {
    const startedAt = performance.now();
    const applied = this.kv.appliedIndex();
    const fresh = entries.filter((entry) => entry.index > applied);
    const batch = fresh.map((entry) => ({
      index: entry.index,
      data: entry.type === "conf-change" ? new Uint8Array(0) : entry.data,
    }));
    const results = this.kv.apply(batch);
    for (const entry of fresh) {
      if (entry.type === "conf-change") {
        const change = decodeConfChange(entry.data);
        this.learnAddress(change);
        this.appliedMembership = applyChange(this.appliedMembership, change, this.addresses);
        if (change.type === "remove-node" && change.nodeId !== this.id)
          this.transport.removePeer(change.nodeId);
      }
    }
    for (const [position, entry] of fresh.entries()) {
      const pending = this.pending.get(entry.index);
      if (!pending) continue;
      this.pending.delete(entry.index);
      if (pending.term === entry.term) pending.resolve(results[position]?.result);
      else
        pending.reject(
          new NodeError(
            "NO_LEADER",
            "leadership changed before the write committed; it was not applied, retry",
          ),
        );
    }
    this.metrics.applySeconds.observe((performance.now() - startedAt) / 1000);
    const appliedNow = this.kv.appliedIndex();
    for (let position = this.applyWaiters.length - 1; position >= 0; position--) {
      const waiter = this.applyWaiters[position]!;
      if (waiter.index <= appliedNow) {
        this.applyWaiters.splice(position, 1);
        waiter.resolve();
      }
    }
  }

  private async installSnapshot(ready: Ready): Promise<void> {
    const snapshot = ready.snapshot!;
    const { index, term } = snapshot.metadata;
    const descriptor = decodeDescriptor(snapshot.data);
    const info = this.snapshots
      .list()
      .find(
        (candidate) => candidate.index === descriptor.index && candidate.term === descriptor.term,
      );
    if (!info)
      throw new Error(`snapshot ${index}/${term} was handed to the core but is not on disk`);
    const reader = await this.snapshots.openReader(index);
    try {
      await this.kv.restoreFromSnapshot(readAll(reader, this.config.snapshot.chunkBytes));
    } finally {
      await reader.close();
    }
    this.raftStorage.recent.clear();
    await this.log.alignToSnapshot(index, term);
    const membership = info.membership as unknown as Membership;
    this.snapshotState = { index, term, membership };
    this.appliedMembership = membership;
    this.learnAddresses(membership);
    this.lastSnapshotIndex = index;
    this.persistedIndex = Math.max(this.persistedIndex, index);
    this.logger.info({ index, term }, "installed a snapshot from the leader");
  }

  private maybeSnapshot(): void {
    const applied = this.kv.appliedIndex();
    if (
      this.snapshotting ||
      this.stopped ||
      applied - this.lastSnapshotIndex < this.config.snapshot.everyEntries
    )
      return;
    this.snapshotting = true;
    this.takeSnapshot()
      .catch((error: unknown) =>
        this.logger.error({ error: String(error) }, "taking a snapshot failed; will retry"),
      )
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /** Snapshot the state machine at its applied index, then compact the log behind it. */
  async takeSnapshot(): Promise<number> {
    const source = this.kv.openSnapshot();
    const index = source.appliedIndex;
    const term =
      index === this.snapshotState.index ? this.snapshotState.term : this.log.term(index);
    const membership = this.appliedMembership;
    await this.snapshots.save(
      { index, term, membership: membership as unknown as JsonValue },
      source,
    );
    this.snapshotState = { index, term, membership };
    this.lastSnapshotIndex = index;
    this.metrics.snapshotsTaken.inc();
    const compactTo = Math.min(
      index - this.config.snapshot.catchUpEntries,
      this.log.lastIndex() - 1,
    );
    if (compactTo >= this.log.firstIndex()) {
      // Entries are only dropped from the log once the state machine holding them is on disk.
      await this.kv.store.flush();
      await this.log.compact(compactTo);
    }
    this.logger.info({ index, term, compactedTo: compactTo }, "took a snapshot");
    return index;
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.logger.fatal(
      { error: this.failure.message, stack: this.failure.stack },
      "the member stopped: an invariant or the disk failed",
    );
    // Writes in flight may still commit through the other members: their outcome is unknown.
    const failed = new NodeError(
      "TIMEOUT",
      `this node stopped (${this.failure.message}) before the write was applied; it may or may not take effect`,
    );
    for (const pending of this.pending.values()) pending.reject(failed);
    this.pending.clear();
    // A member that cannot persist must not keep voting or leading: exit and let the
    // supervisor restart it from what is durable.
    setTimeout(() => process.exit(70), 50).unref();
  }

  // ---------------------------------------------------------------- membership & addresses

  private learnAddress(change: ConfChange): void {
    const context = (change as { context?: Uint8Array }).context;
    if (!context || context.length === 0) return;
    try {
      const address = JSON.parse(decoder.decode(context)) as { peer: string; api: string };
      this.addresses.set(change.nodeId, address);
      if (
        change.nodeId !== this.id &&
        this.transport &&
        !this.transport.peers().includes(change.nodeId)
      ) {
        this.transport.addPeer(change.nodeId, {
          host: hostOf(address.peer),
          port: portOf(address.peer),
        });
      }
    } catch {
      this.logger.warn(
        { nodeId: change.nodeId },
        "a membership change carried an unreadable address",
      );
    }
  }

  private learnAddresses(membership: Membership): void {
    for (const [id, address] of Object.entries(membership.addresses)) {
      this.addresses.set(Number(id), address);
      if (
        Number(id) !== this.id &&
        this.transport &&
        !this.transport.peers().includes(Number(id))
      ) {
        this.transport.addPeer(Number(id), {
          host: hostOf(address.peer),
          port: portOf(address.peer),
        });
      }
    }
  }

  // ---------------------------------------------------------------- writes

  private async proposeCommand(
    command: KvCommand,
    durability: Durability,
  ): Promise<{ result?: CommandResult; index: number; committed: boolean }> {
    this.assertRunning();
    if (this.role !== "leader") throw new NodeError("NO_LEADER", "this node is not the leader");
    if (this.pending.size >= this.config.limits.maxPendingProposals) {
      throw new NodeError(
        "OVERLOADED",
        `${this.pending.size} writes are pending (limits.maxPendingProposals); retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeCommand(command, this.kv.limits);
    } catch (error) {
      throw kvToNodeError(error);
    }
    return this.proposeBytes(bytes, durability);
  }

  private async proposeBytes(
    bytes: Uint8Array,
    durability: Durability,
  ): Promise<{ result?: CommandResult; index: number; committed: boolean }> {
    let proposed: { index: number; term: number };
    // This member's view of its role lags the core by one Ready. A core that is no longer
    // leader would forward the proposal to the new leader, where it may commit: only a core
    // that still leads may take it, so that NO_LEADER always means "nothing was written".
    if (this.raft.role !== "leader") {
      throw new NodeError(
        "NO_LEADER",
        "this node is no longer the leader; nothing was written, retry",
      );
    }
    try {
      const outcome = this.raft.propose(bytes);
      if (outcome.forwarded) throw forwardedError();
      proposed = outcome;
    } catch (error) {
      throw raftToNodeError(error);
    }
    this.schedule();
    const timeoutMs = this.config.limits.requestTimeoutMs;
    if (durability === "async") {
      await this.waitFor(this.persistWaiters, proposed.index, () => this.persistedIndex, timeoutMs);
      return { index: proposed.index, committed: false };
    }
    const deadlineMs = performance.now() + timeoutMs;
    // An index proposed in an earlier term of this node's leadership was overwritten by
    // another leader's entry: that write can no longer commit.
    const overwritten = this.pending.get(proposed.index);
    if (overwritten) {
      this.pending.delete(proposed.index);
      overwritten.reject(
        new NodeError(
          "NO_LEADER",
          "leadership changed before the write committed; it was not applied, retry",
        ),
      );
    }
    const result = await new Promise<CommandResult | undefined>((resolve, reject) => {
      this.pending.set(proposed.index, { term: proposed.term, deadlineMs, resolve, reject });
    });
    return result
      ? { result, index: proposed.index, committed: true }
      : { index: proposed.index, committed: true };
  }

  private waitFor(
    list: Array<{ index: number; resolve: () => void }>,
    index: number,
    current: () => number,
    timeoutMs: number,
  ): Promise<void> {
    if (current() >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const position = list.indexOf(waiter);
        if (position >= 0) list.splice(position, 1);
        reject(new NodeError("TIMEOUT", `not reached index ${index} within ${timeoutMs} ms`));
      }, timeoutMs);
      list.push(waiter);
    });
  }

  private wakePersistWaiters(): void {
    for (let position = this.persistWaiters.length - 1; position >= 0; position--) {
      const waiter = this.persistWaiters[position]!;
      if (waiter.index <= this.persistedIndex) {
        this.persistWaiters.splice(position, 1);
        waiter.resolve();
      }
    }
  }

  /** Run `local` on the leader, or forward the client's request to the leader and relay its answer. */
  private leaderOr<T>(local: () => Promise<T>, describe: () => ForwardRequest): Promise<T> {
    // The leader answers itself, without the wait for a known leader below: the common case,
    // taken once per write on a busy leader.
    if (this.role === "leader" && !this.stopped && !this.failure) return local();
    return this.forwardOrLocal(local, describe);
  }

  private async forwardOrLocal<T>(
    local: () => Promise<T>,
    describe: () => ForwardRequest,
  ): Promise<T> {
    const leaderApi = await this.awaitLeader();
    if (leaderApi === undefined) return local();
    // Built only when forwarding: a base64 copy of every value on the leader would be waste.
    const forward = describe();
    const headers: Record<string, string> = { "x-hothot-forwarded": String(this.id) };
    if (forward.contentType) headers["content-type"] = forward.contentType;
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    let response: Awaited<ReturnType<Agent["request"]>>;
    try {
      response = await this.forwarder.request({
        origin: new URL(leaderApi).origin,
        method: forward.method as "PUT",
        path: forward.path,
        headers,
        ...(forward.body !== undefined ? { body: forward.body } : {}),
        headersTimeout: this.config.limits.requestTimeoutMs,
        bodyTimeout: this.config.limits.requestTimeoutMs,
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      if (code === "ECONNREFUSED")
        throw new NodeError("NO_LEADER", "the leader is unreachable; retry");
      throw new NodeError(
        "TIMEOUT",
        `forwarding to the leader failed (${code || String(error)}); the write may or may not take effect`,
      );
    }
    const text = await response.body.text();
    const json = text ? (JSON.parse(text) as unknown) : null;
    if (response.statusCode >= 400) {
      const body = json as { error?: { code?: string; message?: string } } | null;
      const code = (body?.error?.code ?? "INTERNAL") as ConstructorParameters<typeof NodeError>[0];
      throw new NodeError(
        code,
        body?.error?.message ?? `the leader answered ${response.statusCode}`,
      );
    }
    return json as T;
  }

  /** The leader's API URL, or undefined when this node is the leader. Waits briefly during an election. */
  private async awaitLeader(): Promise<string | undefined> {
    const deadline =
      Date.now() +
      Math.min(
        this.config.limits.requestTimeoutMs,
        this.config.raft.electionTimeoutTicks * this.config.raft.tickMs * 4,
      );
    for (;;) {
      this.assertRunning();
      if (this.role === "leader") return undefined;
      if (this.leaderId !== 0) {
        const address = this.addresses.get(this.leaderId);
        if (address) return address.api;
      }
      if (Date.now() >= deadline)
        throw new NodeError(
          "NO_LEADER",
          "no leader is known yet (election in progress); retry shortly",
        );
      // Woken as soon as a leader is learned; the tick bounds the wait (and the deadline check).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.leaderWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, this.config.raft.tickMs);
        this.leaderWaiters.add(done);
      });
    }
  }

  async put(key: string, value: Uint8Array, durability: Durability): Promise<PutAnswer> {
    const started = performance.now();
    const answer = await this.leaderOr(
      async () => {
        const outcome = await this.proposeCommand({ type: "put", key, value }, durability);
        if (!outcome.committed) return { revision: null, committed: false, index: outcome.index };
        const result = expectResult(outcome.result, "put");
        return { revision: result.revision, committed: true };
      },
      () => ({
        method: "PUT",
        path: `/v1/kv/${encodeURIComponent(key)}?encoding=base64&durability=${durability}`,
        body: Buffer.from(value).toString("base64"),
        contentType: "text/plain",
      }),
    );
    this.metrics.proposalSeconds.observe((performance.now() - started) / 1000);
    return answer;
  }

  async delete(key: string, durability: Durability): Promise<DeleteAnswer> {
    return this.leaderOr(
      async () => {
        const outcome = await this.proposeCommand({ type: "delete", key }, durability);
        if (!outcome.committed)
          return { deleted: false, revision: null, committed: false, index: outcome.index };
        const result = expectResult(outcome.result, "delete");
        return { deleted: result.deleted, revision: result.revision, committed: true };
      },
      () => ({
        method: "DELETE",
        path: `/v1/kv/${encodeURIComponent(key)}?durability=${durability}`,
      }),
    );
  }

  async txn(request: TxnRequest, durability: Durability): Promise<TxnAnswer> {
    return this.leaderOr(
      async () => {
        const command = txnCommand(request);
        const outcome = await this.proposeCommand(command, durability);
        if (!outcome.committed)
          return { succeeded: false, revision: null, committed: false, results: [] };
        const result = expectResult(outcome.result, "txn");
        return {
          succeeded: result.succeeded,
          revision: result.revision,
          committed: true,
          results: result.results.map((item): TxnOperationResult => {
            if (item.type === "get") return { op: "get", kv: item.kv ? toRecord(item.kv) : null };
            if (item.type === "delete") return { op: "delete", deleted: item.deleted };
            return { op: "put", revision: item.revision };
          }),
        };
      },
      () => ({
        method: "POST",
        path: `/v1/txn?durability=${durability}`,
        body: JSON.stringify(request),
        contentType: "application/json",
      }),
    ).then((answer) => normalizeForwardedTxn(answer, request));
  }

  // ---------------------------------------------------------------- reads

  /** Wait until this node may serve a read at the given consistency; returns the applied index. */
  private async readBarrier(consistency: Consistency): Promise<number> {
    this.assertRunning();
    if (consistency === "stale") return this.kv.appliedIndex();
    if (
      consistency === "lease" &&
      this.role === "leader" &&
      !this.config.raft.earlyFailover &&
      this.config.raft.checkQuorum
    ) {
      return this.kv.appliedIndex();
    }
    const readIndex = await new Promise<number>((resolve, reject) => {
      this.readQueue.push({ resolve, reject });
      this.schedule();
    });
    await this.waitFor(
      this.applyWaiters,
      readIndex,
      () => this.kv.appliedIndex(),
      this.config.limits.requestTimeoutMs,
    );
    return this.kv.appliedIndex();
  }

  /**
   * Batch every queued read into one ReadIndex request. One round at a time: reads that arrive
   * while a round is out wait for the next one, which then serves all of them (as etcd's read
   * loop does). Under load that is one round for many reads, where a round per read cost the
   * leader a heartbeat to every follower and their answers for each single read.
   */
  private startReadRound(): void {
    if (this.readQueue.length === 0 || this.readRounds.size > 0) return;
    if (this.leaderId === 0 && this.role !== "leader") {
      // Keep them queued until a leader is known (expireReadRounds bounds the wait).
      return;
    }
    const context = `${this.id}:${this.incarnation}:${++this.readSequence}`;
    try {
      this.raft.readIndex(encoder.encode(context));
    } catch (error) {
      // The core lost its leader since the last Ready (this member's view lags by one batch):
      // keep the reads queued; expireReadRounds bounds how long they wait.
      if (error instanceof RaftError && error.code !== "INVARIANT") return;
      throw error;
    }
    const round: ReadRound = { context, waiters: this.readQueue.splice(0), startedAt: Date.now() };
    this.metrics.readRounds.inc();
    this.metrics.readsServed.inc(round.waiters.length);
    this.readRounds.set(context, round);
  }

  /** Answers TIMEOUT to writes past their deadline; they may still take effect. */
  private expireProposals(): void {
    if (this.pending.size === 0) return;
    const now = performance.now();
    for (const [index, pending] of this.pending) {
      if (pending.deadlineMs > now) break;
      this.pending.delete(index);
      pending.reject(
        new NodeError(
          "TIMEOUT",
          `the write was not applied within ${this.config.limits.requestTimeoutMs} ms; it may or may not take effect`,
        ),
      );
    }
  }

  private expireReadRounds(): void {
    const now = Date.now();
    const retryAfterMs = this.config.raft.electionTimeoutTicks * this.config.raft.tickMs;
    for (const [context, round] of this.readRounds) {
      if (now - round.startedAt < retryAfterMs) continue;
      // The request or its answer was lost (leader change): ask again.
      this.readRounds.delete(context);
      this.readQueue.push(...round.waiters);
    }
    if (this.readQueue.length > 0 && this.leaderId === 0 && this.role !== "leader") {
      const oldest = this.readQueueSince ?? now;
      this.readQueueSince = oldest;
      if (now - oldest > this.config.limits.requestTimeoutMs) {
        this.readQueueSince = undefined;
        for (const waiter of this.readQueue.splice(0))
          waiter.reject(new NodeError("NO_LEADER", "no leader is known; retry shortly"));
      }
    } else {
      this.readQueueSince = undefined;
    }
  }
  private readQueueSince: number | undefined;

  async get(key: string, consistency: Consistency): Promise<ReadAnswer<KeyRecord | undefined>> {
    const appliedIndex = await this.readBarrier(consistency);
    try {
      const kv = this.kv.get(key);
      return { value: kv ? toRecord(kv) : undefined, appliedIndex };
    } catch (error) {
      throw kvToNodeError(error);
    }
  }

  async list(
    query: { prefix: string; after: string | undefined; limit: number },
    consistency: Consistency,
  ): Promise<ReadAnswer<ListAnswer>> {
    const appliedIndex = await this.readBarrier(consistency);
    try {
      const page = this.kv.list({
        prefix: query.prefix,
        limit: query.limit,
        ...(query.after ? { after: query.after } : {}),
      });
      return {
        value: { items: page.items.map(toRecord), more: page.more, next: page.next ?? null },
        appliedIndex,
      };
    } catch (error) {
      throw kvToNodeError(error);
    }
  }

  // ---------------------------------------------------------------- status & events

  private viewRole(): StatusView["role"] {
    if (this.role === "follower" && this.raft.status().confState.learners.includes(this.id))
      return "learner";
    return this.role;
  }

  status(): StatusView {
    const status = this.raft.status();
    const ids = [...status.confState.voters, ...status.confState.learners];
    const members: MemberView[] = ids.map((id) => {
      const address = this.addresses.get(id);
      const progress = status.progress.get(id);
      return {
        id,
        api: address?.api ?? "",
        peer: address?.peer ?? "",
        role: status.confState.learners.includes(id) ? "learner" : "voter",
        matchIndex: progress ? progress.match : null,
        lag: progress ? Math.max(0, status.lastIndex - progress.match) : null,
        lastContactMs: progress
          ? id === this.id
            ? 0
            : progress.lastContactTicks * this.config.raft.tickMs
          : null,
      };
    });
    return {
      id: this.id,
      pid: process.pid,
      role: this.viewRole(),
      leaderId: status.leaderId === 0 ? null : status.leaderId,
      term: status.term,
      commitIndex: status.commit,
      appliedIndex: this.kv.appliedIndex(),
      members,
    };
  }

  leaderApi(): string | undefined {
    return this.leaderId === 0 ? undefined : this.addresses.get(this.leaderId)?.api;
  }

  subscribe(listener: (event: ClusterEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitIfChanged(): void {
    if (this.listeners.size === 0 && this.lastEventKey !== "") return;
    const status = this.status();
    const event: ClusterEvent = {
      id: status.id,
      role: status.role,
      leaderId: status.leaderId,
      term: status.term,
      members: status.members.map(({ id, api, role }) => ({ id, api, role })),
    };
    const key = JSON.stringify(event);
    if (key === this.lastEventKey) return;
    this.lastEventKey = key;
    for (const listener of this.listeners) listener(event);
  }

  async metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  bootstrap(): Membership {
    return this.hardState.current().membership as unknown as Membership;
  }

  digest(): DigestView {
    const digest = this.kv.digest();
    return { sha256: digest.sha256, appliedIndex: digest.appliedIndex, revision: digest.revision };
  }

  // ---------------------------------------------------------------- administration

  async transferLeadership(to: number): Promise<{ leaderId: number }> {
    const leaderApi = await this.awaitLeader();
    if (leaderApi !== undefined) {
      return this.leaderOr(
        async () => ({ leaderId: to }),
        () => ({
          method: "POST",
          path: "/v1/admin/transfer-leadership",
          body: JSON.stringify({ to }),
          contentType: "application/json",
        }),
      );
    }
    if (to === this.id) return { leaderId: this.id };
    try {
      this.raft.transferLeadership(to);
    } catch (error) {
      throw new NodeError(
        "TRANSFER_FAILED",
        `cannot transfer leadership to ${to}: ${(error as Error).message}`,
      );
    }
    this.schedule();
    const deadline =
      Date.now() + this.config.raft.electionTimeoutTicks * this.config.raft.tickMs * 3;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.config.raft.tickMs));
      if (this.leaderId === to) return { leaderId: to };
    }
    throw new NodeError(
      "TRANSFER_FAILED",
      `member ${to} did not take over within an election timeout; the current leader is ${this.leaderId || "unknown"}`,
    );
  }

  private async changeMembership(
    change: ConfChange,
    forward: { method: string; path: string; body?: string },
  ): Promise<void> {
    await this.leaderOr(
      async () => {
        this.assertRunning();
        if (this.raft.role !== "leader") {
          throw new NodeError(
            "NO_LEADER",
            "this node is no longer the leader; nothing was changed, retry",
          );
        }
        let proposed: { index: number; term: number };
        try {
          const outcome = this.raft.proposeConfChange(change);
          if (outcome.forwarded) throw forwardedError();
          proposed = outcome;
        } catch (error) {
          if (error instanceof NodeError) throw error;
          throw new NodeError("MEMBERSHIP_CHANGE_REFUSED", (error as Error).message);
        }
        this.schedule();
        await this.waitFor(
          this.applyWaiters,
          proposed.index,
          () => this.kv.appliedIndex(),
          this.config.limits.requestTimeoutMs,
        );
        return {};
      },
      () => ({ ...forward, ...(forward.body ? { contentType: "application/json" } : {}) }),
    );
  }

  async addLearner(member: { id: number; peer: string; api: string }): Promise<void> {
    const context = encoder.encode(JSON.stringify({ peer: member.peer, api: member.api }));
    await this.changeMembership({ type: "add-learner", nodeId: member.id, context } as ConfChange, {
      method: "POST",
      path: "/v1/admin/members",
      body: JSON.stringify(member),
    });
  }

  async promote(id: number): Promise<void> {
    await this.changeMembership(
      { type: "promote-learner", nodeId: id },
      { method: "POST", path: `/v1/admin/members/${id}/promote` },
    );
  }

  async removeMember(id: number): Promise<void> {
    await this.changeMembership(
      { type: "remove-node", nodeId: id },
      { method: "DELETE", path: `/v1/admin/members/${id}` },
    );
  }

  private assertRunning(): void {
    if (this.failure)
      throw new NodeError("STORAGE_FAILED", `this node stopped: ${this.failure.message}`);
    if (this.stopped)
      throw new NodeError("NO_LEADER", "the node is shutting down; retry on another node");
  }
}

// ---------------------------------------------------------------- helpers

/**
 * A joining member must start from the cluster's founding membership (the configuration before
 * index 1): replaying the log onto anything else would build a wrong configuration. It asks the
 * members it was told about.
 */
async function fetchBootstrap(config: NodeConfig, logger: Logger): Promise<Membership> {
  const deadline = Date.now() + config.limits.requestTimeoutMs * 6;
  const headers: Record<string, string> = config.token
    ? { authorization: `Bearer ${config.token}` }
    : {};
  while (Date.now() < deadline) {
    for (const member of config.members) {
      if (member.id === config.id) continue;
      try {
        const response = await fetch(`${member.api}/v1/admin/bootstrap`, {
          headers,
          signal: AbortSignal.timeout(2000),
        });
        if (response.ok) {
          const membership = (await response.json()) as Membership;
          if (
            Array.isArray(membership?.confState?.voters) &&
            membership.confState.voters.length > 0
          )
            return membership;
        }
      } catch {
        // try the next member
      }
    }
    logger.info("waiting for a member of the cluster to join");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new NodeError(
    "NO_LEADER",
    `could not reach any member listed in the configuration to join the cluster (${config.members.map((member) => member.api).join(", ")})`,
  );
}

function applyChange(
  membership: Membership,
  change: ConfChange,
  addresses: ReadonlyMap<number, { peer: string; api: string }>,
): Membership {
  const voters = new Set(membership.confState.voters);
  const learners = new Set(membership.confState.learners);
  switch (change.type) {
    case "add-learner":
      learners.add(change.nodeId);
      break;
    case "add-voter":
      voters.add(change.nodeId);
      learners.delete(change.nodeId);
      break;
    case "promote-learner":
      learners.delete(change.nodeId);
      voters.add(change.nodeId);
      break;
    case "remove-node":
      voters.delete(change.nodeId);
      learners.delete(change.nodeId);
      break;
  }
  const confState: ConfState = {
    voters: [...voters].sort((a, b) => a - b),
    learners: [...learners].sort((a, b) => a - b),
  };
  const known: Record<string, { peer: string; api: string }> = {};
  for (const id of [...confState.voters, ...confState.learners]) {
    const address = addresses.get(id) ?? membership.addresses[String(id)];
    if (address) known[String(id)] = address;
  }
  return { confState, addresses: known };
}

async function* readAll(
  reader: {
    readChunk(offset: number, maxBytes: number): Promise<Uint8Array>;
    offer(): { dataBytes: number };
  },
  chunkBytes: number,
): AsyncGenerator<Uint8Array> {
  const total = reader.offer().dataBytes;
  let offset = 0;
  while (offset < total) {
    const chunk = await reader.readChunk(offset, chunkBytes);
    if (chunk.length === 0) throw new Error(`snapshot ended early at byte ${offset} of ${total}`);
    offset += chunk.length;
    yield chunk;
  }
}

function toRecord(kv: {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
}): KeyRecord {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
}

function expectResult<T extends CommandResult["type"]>(
  result: CommandResult | undefined,
  type: T,
): Extract<CommandResult, { type: T }> {
  if (!result) throw new NodeError("INTERNAL", "the write applied without a result");
  if (result.type === "error") throw kvToNodeError(new KvError(result.code, result.message));
  if (result.type !== type)
    throw new NodeError("INTERNAL", `expected a ${type} result, got ${result.type}`);
  return result as Extract<CommandResult, { type: T }>;
}

function txnCommand(request: TxnRequest): KvCommand {
  const bytes = (value: string) =>
    request.encoding === "base64"
      ? new Uint8Array(Buffer.from(value, "base64"))
      : encoder.encode(value);
  const operation = (op: TxnRequest["success"][number]): TxnOp => {
    if (op.op === "put") return { type: "put", key: op.key, value: bytes(op.value) };
    return { type: op.op, key: op.key };
  };
  return {
    type: "txn",
    compare: request.compare.map((compare) => {
      if (compare.target === "value") {
        if (typeof compare.value !== "string")
          throw new NodeError(
            "INVALID_REQUEST",
            `compare on ${compare.key}: a value compare needs a string value`,
          );
        return { key: compare.key, target: "value", op: compare.op, value: bytes(compare.value) };
      }
      if (compare.target === "exists") {
        if (typeof compare.value !== "boolean" || (compare.op !== "=" && compare.op !== "!=")) {
          throw new NodeError(
            "INVALID_REQUEST",
            `compare on ${compare.key}: exists takes = or != and true or false`,
          );
        }
        return { key: compare.key, target: "exists", op: compare.op, value: compare.value };
      }
      if (typeof compare.value !== "number")
        throw new NodeError(
          "INVALID_REQUEST",
          `compare on ${compare.key}: ${compare.target} needs a number`,
        );
      return { key: compare.key, target: compare.target, op: compare.op, value: compare.value };
    }),
    success: request.success.map(operation),
    failure: request.failure.map(operation),
  };
}

/** A forwarded transaction comes back as JSON with values as text: make it a TxnAnswer again. */
function normalizeForwardedTxn(answer: TxnAnswer, request: TxnRequest): TxnAnswer {
  return {
    ...answer,
    results: answer.results.map((result) => {
      if (result.op !== "get" || !result.kv || result.kv.value instanceof Uint8Array) return result;
      const text = result.kv.value as unknown as string;
      const value =
        request.encoding === "base64"
          ? new Uint8Array(Buffer.from(text, "base64"))
          : encoder.encode(text);
      return { op: "get", kv: { ...result.kv, value } };
    }),
  };
}

/** The core handed a proposal to another leader: it may commit there, so the outcome is unknown. */
function forwardedError(): NodeError {
  return new NodeError(
    "TIMEOUT",
    "leadership moved while proposing; the write was handed to the new leader and may or may not take effect",
  );
}

function kvToNodeError(error: unknown): NodeError {
  if (error instanceof NodeError) return error;
  if (error instanceof KvError) {
    switch (error.code) {
      case "KEY_TOO_LARGE":
      case "VALUE_TOO_LARGE":
        return new NodeError(error.code, error.message);
      case "COMMAND_TOO_LARGE":
        return new NodeError("BODY_TOO_LARGE", error.message);
      default:
        return new NodeError("INVALID_REQUEST", error.message);
    }
  }
  return new NodeError("INTERNAL", String(error));
}

function raftToNodeError(error: unknown): NodeError {
  if (error instanceof NodeError) return error;
  if (error instanceof RaftError) {
    if (error.code === "TOO_MANY_UNCOMMITTED")
      return new NodeError("OVERLOADED", `${error.message}; retry shortly`, {
        retryAfterSeconds: 1,
      });
    if (error.code === "PROPOSAL_DROPPED" || error.code === "NOT_LEADER")
      return new NodeError("NO_LEADER", `${error.message}; retry`);
  }
  return new NodeError("INTERNAL", String(error));
}
