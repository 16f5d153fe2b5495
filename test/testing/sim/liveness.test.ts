import assert from "node:assert/strict";
import { test } from "node:test";
import { LivenessChecker } from "../../../src/testing/sim/invariants/liveness.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";

const bounds = { leaderWithinTicks: 50, operationsWithinTicks: 100 };

function isViolation(error: unknown): boolean {
  return error instanceof InvariantViolation && error.invariant === "liveness";
}

test("liveness ignores the fault phase and accepts a timely recovery", () => {
  const checker = new LivenessChecker(bounds);
  for (let tick = 0; tick < 500; tick++) checker.observe(tick, false, ["write 1"]);
  checker.onHealed(500);
  for (let tick = 500; tick < 540; tick++) checker.observe(tick, false, ["write 1"]);
  for (let tick = 540; tick < 590; tick++) checker.observe(tick, true, ["write 1"]);
  for (let tick = 590; tick < 800; tick++) checker.observe(tick, true, []);
  assert.equal(checker.ticksToLeader, 40);
});

test("liveness catches a cluster that elects no leader after healing", () => {
  const checker = new LivenessChecker(bounds);
  checker.onHealed(100);
  for (let tick = 100; tick <= 150; tick++) checker.observe(tick, false, []);
  assert.throws(() => checker.observe(151, false, []), isViolation);
});

test("liveness catches an operation that never completes after healing", () => {
  const checker = new LivenessChecker(bounds);
  checker.onHealed(0);
  for (let tick = 0; tick <= 100; tick++) checker.observe(tick, true, ["read 7"]);
  assert.throws(
    () => checker.observe(101, true, ["read 7"]),
    (error: unknown) => isViolation(error) && /read 7/.test(String(error)),
  );
});
