// The one error type every checker throws. A violation ends the run: the simulator reports the
// seed, the invariant, the detail and the trace tail.

export type InvariantName =
  | "election-safety"
  | "vote-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "acknowledged-writes"
  | "read-consistency"
  | "liveness"
  /** The core broke the documented Ready/storage contract (e.g. a gap in committed entries). */
  | "ready-contract"
  /** The core threw an unexpected error (including its own INVARIANT assertions). */
  | "core-error"
  /** The simulator's own bookkeeping disagrees with itself: a bug in the simulator. */
  | "harness";

export class InvariantViolation extends Error {
  readonly code = "INVARIANT_VIOLATION";
  readonly invariant: InvariantName;
  readonly detail: string;

  constructor(invariant: InvariantName, detail: string) {
    super(`${invariant} violated: ${detail}`);
    this.name = "InvariantViolation";
    this.invariant = invariant;
    this.detail = detail;
  }
}
