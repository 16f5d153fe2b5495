// Public types of the consensus core. The core is a pure state machine: it performs no I/O,
// reads no clock and draws no randomness of its own. Everything it needs comes in through
// `RaftConfig` (storage reads, a seeded random source) and the methods of `RaftNode`; everything
// it wants done goes out through `Ready`.

/** A cluster member's identity. Positive integer; `NO_NODE` (0) means "none". */
export type NodeId = number;
export const NO_NODE: NodeId = 0;

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

export type EntryType = "normal" | "conf-change";

/** One record of the replicated log. A new leader appends a "normal" entry with empty data (the no-op). */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque application payload, or the encoded `ConfChange` for "conf-change" entries. */
  readonly data: Uint8Array;
}

/** What must be durable before a vote or an acknowledgement leaves the node. */
export interface HardState {
  readonly term: number;
  /** Whom this node voted for in `term`, or NO_NODE. */
  readonly vote: NodeId;
  readonly commit: number;
}

/** Cluster membership: voters decide elections and commitment; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One membership change. Changes are applied one server at a time (see docs/architecture.md):
 * a leader accepts a new change only when no earlier change is uncommitted in its log, and only
 * after it has committed an entry of its own term.
 */
export type ConfChange =
  | { readonly type: "add-learner"; readonly nodeId: NodeId; readonly context?: Uint8Array }
  | { readonly type: "add-voter"; readonly nodeId: NodeId; readonly context?: Uint8Array }
  | { readonly type: "promote-learner"; readonly nodeId: NodeId; readonly context?: Uint8Array }
  | { readonly type: "remove-node"; readonly nodeId: NodeId; readonly context?: Uint8Array };
// `context` is opaque to the core and carried unchanged through encodeConfChange /
// decodeConfChange (absent stays absent); the node layer puts the member's addresses there.
// At most MAX_CONF_CHANGE_CONTEXT_BYTES (64 KiB).

export interface SnapshotMetadata {
  /** Last log index the snapshot covers (inclusive). */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

/**
 * A point-in-time image of the state machine. `data` is opaque to the core: an in-process
 * application (the simulator) may put the whole state there; the node layer puts a small
 * descriptor there and moves the real bytes in chunks itself.
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** Every message type, in a fixed order: the position is the type's code in the node's binary
 * message layout and in simulator traces, so new types go at the end. */
export const MESSAGE_TYPES = [
  "append", // log entries (or an empty append as a probe)
  "append-response",
  "heartbeat",
  "heartbeat-response",
  "pre-vote",
  "pre-vote-response",
  "vote",
  "vote-response",
  "snapshot", // snapshot metadata (+ data as produced by the storage)
  "propose", // a follower forwarding proposals to its leader
  "read-index", // a follower forwarding a ReadIndex request to its leader
  "read-index-response",
  "timeout-now", // leadership transfer: campaign now, ignoring the election timer
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/**
 * A message between peers. The node layer moves it without looking inside; only `from`, `to`
 * and `type` are meant for the transport (routing, metrics, fault injection).
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** append: term of the entry before `entries`; vote: last log term; response: hint term. */
  readonly logTerm: number;
  /** append: index of the entry before `entries`; vote: last log index; response: match/hint index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  /** append / heartbeat: the leader's commit index; heartbeat-response: the follower's. */
  readonly commit: number;
  readonly reject: boolean;
  /** append-response rejections: the follower's last index (fast backtracking). */
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** read-index / read-index-response / heartbeat: the request context; vote: campaign reason. */
  readonly context?: Uint8Array;
}

/** Answer to `readIndex(context)`: once this node has applied `index`, a read may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/** State that is not persisted; reported in Ready when it changes. */
export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: Role;
}

