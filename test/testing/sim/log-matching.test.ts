import assert from "node:assert/strict";
import { test } from "node:test";
import { LogMatchingChecker } from "../../../src/testing/sim/invariants/log-matching.ts";
import { InvariantViolation } from "../../../src/testing/sim/invariants/violation.ts";
import { noop, write } from "./helpers.ts";

function isViolation(invariant: string) {
  return (error: unknown) => error instanceof InvariantViolation && error.invariant === invariant;
}

test("log matching accepts replicated logs, overwritten suffixes and snapshots", () => {
  const checker = new LogMatchingChecker();
  checker.append(1, [noop(1, 1), write(2, 1, 10)]);
  checker.append(2, [noop(1, 1), write(2, 1, 10), write(3, 1, 11)]);
  checker.append(3, [noop(1, 1), write(2, 1, 10), noop(3, 2)]);
  // Node 2's index 3 came from the deposed leader of term 1; term 2's leader overwrites it.
  checker.append(2, [noop(3, 2), write(4, 2, 12)]);
  assert.equal(checker.log(2).lastIndex, 4);
  assert.equal(checker.log(2).digestAt(3), checker.log(3).digestAt(3));
  // A snapshot ending where node 2's log has (4, 2) carries the same prefix digest.
  checker.resetToSnapshot(1, 4, 2, checker.log(2).digestAt(4)!);
  checker.append(1, [write(5, 2, 13)]);
  assert.equal(checker.log(1).firstKnownIndex, 4);
  assert.equal(checker.log(1).digestAt(3), undefined);
  assert.equal(checker.log(1).termAt(5), 2);
});

test("log matching catches one (index, term) with two different prefixes", () => {
  const checker = new LogMatchingChecker();
  checker.append(1, [noop(1, 1), write(2, 1, 10), write(3, 1, 11)]);
  // Same entry at index 3, but the entry before it differs: prefixes differ.
  assert.throws(
    () => checker.append(2, [noop(1, 1), write(2, 1, 20), write(3, 1, 11)]),
    (error: unknown) =>
      isViolation("log-matching")(error) && /\(index 2, term 1\)/.test(String(error)),
  );
});

test("log matching catches a snapshot whose prefix differs from the logs", () => {
  const checker = new LogMatchingChecker();
  checker.append(1, [noop(1, 1), write(2, 1, 10)]);
  assert.throws(() => checker.resetToSnapshot(2, 2, 1, 12345), isViolation("log-matching"));
});

test("log matching catches terms decreasing along a log and gaps in persisted entries", () => {
  const checker = new LogMatchingChecker();
  checker.append(1, [noop(1, 2)]);
  assert.throws(() => checker.append(1, [write(2, 1, 10)]), isViolation("log-matching"));
  assert.throws(() => checker.append(1, [write(4, 2, 10)]), isViolation("ready-contract"));
});
