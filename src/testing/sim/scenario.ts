// Everything a run varies, drawn once from the seed: core configuration, clock skew, network
// model, fault rates, workload shape. Drawing the scenario from the seed (rather than fixing it)
// means thousands of seeds cover small inflight windows, tiny message size limits, frequent
// snapshots, lossy and clean networks, and so on, each reproducible from its number.

import type { LatencyModel, LossModel } from "./network.ts";
import type { Prng } from "./prng.ts";

/**
 * Share of seeds (with asynchronous persistence) whose leaders send before persisting, as the
 * core's Ready contract allows (docs/raft.md, "A leader may send before it persists").
 */
export const LEADER_SENDS_BEFORE_PERSIST_PROBABILITY = 0.5;

/** Simulated time units per tick. Latencies are drawn in these units, so a message can take a fraction of a tick. */
export const UNITS_PER_TICK = 1000;

export interface CoreSettings {
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly earlyFailover: boolean;
  readonly maxMessageSizeBytes: number;
  readonly maxInflightMessages: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedBytes: number;
  readonly maxCommittedBytesPerReady: number;
  readonly promotionMaxLagEntries: number;
  readonly readOnlyOption: "safe" | "lease";
  readonly maxPendingReadIndex: number;
}

export interface Scenario {
  readonly core: CoreSettings;
  /** Per node id: tick period in time units (UNITS_PER_TICK plus a small skew). */
  readonly tickPeriodUnits: ReadonlyMap<number, number>;
  readonly latency: LatencyModel;
  /** Loss applied in the fault phase when the fault schedule turns loss on. */
  readonly faultLoss: LossModel;
  /** Ticks between fault decisions in the fault phase. */
  readonly faultEveryTicks: number;
  /** Ticks a crashed node stays down (range). */
  readonly downTicksMin: number;
  readonly downTicksMax: number;
  /** A node snapshots and compacts once it has applied this many entries past its last snapshot. */
  readonly snapshotEveryEntries: number;
  /** Entries kept in the log below the snapshot point when compacting (0 = compact fully). */
  readonly compactionLagEntries: number;
  readonly clients: number;
  /** Ticks a client waits between operations (range). */
  readonly thinkTicksMax: number;
  readonly readFraction: number;
  /** Membership changes are attempted in this run. */
  readonly membershipChanges: boolean;
  /** The operator sometimes adds a voter directly instead of a learner first. */
  readonly addVoterProbability: number;
  /**
   * Asynchronous persistence: a node takes a Ready, keeps taking inputs (ticks, messages,
   * proposals) while its "disk" works, and handles the Ready (persist, send, apply) only when
   * the write completes, after a latency in [diskLatencyMinUnits, diskLatencyMaxUnits]. This
   * is how the node layer drives the core with group commit. Off: each Ready is handled at once.
   */
  readonly asyncPersistence: boolean;
  readonly diskLatencyMinUnits: number;
  readonly diskLatencyMaxUnits: number;
  /**
   * With asynchronous persistence, a leader sends its appends, heartbeats, snapshots,
   * timeout-now and read-index responses as soon as it takes the Ready, before its own write
   * completes (Raft thesis §10.2.1); everything else still waits for the write.
   */
  readonly leaderSendsBeforePersist: boolean;
  /**
   * The state machine is durable (its data and applied index are written atomically, as the node
   * layer does with LMDB): it survives crashes, and a restart passes its applied index to the
   * core, which may be beyond the snapshot. Off: it is volatile and rebuilt from the snapshot.
   */
  readonly durableStateMachine: boolean;
  /**
   * Process pauses are in the fault schedule. Not with lease reads: a paused leader resumes
   * believing its lease still runs (its clock did not advance), which is exactly the bounded
   * clock drift lease reads must assume away.
   */
  readonly processPauses: boolean;
  /** Probability that one asynchronous write stalls for up to diskStallMaxUnits more. */
  readonly diskStallProbability: number;
  /**
   * The core's lazyCommitPropagation (what the node layer runs): a new commit index travels with
   * the next append, or alone within a tick. Drawn last, so earlier seeds keep every other draw.
   */
  readonly lazyCommitPropagation: boolean;
  readonly diskStallMaxUnits: number;
}

