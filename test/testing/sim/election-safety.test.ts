import assert from "node:assert/strict";
import { test } from "node:test";
import { ElectionSafetyChecker } from "../../../src/testing/sim/invariants/election-safety.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";

test("election safety accepts one leader per term, re-observed and across terms", () => {
  const checker = new ElectionSafetyChecker();
  checker.observeLeader(1, 2);
  checker.observeLeader(1, 2);
  checker.observeLeader(2, 3);
  checker.observeLeader(1, 4);
  assert.equal(checker.leaderOf(3), 2);
});

test("election safety catches two leaders in one term, even after the first stepped down", () => {
  const checker = new ElectionSafetyChecker();
  checker.observeLeader(1, 5);
  checker.observeLeader(3, 6);
  assert.throws(
    () => checker.observeLeader(2, 5),
    (error: unknown) =>
      error instanceof InvariantViolation &&
      error.invariant === "election-safety" &&
      /nodes 1 and 2 were both leader in term 5/.test(error.message),
  );
});
