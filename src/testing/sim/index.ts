// Public entry of the deterministic cluster simulator (see docs/simulator.md).

export type { Mutation } from "./cluster.ts";
export { chainDigest, formatDigest, Hasher } from "./digest.ts";
export {
  AcknowledgedWritesChecker,
  type AppliedWritesView,
} from "./invariants/acknowledged-writes.ts";
export { ElectionSafetyChecker } from "./invariants/election-safety.ts";
export { LeaderCompletenessChecker } from "./invariants/leader-completeness.ts";
export { type LivenessBounds, LivenessChecker } from "./invariants/liveness.ts";
export { type LogEntry, LogMatchingChecker, type LogView } from "./invariants/log-matching.ts";
export { ReadConsistencyChecker } from "./invariants/read-consistency.ts";
export { StateMachineSafetyChecker } from "./invariants/state-machine-safety.ts";
export { type InvariantName, InvariantViolation } from "./invariants/violation.ts";
export { VoteSafetyChecker } from "./invariants/vote-safety.ts";
export { type LatencyModel, type LossModel, Network } from "./network.ts";
export { Prng } from "./prng.ts";
export { formatReport, replayCommand } from "./report.ts";
export { type RunSeedsOptions, type RunSummary, runSeeds } from "./runner.ts";
export type { Scenario } from "./scenario.ts";
export { describeScenario, drawScenario, UNITS_PER_TICK } from "./scenario.ts";
export {
  livenessBounds,
  runSimulation,
  type SimOptions,
  type SimResult,
  type SimViolation,
} from "./simulation.ts";
export { decodeWriteId, encodeWrite, SimStateMachine } from "./state-machine.ts";
