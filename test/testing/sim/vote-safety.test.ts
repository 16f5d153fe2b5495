import assert from "node:assert/strict";
import { test } from "node:test";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { VoteSafetyChecker } from "../../../src/testing/sim/invariants/vote-safety.ts";

function isViolation(error: unknown): boolean {
  return error instanceof InvariantViolation && error.invariant === "vote-safety";
}

test("vote safety accepts one vote per term, re-persisted, and new votes in later terms", () => {
  const checker = new VoteSafetyChecker();
  checker.onHardState(1, 1, 0);
  checker.onHardState(1, 1, 2); // votes for 2 in term 1
  checker.onHardState(1, 1, 2); // the same hard state again (commit moved)
  checker.onHardState(1, 2, 0);
  checker.onHardState(1, 2, 3);
  checker.onHardState(2, 2, 2); // another node, its own record
});

test("vote safety catches a node voting for two candidates in one term", () => {
  const checker = new VoteSafetyChecker();
  checker.onHardState(1, 4, 2);
  // The node crashed, its storage lost the vote, and it now votes for 3 in the same term.
  checker.onHardState(1, 4, 0);
  assert.throws(
    () => checker.onHardState(1, 4, 3),
    (error: unknown) =>
      isViolation(error) && /voted for 2 and then for 3 in term 4/.test(String(error)),
  );
});

test("vote safety catches a persisted term going backwards", () => {
  const checker = new VoteSafetyChecker();
  checker.onHardState(1, 5, 1);
  assert.throws(() => checker.onHardState(1, 4, 0), isViolation);
});
