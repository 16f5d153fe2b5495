import assert from "node:assert/strict";
import { test } from "node:test";
import { ReadConsistencyChecker } from "../../../src/testing/sim/invariants/read-consistency.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { SimStateMachine } from "../../../src/testing/sim/state-machine.ts";
import { noop, write } from "./helpers.ts";

function isViolation(error: unknown): boolean {
  return error instanceof InvariantViolation && error.invariant === "read-consistency";
}

/** A committed log of four entries and the applied-history digest at each index. */
function committedHistory(): (index: number) => number | undefined {
  const machine = new SimStateMachine();
  const digests: number[] = [machine.digest];
  for (const entry of [noop(1, 1), write(2, 1, 10), write(3, 1, 11), write(4, 1, 12)]) {
    machine.apply(entry);
    digests.push(machine.digest);
  }
  return (index) => digests[index];
}

test("read consistency accepts reads that see every write completed before them", () => {
  const committed = committedHistory();
  const checker = new ReadConsistencyChecker();
  checker.onReadInvoke(1); // concurrent with the write below: may or may not see it
  checker.onWriteAck(3);
  checker.onReadResult(1, 2, committed(2)!, committed);
  checker.onReadInvoke(2);
  checker.onReadResult(2, 4, committed(4)!, committed); // sees more than required: fine
  assert.equal(checker.pendingReads, 0);
});

test("read consistency catches a stale read that misses an acknowledged write", () => {
  const committed = committedHistory();
  const checker = new ReadConsistencyChecker();
  checker.onWriteAck(3);
  checker.onReadInvoke(1);
  assert.throws(
    () => checker.onReadResult(1, 2, committed(2)!, committed),
    (error: unknown) => isViolation(error) && /stale read/.test(String(error)),
  );
});

test("read consistency catches a read going back behind an earlier read", () => {
  const committed = committedHistory();
  const checker = new ReadConsistencyChecker();
  checker.onReadInvoke(1);
  checker.onReadResult(1, 4, committed(4)!, committed);
  checker.onReadInvoke(2);
  assert.throws(() => checker.onReadResult(2, 3, committed(3)!, committed), isViolation);
});

test("read consistency catches a read of uncommitted or divergent state", () => {
  const committed = committedHistory();
  const checker = new ReadConsistencyChecker();
  checker.onReadInvoke(1);
  assert.throws(
    () => checker.onReadResult(1, 5, 42, committed),
    (error: unknown) => isViolation(error) && /not known to be committed/.test(String(error)),
  );
  const divergent = new SimStateMachine();
  divergent.apply(noop(1, 1));
  divergent.apply(write(2, 1, 99));
  checker.onReadInvoke(2);
  assert.throws(() => checker.onReadResult(2, 2, divergent.digest, committed), isViolation);
});
