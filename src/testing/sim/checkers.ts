// The safety checkers of one run, created together and fed by the cluster.

import { AcknowledgedWritesChecker } from "./invariants/acknowledged-writes.ts";
import { ElectionSafetyChecker } from "./invariants/election-safety.ts";
import { LeaderCompletenessChecker } from "./invariants/leader-completeness.ts";
import { LogMatchingChecker } from "./invariants/log-matching.ts";
import { ReadConsistencyChecker } from "./invariants/read-consistency.ts";
import { StateMachineSafetyChecker } from "./invariants/state-machine-safety.ts";
import { VoteSafetyChecker } from "./invariants/vote-safety.ts";

export interface Checkers {
  readonly election: ElectionSafetyChecker;
  readonly votes: VoteSafetyChecker;
  readonly logs: LogMatchingChecker;
  readonly completeness: LeaderCompletenessChecker;
  readonly stateMachines: StateMachineSafetyChecker;
  readonly acknowledged: AcknowledgedWritesChecker;
  readonly reads: ReadConsistencyChecker;
}

export function newCheckers(): Checkers {
  return {
    election: new ElectionSafetyChecker(),
    votes: new VoteSafetyChecker(),
    logs: new LogMatchingChecker(),
    completeness: new LeaderCompletenessChecker(),
    stateMachines: new StateMachineSafetyChecker(),
    acknowledged: new AcknowledgedWritesChecker(),
    reads: new ReadConsistencyChecker(),
  };
}