/**
 * A batch of work for the caller. Handle it in this order, then call `advance()`:
 * 1. persist `snapshot` (if any), then `entries` (appending; an entry at an existing index
 *    replaces that entry and everything after it), then `hardState` (if any) — fsynced when
 *    `mustSync` is true;
 * 2. send `messages`;
 * 3. install `snapshot` into the state machine, then apply `committedEntries` in order;
 * 4. answer `readStates` once the applied index reaches their index.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

/**
 * The durable log as the core reads it. Implemented by the caller: the core never writes here
 * (it asks for writes through Ready); it only reads what the caller has persisted.
 * All methods are synchronous. `RaftError` with code COMPACTED / UNAVAILABLE signals a range
 * that was compacted away or is not (yet) in the log.
 */
export interface RaftStorage {
  /** Persisted hard state, and the membership as of `snapshot().metadata.index`. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most `maxBytes` of payload but always at least one if lo < hi. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at `index`; valid for firstIndex()-1 .. lastIndex(). */
  term(index: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot, to send to a follower behind the compaction point. */
  snapshot(): Snapshot;
}

export type ReadOnlyOption = "safe" | "lease";

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  /** Seeded random source, values in [0, 1). The only randomness the core uses. */
  readonly random: () => number;
  /**
   * A follower that hears nothing from a leader for a random duration in
   * [electionTimeoutTicks, 2 * electionTimeoutTicks) starts a (pre-)election. Longer means fewer
   * needless elections on a slow network and slower failover on a silent failure.
   */
  readonly electionTimeoutTicks?: number;
  /** The leader sends heartbeats every this many ticks. Must be < electionTimeoutTicks. */
  readonly heartbeatIntervalTicks?: number;
  /** Last index the application has applied (on restart); entries up to it are not re-delivered. */
  readonly appliedIndex?: number;
  /** Pre-vote: a node rejoining from a partition cannot bump the term and depose a leader. */
  readonly preVote?: boolean;
  /** Check-quorum: a leader that hears from no quorum for an election timeout steps down. */
  readonly checkQuorum?: boolean;
  /**
   * Early failover: the node layer may call `reportLeaderLost()` when its connection to the
   * leader drops; the follower then starts a pre-vote at once instead of waiting for its timeout.
   * Never affects safety; disables lease reads.
   */
  readonly earlyFailover?: boolean;
  /**
   * A new commit index travels with the next append to each follower, or on its own within a
   * tick if none leaves, instead of in an append of its own right away. Under a steady write
   * load one append leaves with every Ready anyway, so this drops an append and its answer per
   * follower and commit; followers apply up to a tick later when the writes stop. Never affects
   * safety, nor a write's acknowledgement (the leader answers).
   */
  readonly lazyCommitPropagation?: boolean;
  /** Upper bound on the payload bytes of one append message. */
  readonly maxMessageSizeBytes?: number;
  /** Append messages in flight to one follower at once (pipelining window, by count). */
  readonly maxInflightMessages?: number;
  /** Payload bytes in flight to one follower at once (pipelining window, by size). */
  readonly maxInflightBytes?: number;
  /** Payload bytes proposed but not yet committed; past it, `propose` fails with TOO_MANY_UNCOMMITTED. */
  readonly maxUncommittedBytes?: number;
  /** Upper bound on the payload bytes of committed entries handed out in one Ready. */
  readonly maxCommittedBytesPerReady?: number;
  /** "safe" = ReadIndex with a heartbeat round; "lease" = leader-local (needs checkQuorum, not earlyFailover). */
  readonly readOnlyOption?: ReadOnlyOption;
  /** A learner may be promoted only once its match index is within this many entries of the leader's last index. */
  readonly promotionMaxLagEntries?: number;
  /**
   * ReadIndex requests held at once (waiting for a heartbeat round or for the leader's first
   * commit of its term); past it `readIndex` fails with TOO_MANY_PENDING_READS.
   */
  readonly maxPendingReadIndex?: number;
  /**
   * A snapshot sent to a follower that still answers heartbeats but has not reported it
   * installed (nor been reported by `reportSnapshot`) is sent again after this many ticks.
   * Repairs a lost snapshot message; the node layer, if still moving the same snapshot, ignores
   * the repeat. Default: 10 election timeouts. Longer for large snapshots on slow links.
   */
  readonly snapshotRetryTicks?: number;
}

