import assert from "node:assert/strict";
import { test } from "node:test";
import { StateMachineSafetyChecker } from "../../../src/testing/sim/invariants/state-machine-safety.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { SimStateMachine } from "../../../src/testing/sim/state-machine.ts";
import { noop, write } from "./helpers.ts";

function isViolation(error: unknown): boolean {
  return error instanceof InvariantViolation && error.invariant === "state-machine-safety";
}

test("state machine safety accepts nodes applying the same entries, restarts and snapshots", () => {
  const checker = new StateMachineSafetyChecker();
  const a = new SimStateMachine();
  const b = new SimStateMachine();
  for (const entry of [noop(1, 1), write(2, 1, 10), write(3, 1, 11)]) {
    a.apply(entry);
    checker.onApply(1, a.appliedIndex, a.digest);
  }
  for (const entry of [noop(1, 1), write(2, 1, 10)]) {
    b.apply(entry);
    checker.onApply(2, b.appliedIndex, b.digest);
  }
  // Node 2 crashes and restarts from its (bootstrap) snapshot: it applies from scratch again.
  checker.onRestore(2, 0, 0, false);
  const image = SimStateMachine.decode(a.encode());
  checker.onRestore(2, image.appliedIndex, image.digest, true);
  assert.equal(checker.appliedDigestAt(3), a.digest);
});

test("state machine safety catches two nodes applying different entries at one index", () => {
  const checker = new StateMachineSafetyChecker();
  const a = new SimStateMachine();
  const b = new SimStateMachine();
  a.apply(noop(1, 1));
  checker.onApply(1, 1, a.digest);
  a.apply(write(2, 1, 10));
  checker.onApply(1, 2, a.digest);
  b.apply(noop(1, 1));
  checker.onApply(2, 1, b.digest);
  b.apply(write(2, 2, 10)); // same write, but from another term: a different entry
  assert.throws(() => checker.onApply(2, 2, b.digest), isViolation);
});

test("state machine safety catches gaps, repeats and snapshots that move backwards", () => {
  const checker = new StateMachineSafetyChecker();
  const a = new SimStateMachine();
  a.apply(noop(1, 1));
  checker.onApply(1, 1, a.digest);
  assert.throws(() => checker.onApply(1, 1, a.digest), isViolation);
  assert.throws(() => checker.onApply(1, 3, a.digest), isViolation);
  a.apply(write(2, 1, 10));
  checker.onApply(1, 2, a.digest);
  assert.throws(() => checker.onRestore(1, 1, 0, true), isViolation);
});
