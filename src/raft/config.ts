// Defaults and validation of RaftConfig, in one place. Every field of RaftConfig is optional
// except id, storage and random; `resolveConfig` fills in the defaults below and rejects
// nonsense once, at construction, with RaftError INVALID_CONFIG.

import {
  type NodeId,
  type RaftConfig,
  RaftError,
  type RaftStorage,
  type ReadOnlyOption,
} from "./types.ts";

/** RaftConfig with every optional field filled in. */
export interface ResolvedConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly random: () => number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly appliedIndex: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly earlyFailover: boolean;
  readonly lazyCommitPropagation: boolean;
  readonly maxMessageSizeBytes: number;
  readonly maxInflightMessages: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedBytes: number;
  readonly maxCommittedBytesPerReady: number;
  readonly readOnlyOption: ReadOnlyOption;
  readonly promotionMaxLagEntries: number;
  readonly maxPendingReadIndex: number;
  readonly snapshotRetryTicks: number;
}

/**
 * The documented defaults (see docs/raft.md for what each one trades off). They are sized for
 * the core's own unit of time, the tick; the node layer chooses the tick length and usually
 * overrides the two timing fields (e.g. a 10 ms tick, heartbeat 5 ticks, election 30 ticks).
 */
export const DEFAULT_RAFT_CONFIG = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  appliedIndex: 0,
  preVote: true,
  checkQuorum: true,
  earlyFailover: false,
  lazyCommitPropagation: false,
  // 1 MiB per append: large enough to amortise per-message costs, small enough that one
  // message does not monopolise a TCP connection for long.
  maxMessageSizeBytes: 1024 * 1024,
  // Little's law: with a 1 ms round trip and 1 MiB messages, 256 in flight allow ~256 GiB/s,
  // far above any link; the bytes limit below is the one that binds in practice.
  maxInflightMessages: 256,
  // 32 MiB per follower: at 1 Gbit/s and a 100 ms round trip ~12 MiB are needed to keep the
  // pipe full; memory held per slow follower stays bounded.
  maxInflightBytes: 32 * 1024 * 1024,
  // Proposals that are appended but not committed: bounds the leader's memory when followers
  // are slow or absent; past it proposals fail fast with TOO_MANY_UNCOMMITTED.
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxCommittedBytesPerReady: 16 * 1024 * 1024,
  readOnlyOption: "safe" as ReadOnlyOption,
  promotionMaxLagEntries: 1000,
  maxPendingReadIndex: 4096,
} as const;

/** Default snapshotRetryTicks, in election timeouts. */
export const SNAPSHOT_RETRY_ELECTION_TIMEOUTS = 10;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RaftError("INVALID_CONFIG", `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function resolveConfig(config: RaftConfig): ResolvedConfig {
  if (!Number.isSafeInteger(config.id) || config.id < 1) {
    throw new RaftError("INVALID_CONFIG", `id must be a positive integer, got ${config.id}`);
  }
  if (typeof config.random !== "function") {
    throw new RaftError("INVALID_CONFIG", "random must be a function returning values in [0, 1)");
  }
  const d = DEFAULT_RAFT_CONFIG;
  const resolved: ResolvedConfig = {
    id: config.id,
    storage: config.storage,
    random: config.random,
    electionTimeoutTicks: positiveInteger(
      "electionTimeoutTicks",
      config.electionTimeoutTicks ?? d.electionTimeoutTicks,
    ),
    heartbeatIntervalTicks: positiveInteger(
      "heartbeatIntervalTicks",
      config.heartbeatIntervalTicks ?? d.heartbeatIntervalTicks,
    ),
    appliedIndex: config.appliedIndex ?? d.appliedIndex,
    preVote: config.preVote ?? d.preVote,
    checkQuorum: config.checkQuorum ?? d.checkQuorum,
    earlyFailover: config.earlyFailover ?? d.earlyFailover,
    lazyCommitPropagation: config.lazyCommitPropagation ?? d.lazyCommitPropagation,
    maxMessageSizeBytes: positiveInteger(
      "maxMessageSizeBytes",
      config.maxMessageSizeBytes ?? d.maxMessageSizeBytes,
    ),
    maxInflightMessages: positiveInteger(
      "maxInflightMessages",
      config.maxInflightMessages ?? d.maxInflightMessages,
    ),
    maxInflightBytes: positiveInteger(
      "maxInflightBytes",
      config.maxInflightBytes ?? d.maxInflightBytes,
    ),
    maxUncommittedBytes: positiveInteger(
      "maxUncommittedBytes",
      config.maxUncommittedBytes ?? d.maxUncommittedBytes,
    ),
    maxCommittedBytesPerReady: positiveInteger(
      "maxCommittedBytesPerReady",
      config.maxCommittedBytesPerReady ?? d.maxCommittedBytesPerReady,
    ),
    readOnlyOption: config.readOnlyOption ?? d.readOnlyOption,
    promotionMaxLagEntries: config.promotionMaxLagEntries ?? d.promotionMaxLagEntries,
    maxPendingReadIndex: positiveInteger(
      "maxPendingReadIndex",
      config.maxPendingReadIndex ?? d.maxPendingReadIndex,
    ),
    snapshotRetryTicks: 0,
  };
  // Default: ten election timeouts, long enough for the node layer's chunked transfer of a
  // moderate snapshot; a node layer moving large snapshots sets it higher.
  const electionTicks = resolved.electionTimeoutTicks;
  (resolved as { snapshotRetryTicks: number }).snapshotRetryTicks = positiveInteger(
    "snapshotRetryTicks",
    config.snapshotRetryTicks ?? SNAPSHOT_RETRY_ELECTION_TIMEOUTS * electionTicks,
  );
  if (resolved.heartbeatIntervalTicks >= resolved.electionTimeoutTicks) {
    throw new RaftError(
      "INVALID_CONFIG",
      `heartbeatIntervalTicks (${resolved.heartbeatIntervalTicks}) must be below electionTimeoutTicks (${resolved.electionTimeoutTicks})`,
    );
  }
  if (!Number.isSafeInteger(resolved.appliedIndex) || resolved.appliedIndex < 0) {
    throw new RaftError("INVALID_CONFIG", "appliedIndex must be a non-negative integer");
  }
  if (
    !Number.isSafeInteger(resolved.promotionMaxLagEntries) ||
    resolved.promotionMaxLagEntries < 0
  ) {
    throw new RaftError("INVALID_CONFIG", "promotionMaxLagEntries must be a non-negative integer");
  }
  if (resolved.readOnlyOption !== "safe" && resolved.readOnlyOption !== "lease") {
    throw new RaftError("INVALID_CONFIG", `readOnlyOption must be "safe" or "lease"`);
  }
  if (resolved.readOnlyOption === "lease" && !resolved.checkQuorum) {
    throw new RaftError(
      "INVALID_CONFIG",
      'readOnlyOption "lease" needs checkQuorum: without it a deposed leader could serve stale reads',
    );
  }
  if (resolved.readOnlyOption === "lease" && resolved.earlyFailover) {
    throw new RaftError(
      "INVALID_CONFIG",
      'readOnlyOption "lease" cannot be combined with earlyFailover: a new leader may be elected before the old lease runs out; use "safe"',
    );
  }
  return resolved;
}
