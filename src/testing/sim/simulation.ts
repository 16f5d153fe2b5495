// One simulated run, fully determined by its seed: a fault phase (the scenario's faults while
// clients write and read and the operator changes membership), then a liveness phase (network
// healed, loss off, every member restarted) that must produce a stable leader, complete every
// pending operation and converge all members to the same applied state. Safety invariants are
// checked after every step of both phases.

import { Cluster, type ClusterStats, type Mutation } from "./cluster.ts";
import { formatDigest } from "./digest.ts";
import { EventQueue } from "./event-queue.ts";
import type { SimEvent } from "./events.ts";
import { FaultInjector, type FaultStats } from "./faults.ts";
import { type LivenessBounds, LivenessChecker } from "./invariants/liveness.ts";
import { type InvariantName, InvariantViolation } from "./invariants/violation.ts";
import { MembershipAdmin } from "./membership.ts";
import { Network } from "./network.ts";
import { Prng } from "./prng.ts";
import { describeScenario, drawScenario, type Scenario, UNITS_PER_TICK } from "./scenario.ts";
import { Trace } from "./trace.ts";
import { formatEvent } from "./trace-format.ts";
import { Workload, type WorkloadStats } from "./workload.ts";

export interface SimOptions {
  readonly seed: number;
  /** Initial voters; one more node exists as a spare for membership changes. */
  readonly nodes: 3 | 5;
  /** Length of the fault phase, in ticks. */
  readonly ticks: number;
  /** Inject faults in the fault phase (default true). Without, the run is a clean baseline. */
  readonly faults?: boolean;
  /** Events kept for the violation report (default 40). */
  readonly tailSize?: number;
  /** Receives every event as a formatted line (--verbose). */
  readonly sink?: (line: string) => void;
  /** Plant a deliberate bug in the simulated node layer (checker self-test only). */
  readonly mutation?: Mutation;
}

export interface SimViolation {
  readonly invariant: InvariantName;
  readonly detail: string;
  readonly tick: number;
  readonly traceTail: readonly string[];
  /** Each node's state and the network at the moment of the violation. */
  readonly state: readonly string[];
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  readonly mutation?: Mutation;
  /** Ticks simulated in total (fault phase plus liveness phase until convergence). */
  readonly simulatedTicks: number;
  readonly ok: boolean;
  readonly violation?: SimViolation;
  /** Digest of the whole event trace: same seed and options => same digest. */
  readonly digest: string;
  readonly events: number;
  /** The seed's scenario in one line (see scenario.ts). */
  readonly scenario: string;
  readonly stats: SimStats;
}

export interface SimStats extends ClusterStats, WorkloadStats, FaultStats {
  membershipChanges: number;
  ticksToLeaderAfterHeal: number;
}

/** Ticks of the liveness phase during which clients still start new operations. */
const LIVENESS_ISSUE_TICKS = 30;

export function livenessBounds(scenario: Scenario): LivenessBounds {
  const election = scenario.core.electionTimeoutTicks;
  return { leaderWithinTicks: 20 * election, operationsWithinTicks: 40 * election };
}

