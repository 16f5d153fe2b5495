import assert from "node:assert/strict";
import { test } from "node:test";
import { AcknowledgedWritesChecker } from "../../../src/testing/sim/invariants/acknowledged-writes.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { SimStateMachine } from "../../../src/testing/sim/state-machine.ts";
import { noop, write } from "./helpers.ts";

function isViolation(error: unknown): boolean {
  return error instanceof InvariantViolation && error.invariant === "acknowledged-writes";
}

test("acknowledged writes: applying, restoring and the final state keep every acknowledged write", () => {
  const checker = new AcknowledgedWritesChecker();
  const leader = new SimStateMachine();
  leader.apply(noop(1, 1));
  leader.apply(write(2, 1, 10));
  checker.onAck(10, 2);
  leader.apply(write(3, 1, 10)); // a retried duplicate takes no effect
  checker.onAck(10, 2);
  const follower = new SimStateMachine();
  follower.apply(noop(1, 1));
  checker.onApply(2, follower);
  follower.apply(write(2, 1, 10));
  checker.onApply(2, follower);
  checker.onRestore(3, SimStateMachine.decode(leader.encode()));
  checker.checkFinal(1, leader);
  assert.equal(checker.acknowledgedCount, 1);
});

test("acknowledged writes: a node applying another entry at an acknowledged index is caught", () => {
  const checker = new AcknowledgedWritesChecker();
  checker.onAck(10, 2);
  const node = new SimStateMachine();
  node.apply(noop(1, 1));
  checker.onApply(3, node);
  node.apply(write(2, 2, 77)); // the acknowledged write was overwritten by a later leader
  assert.throws(() => checker.onApply(3, node), isViolation);
});

test("acknowledged writes: a snapshot or final state without the write is caught", () => {
  const checker = new AcknowledgedWritesChecker();
  checker.onAck(10, 2);
  const lost = new SimStateMachine();
  lost.apply(noop(1, 1));
  lost.apply(noop(2, 2));
  assert.throws(() => checker.onRestore(2, SimStateMachine.decode(lost.encode())), isViolation);
  assert.throws(() => checker.checkFinal(2, lost), isViolation);
  const behind = new SimStateMachine();
  behind.apply(noop(1, 1));
  assert.throws(
    () => checker.checkFinal(3, behind),
    (error: unknown) => isViolation(error) && /applied only up to 1/.test(String(error)),
  );
});

test("acknowledged writes: one write acknowledged at two indexes is caught", () => {
  const checker = new AcknowledgedWritesChecker();
  checker.onAck(10, 2);
  assert.throws(() => checker.onAck(10, 3), isViolation);
  assert.throws(() => checker.onAck(11, 2), isViolation);
});