export function drawScenario(prng: Prng, nodeIds: readonly number[]): Scenario {
  const electionTimeoutTicks = prng.range(8, 14);
  const heartbeatIntervalTicks = prng.range(1, 3);
  const tight = prng.chance(0.3); // small windows and messages exercise flow control and batching
  const earlyFailover = prng.chance(0.3);
  // Lease reads need check-quorum and exclude early failover (the core refuses the combination).
  const lease = !earlyFailover && prng.chance(0.25);
  const core: CoreSettings = {
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    earlyFailover,
    readOnlyOption: lease ? "lease" : "safe",
    // A tiny pending-read limit makes clients meet TOO_MANY_PENDING_READS and back off.
    maxPendingReadIndex: prng.chance(0.2) ? prng.range(1, 2) : 4096,
    maxMessageSizeBytes: tight ? prng.range(8, 64) : 1024 * 1024,
    maxInflightMessages: tight ? prng.range(1, 4) : 256,
    maxInflightBytes: tight ? prng.range(16, 256) : 32 * 1024 * 1024,
    maxUncommittedBytes: prng.chance(0.2) ? prng.range(16, 128) : 64 * 1024 * 1024,
    maxCommittedBytesPerReady: prng.chance(0.2) ? prng.range(8, 64) : 16 * 1024 * 1024,
    promotionMaxLagEntries: prng.range(0, 20),
  };
  // Safety never depends on timing, so clocks may drift a lot; lease reads assume bounded
  // drift, so their seeds keep it small.
  const skewPercent = lease ? prng.range(0, 2) : prng.range(0, 10);
  const tickPeriodUnits = new Map<number, number>();
  for (const id of nodeIds) {
    const skew = Math.round((prng.next() * 2 - 1) * skewPercent * (UNITS_PER_TICK / 100));
    tickPeriodUnits.set(id, UNITS_PER_TICK + skew);
  }
  // One seed in five has a slow network (up to several ticks per message): frequent elections,
  // split votes and many terms.
  const latencyMaxUnits = prng.chance(0.2)
    ? prng.range(600, 4 * UNITS_PER_TICK)
    : prng.range(50, 600);
  return {
    core,
    tickPeriodUnits,
    latency: {
      minUnits: prng.range(1, Math.min(50, latencyMaxUnits)),
      maxUnits: latencyMaxUnits,
      spikeProbability: prng.chance(0.5) ? prng.next() * 0.1 : 0,
      spikeMaxUnits: prng.range(500, 6 * UNITS_PER_TICK),
      lateProbability: prng.chance(0.5) ? prng.next() * 0.005 : 0,
      lateMaxUnits: prng.range(10, 60) * UNITS_PER_TICK,
    },
    faultLoss: {
      dropProbability: prng.next() * 0.2,
      duplicateProbability: prng.next() * 0.1,
    },
    faultEveryTicks: prng.range(5, 60),
    downTicksMin: 10,
    downTicksMax: prng.range(30, 250),
    snapshotEveryEntries: prng.range(5, 60),
    compactionLagEntries: prng.chance(0.5) ? 0 : prng.range(1, 10),
    clients: prng.range(2, 4),
    thinkTicksMax: prng.range(1, 8),
    readFraction: 0.2 + prng.next() * 0.3,
    membershipChanges: prng.chance(0.6),
    addVoterProbability: prng.chance(0.5) ? 0.3 : 0,
    asyncPersistence: prng.chance(0.5),
    diskLatencyMinUnits: prng.range(1, 50),
    diskLatencyMaxUnits: prng.range(50, 800),
    leaderSendsBeforePersist: prng.chance(LEADER_SENDS_BEFORE_PERSIST_PROBABILITY),
    durableStateMachine: prng.chance(0.5),
    processPauses: !lease && prng.chance(0.5),
    diskStallProbability: prng.chance(0.5) ? prng.next() * 0.02 : 0,
    diskStallMaxUnits: prng.range(1, 15) * UNITS_PER_TICK,
    lazyCommitPropagation: prng.chance(0.5),
  };
}

/** One line naming the scenario's choices, for reports and replays. */
export function describeScenario(scenario: Scenario): string {
  const core = scenario.core;
  const parts = [
    `election=${core.electionTimeoutTicks}t heartbeat=${core.heartbeatIntervalTicks}t`,
    `reads=${core.readOnlyOption}`,
    core.earlyFailover ? "early-failover" : "",
    scenario.lazyCommitPropagation ? "lazy-commit" : "",
    core.maxInflightMessages < 256
      ? `inflight=${core.maxInflightMessages}/${core.maxInflightBytes}B msg=${core.maxMessageSizeBytes}B`
      : "",
    core.maxUncommittedBytes < 1024 ? `uncommitted=${core.maxUncommittedBytes}B` : "",
    core.maxPendingReadIndex < 4096 ? `pending-reads=${core.maxPendingReadIndex}` : "",
    scenario.asyncPersistence
      ? `async-disk=${scenario.diskLatencyMinUnits}-${scenario.diskLatencyMaxUnits}u${scenario.leaderSendsBeforePersist ? " leader-sends-early" : ""}`
      : "sync-disk",
    `latency=${scenario.latency.minUnits}-${scenario.latency.maxUnits}u`,
    `faults-every=${scenario.faultEveryTicks}t`,
    `snapshot-every=${scenario.snapshotEveryEntries}`,
    scenario.durableStateMachine ? "durable-state-machine" : "",
    scenario.processPauses ? "pauses" : "",
    `clients=${scenario.clients}`,
    scenario.membershipChanges ? "membership" : "",
  ];
  return parts.filter((part) => part !== "").join(" ");
}