export interface Progress {
  readonly match: number;
  readonly next: number;
  readonly state: "probe" | "replicate" | "snapshot";
  readonly recentActive: boolean;
  readonly isLearner: boolean;
  /** Ticks since the leader last heard from this member. */
  readonly lastContactTicks: number;
  readonly inflightMessages: number;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly leaderId: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Leadership transfer in progress: its target, else NO_NODE. */
  readonly leadTransferee: NodeId;
  /** Only on the leader: every member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, Progress>;
}

export type RaftErrorCode =
  | "PROPOSAL_DROPPED" // no known leader, or leadership transfer in progress: retry later
  | "TOO_MANY_UNCOMMITTED" // maxUncommittedBytes reached: back off
  | "NOT_LEADER" // the operation needs the leader
  | "CONF_CHANGE_PENDING" // an earlier membership change is not committed yet
  | "INVALID_CONF_CHANGE" // e.g. removing the last voter, adding an existing member
  | "LEARNER_NOT_CAUGHT_UP" // promotion refused until the learner catches up
  | "TRANSFER_INVALID" // target unknown, a learner, or self
  | "COMPACTED" // storage: index compacted away
  | "UNAVAILABLE" // storage: index not in the log yet
  | "INVALID_CONFIG"
  | "TOO_MANY_PENDING_READS" // maxPendingReadIndex reached: back off
  | "INVARIANT"; // a broken internal invariant: stop the process, never continue

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.name = "RaftError";
    this.code = code;
  }
}

/** Where a proposal went: appended on this leader at (index, term), or forwarded to the leader. */
export type ProposeResult =
  | { readonly forwarded: false; readonly index: number; readonly term: number }
  | { readonly forwarded: true };

/**
 * The core's public surface, implemented by `RaftNode`. Inputs: tick / step / propose /
 * proposeConfChange / readIndex / transferLeadership / report*. Output: ready() / advance().
 *
 * Every input may be called while a Ready is being handled (between ready() and advance()):
 * whatever it produces goes into the next Ready. Only ready() itself must wait for advance();
 * hasReady() is false until then.
 */
export interface RaftNodeApi {
  /** One unit of logical time. The caller decides how long a tick is (e.g. 10 ms). */
  tick(): void;
  /** A message from a peer. Messages from stale terms or unknown peers are handled or dropped safely. */
  step(message: Message): void;
  /** Propose application data. Throws RaftError PROPOSAL_DROPPED / TOO_MANY_UNCOMMITTED. */
  propose(data: Uint8Array): ProposeResult;
  /** Propose one membership change (leader only, or forwarded). Throws CONF_CHANGE_PENDING etc. */
  proposeConfChange(change: ConfChange): ProposeResult;
  /** Ask for a linearizable read point; answered as a ReadState in a later Ready. */
  readIndex(context: Uint8Array): void;
  /** Hand leadership to `to` (leader only): catch it up, then send timeout-now; aborts after an election timeout. */
  transferLeadership(to: NodeId): void;
  /** Start an election now (e.g. a single-node cluster's first start, or an operator's command). */
  campaign(): void;
  /** The node layer lost its connection to the leader (early failover hint). */
  reportLeaderLost(): void;
  /** The transport could not deliver to `to`: the leader probes it instead of pipelining. */
  reportUnreachable(to: NodeId): void;
  /** The node layer finished (or failed) sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, succeeded: boolean): void;
  /** Whether ready() has work to hand out; false while a Ready awaits advance(). */
  hasReady(): boolean;
  /** The pending batch of work; call `advance()` after handling it and before the next `ready()`. */
  ready(): Ready;
  advance(): void;
  status(): Status;
}
