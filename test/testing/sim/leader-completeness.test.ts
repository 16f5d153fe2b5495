import assert from "node:assert/strict";
import { test } from "node:test";
import { LeaderCompletenessChecker } from "../../../src/testing/sim/invariants/leader-completeness.ts";
import { LogMatchingChecker } from "../../../src/testing/sim/invariants/log-matching.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { noop, write } from "./helpers.ts";

function isViolation(invariant: string) {
  return (error: unknown) => error instanceof InvariantViolation && error.invariant === invariant;
}

test("leader completeness accepts a later leader that holds every committed entry", () => {
  const logs = new LogMatchingChecker();
  const checker = new LeaderCompletenessChecker();
  logs.append(1, [noop(1, 1), write(2, 1, 10)]);
  logs.append(2, [noop(1, 1), write(2, 1, 10)]);
  logs.append(3, [noop(1, 1)]);
  checker.onCommit(1, 1, 2, logs.log(1));
  checker.checkLeader(1, 1, logs.log(1));
  // Node 2 wins term 2 with the committed prefix and appends its no-op.
  logs.append(2, [noop(3, 2)]);
  checker.checkLeader(2, 2, logs.log(2));
  assert.equal(checker.committedIndex, 2);
  assert.equal(checker.committedDigestAt(2), logs.log(1).digestAt(2));
  // Node 1, cut off, still believes it leads term 1: it is not held to commits of term 2.
  checker.onCommit(2, 2, 3, logs.log(2));
  assert.doesNotThrow(() => checker.checkLeader(1, 1, logs.log(1)));
  assert.throws(() => checker.checkLeader(1, 2, logs.log(1)), isViolation("leader-completeness"));
});

test("leader completeness catches a later leader missing a committed entry", () => {
  const logs = new LogMatchingChecker();
  const checker = new LeaderCompletenessChecker();
  logs.append(1, [noop(1, 1), write(2, 1, 10)]);
  logs.append(2, [noop(1, 1), write(2, 1, 10)]);
  logs.append(3, [noop(1, 1)]);
  checker.onCommit(1, 1, 2, logs.log(1));
  // Node 3 becomes leader of term 2 without index 2: the write acknowledged in term 1 is gone.
  logs.append(3, [noop(2, 2)]);
  assert.throws(
    () => checker.checkLeader(3, 2, logs.log(3)),
    (error: unknown) =>
      isViolation("leader-completeness")(error) && /holds a different prefix/.test(String(error)),
  );
  const shortLog = new LogMatchingChecker();
  shortLog.append(3, [noop(1, 1)]);
  assert.throws(
    () => checker.checkLeader(3, 2, shortLog.log(3)),
    (error: unknown) =>
      isViolation("leader-completeness")(error) && /lacks committed index 2/.test(String(error)),
  );
});

test("leader completeness catches two nodes committing different prefixes", () => {
  const logs = new LogMatchingChecker();
  const checker = new LeaderCompletenessChecker();
  logs.append(1, [noop(1, 1), write(2, 1, 10)]);
  logs.append(2, [noop(1, 1), noop(2, 2)]);
  checker.onCommit(1, 1, 2, logs.log(1));
  assert.throws(() => checker.onCommit(2, 2, 2, logs.log(2)), isViolation("leader-completeness"));
});

test("a commit index beyond the persisted log breaks the Ready contract", () => {
  const logs = new LogMatchingChecker();
  const checker = new LeaderCompletenessChecker();
  logs.append(1, [noop(1, 1)]);
  assert.throws(() => checker.onCommit(1, 1, 2, logs.log(1)), isViolation("ready-contract"));
});
