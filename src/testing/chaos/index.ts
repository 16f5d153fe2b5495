// Public entry of the chaos harness: `runDrill` runs a drill against real node processes and
// returns its report; the rest is exported for the CLI and for tests of the checks.
export {
  availability,
  checkFinalState,
  compareDigests,
  countOutcomes,
  type DigestVerdict,
  effectiveLeader,
  type FinalStateCheck,
  failoverGapMs,
  isAcknowledgedWrite,
  type LostWrite,
  percentile,
} from "./analysis.ts";
export {
  DRILL_DEFAULTS,
  DRILL_LIMITS,
  DRILL_LOG_LEVELS,
  type DrillLogLevel,
  type DrillOptions,
  drillCommand,
  runDrill,
  saveReport,
  validateDrillOptions,
} from "./drill.ts";
export { DrillError, type DrillErrorCode } from "./errors.ts";
export {
  type Completion,
  HistoryRecorder,
  type OpKind,
  type OpOutcome,
  type OpRecord,
} from "./history.ts";
export { NetworkLab, networkLabAvailability } from "./network-lab.ts";
export { casRequest, type Digest, NOT_WRITTEN_CODES, NodeApi } from "./node-api.ts";
export { Prng } from "./prng.ts";
export {
  type DrillFindings,
  type DrillReport,
  type DrillResultLine,
  exitCode,
  type FaultReport,
  formatReport,
  judgeDrill,
  type NodeCrash,
  resultLine,
} from "./report.ts";
export {
  buildSchedule,
  describeFault,
  FAULT_KINDS,
  type FaultKind,
  type FaultTarget,
  MAX_FAULTS,
  type PartitionPlan,
  type ScheduledFault,
  type ScheduleOptions,
} from "./schedule.ts";