export function validateOptions(options: SimOptions): void {
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${options.seed}`);
  }
  if (options.nodes !== 3 && options.nodes !== 5)
    throw new RangeError(`nodes must be 3 or 5, got ${options.nodes}`);
  if (!Number.isInteger(options.ticks) || options.ticks < 10 || options.ticks > 10_000_000) {
    throw new RangeError(`ticks must be an integer in [10, 10000000], got ${options.ticks}`);
  }
}

export function runSimulation(options: SimOptions): SimResult {
  validateOptions(options);
  const root = new Prng(options.seed);
  // One independent stream per concern, forked in a fixed order.
  const scenarioPrng = root.fork();
  const networkPrng = root.fork();
  const clusterPrng = root.fork();
  const workloadPrng = root.fork();
  const adminPrng = root.fork();
  const faultPrng = root.fork();

  const initialVoters = Array.from({ length: options.nodes }, (_, i) => i + 1);
  const nodeIds = [...initialVoters, options.nodes + 1];
  const scenario = drawScenario(scenarioPrng, nodeIds);
  const trace = new Trace({
    tailSize: options.tailSize ?? 40,
    formatter: formatEvent,
    sink: options.sink,
  });
  const queue = new EventQueue<SimEvent>();
  const network = new Network(nodeIds.length, networkPrng, scenario.latency);
  const cluster = new Cluster({
    nodeIds,
    initialVoters,
    scenario,
    network,
    queue,
    trace,
    prng: clusterPrng,
    ...(options.mutation === undefined ? {} : { mutation: options.mutation }),
  });
  const workload = new Workload({ cluster, queue, prng: workloadPrng, trace, scenario });
  const admin = new MembershipAdmin({
    cluster,
    queue,
    prng: adminPrng,
    trace,
    initialVoters,
    enabled: options.faults !== false && scenario.membershipChanges,
    electionTimeoutTicks: scenario.core.electionTimeoutTicks,
    addVoterProbability: scenario.addVoterProbability,
  });
  const faults = new FaultInjector({
    cluster,
    network,
    queue,
    prng: faultPrng,
    trace,
    scenario,
    admin,
  });
  cluster.hooks = {
    onApplied(node, entry, writeId) {
      admin.onApplied(node, entry);
      workload.onApplied(node, entry, writeId);
    },
    onReadServed(node, readState) {
      workload.onReadServed(node, readState);
    },
    onCrash(node) {
      workload.onCrash(node);
    },
  };
  const bounds = livenessBounds(scenario);
  const liveness = new LivenessChecker(bounds);
  const injectFaults = options.faults !== false;

  let tick = 0;
  let healedAt = -1;
  let finished = false;
  const lastTick = options.ticks + bounds.operationsWithinTicks + 50;

  const stableLeader = (): boolean => {
    const leader = cluster.leader();
    if (leader === undefined || !admin.committedConf.voters.includes(leader.id)) return false;
    for (const id of [...admin.committedConf.voters, ...admin.committedConf.learners]) {
      const node = cluster.node(id);
      if (!node.running || node.leaderId !== leader.id || node.term !== leader.term) return false;
    }
    return true;
  };

  const converged = (): boolean => {
    const leader = cluster.leader();
    if (leader === undefined) return false;
    const lastIndex = cluster.checkers.logs.log(leader.id).lastIndex;
    for (const id of [...admin.committedConf.voters, ...admin.committedConf.learners]) {
      const node = cluster.node(id);
      if (!node.running || node.machine.appliedIndex !== lastIndex) return false;
    }
    return true;
  };

  const finalChecks = (): void => {
    const { acknowledged, completeness } = cluster.checkers;
    for (const id of [...admin.committedConf.voters, ...admin.committedConf.learners]) {
      const node = cluster.node(id);
      acknowledged.checkFinal(id, node.machine);
      if (completeness.committedDigestAt(node.machine.appliedIndex) !== node.machine.digest) {
        throw new InvariantViolation(
          "state-machine-safety",
          `at the end node ${id}'s state at ${node.machine.appliedIndex} (${formatDigest(node.machine.digest)}) is not the committed log`,
        );
      }
    }
  };

  const onClock = (): void => {
    tick++;
    cluster.checkReportedState();
    if (tick === options.ticks) {
      healedAt = tick;
      faults.healAll();
      admin.stopStarting();
      liveness.onHealed(tick);
      trace.record(
        cluster.now,
        "phase",
        0,
        tick,
        0,
        0,
        0,
        0,
        0,
        "liveness: faults stop, network healed",
      );
    }
    if (healedAt < 0) {
      if (injectFaults && tick % scenario.faultEveryTicks === 0) faults.act();
    } else {
      if (tick - healedAt === LIVENESS_ISSUE_TICKS) workload.stopIssuing();
      const pending = workload.pendingDescriptions();
      const membership = admin.pendingDescription();
      if (membership !== undefined) pending.push(membership);
      const stable = stableLeader();
      liveness.observe(tick, stable, pending);
      if (
        stable &&
        pending.length === 0 &&
        tick - healedAt >= LIVENESS_ISSUE_TICKS &&
        converged()
      ) {
        finalChecks();
        finished = true;
        trace.record(cluster.now, "phase", 0, tick, 0, 0, 0, 0, 0, "converged");
        return;
      }
      if (tick >= lastTick) {
        throw new InvariantViolation(
          "liveness",
          `members did not converge to one applied state ${tick - healedAt} ticks after healing`,
        );
      }
    }
    queue.push(cluster.now + UNITS_PER_TICK, { kind: "clock" });
  };

  const dispatch = (event: SimEvent): void => {
    const target = pausableTarget(event);
    if (target !== undefined) {
      const node = cluster.node(target);
      if (node.isPaused(cluster.now)) {
        // The process is paused: this waits, and runs (in the same order) when it resumes. A
        // tick timer fires once on resume, however many periods were missed.
        queue.push(node.pausedUntil, event);
        return;
      }
    }
    switch (event.kind) {
      case "tick":
        cluster.tick(event.node, event.incarnation);
        return;
      case "persisted":
        cluster.persisted(event.node, event.incarnation);
        return;
      case "deliver":
        cluster.deliver(event.message, event.senderIncarnation);
        return;
      case "unreachable":
        cluster.reportUnreachable(event.node, event.incarnation, event.to);
        return;
      case "snapshot-status":
        cluster.reportSnapshot(event.node, event.incarnation, event.to, event.succeeded);
        return;
      case "leader-lost":
        cluster.reportLeaderLost(event.node, event.incarnation);
        return;
      case "restart":
        faults.restart(event.node, event.downToken);
        return;
      case "shutdown": {
        const node = cluster.node(event.node);
        if (node.running && node.incarnation === event.incarnation)
          cluster.crash(event.node, "shut down after removal");
        return;
      }
      case "clock":
        onClock();
        return;
      case "client":
        workload.onEvent(event.client, event.token);
        return;
      case "admin":
        admin.onEvent(event.token);
        return;
    }
  };

  let violation: SimViolation | undefined;
  try {
    for (const id of initialVoters) cluster.start(id);
    queue.push(UNITS_PER_TICK, { kind: "clock" });
    while (!finished) {
      const next = queue.pop();
      if (next === undefined) throw new InvariantViolation("harness", "the agenda ran empty");
      cluster.now = next.time;
      dispatch(next.event);
      cluster.checkLeaders();
    }
  } catch (error) {
    const asViolation =
      error instanceof InvariantViolation
        ? error
        : new InvariantViolation("core-error", describeError(error));
    trace.record(
      cluster.now,
      "error",
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      `${asViolation.invariant}: ${asViolation.detail}`,
    );
    violation = {
      invariant: asViolation.invariant,
      detail: asViolation.detail,
      tick,
      traceTail: trace.tail(),
      state: [...cluster.describeNodes(), `network: ${network.describe()}`],
    };
  }

  return {
    seed: options.seed,
    nodes: options.nodes,
    ticks: options.ticks,
    ...(options.mutation === undefined ? {} : { mutation: options.mutation }),
    simulatedTicks: tick,
    ok: violation === undefined,
    ...(violation === undefined ? {} : { violation }),
    digest: formatDigest(trace.digest()),
    events: trace.eventCount,
    scenario: describeScenario(scenario),
    stats: {
      ...cluster.stats,
      ...workload.stats,
      ...faults.stats,
      membershipChanges: admin.changesCommitted,
      ticksToLeaderAfterHeal: liveness.ticksToLeader ?? -1,
    },
  };
}

/** The node whose process handles `event`, for events a paused process cannot handle yet. */
function pausableTarget(event: SimEvent): number | undefined {
  switch (event.kind) {
    case "tick":
    case "persisted":
    case "unreachable":
    case "snapshot-status":
    case "leader-lost":
      return event.node;
    case "deliver":
      return event.message.to;
    default:
      return undefined;
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const frames = (error.stack ?? "")
    .split("\n")
    .slice(1, 6)
    .map((line) => line.trim());
  return `${typeof code === "string" ? `${code}: ` : ""}${error.message} [${frames.join(" <- ")}]`;
}
