// Operations without a reliable answer may take effect at any point after their invocation, or
// never; failed operations never take effect.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkHistory, parseHistory } from "../../../src/testing/linearizability/index.ts";
import { check, complete, invoke } from "./helpers.ts";

const unknownCompletion = (process: number, timeMs: number) =>
  complete(process, timeMs, { outcome: "unknown", error: "timeout" });

test("an unknown write may take effect: a later read of its value is fine", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    unknownCompletion(1, 5),
    invoke(2, "read", 10),
    complete(2, 11, { value: 1 }),
  ]);
  assert.equal(result.verdict, "linearizable");
});

test("an unknown write may never take effect: reads of the old value are fine", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    unknownCompletion(1, 5),
    invoke(2, "read", 10),
    complete(2, 11, { value: null }),
    invoke(2, "read", 20),
    complete(2, 21, { value: null }),
  ]);
  assert.equal(result.verdict, "linearizable");
});

test("an unknown write may take effect long after its timeout was reported", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    unknownCompletion(1, 5),
    invoke(2, "read", 10),
    complete(2, 11, { value: null }),
    invoke(2, "read", 1000),
    complete(2, 1001, { value: 1 }),
  ]);
  assert.equal(result.verdict, "linearizable");
});

test("an invocation without completion is unknown, the same as an explicit unknown completion", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    invoke(2, "read", 10),
    complete(2, 11, { value: 1 }),
    invoke(2, "read", 20),
    complete(2, 21, { value: null }),
  ]);
  // Once the write showed its effect it cannot be undone.
  assert.equal(result.verdict, "not-linearizable");
});

test("an unknown write cannot take effect before it was invoked", () => {
  const result = check([
    invoke(2, "read", 0),
    complete(2, 1, { value: 1 }),
    invoke(1, "write", 10, { value: 1 }),
    unknownCompletion(1, 15),
  ]);
  assert.equal(result.verdict, "not-linearizable");
});

test("an unknown compare-and-swap swaps only if it matched", () => {
  const matched = check([
    invoke(1, "cas", 0, { from: null, to: 2 }),
    unknownCompletion(1, 5),
    invoke(2, "read", 10),
    complete(2, 11, { value: 2 }),
  ]);
  assert.equal(matched.verdict, "linearizable");
  const mismatched = check([
    invoke(1, "cas", 0, { from: 7, to: 2 }),
    unknownCompletion(1, 5),
    invoke(2, "read", 10),
    complete(2, 11, { value: 2 }),
  ]);
  assert.equal(mismatched.verdict, "not-linearizable");
});

test("an unknown read constrains nothing", () => {
  const result = check([
    invoke(1, "read", 0),
    unknownCompletion(1, 5),
    invoke(2, "write", 10, { value: 3 }),
    complete(2, 11),
  ]);
  assert.equal(result.verdict, "linearizable");
});

test("a failed write never takes effect", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 5, { outcome: "fail" }),
    invoke(2, "read", 10),
    complete(2, 11, { value: 1 }),
  ]);
  assert.equal(result.verdict, "not-linearizable");
});

test("a cas that reports no swap observed a different value", () => {
  const events = (initial: number) => [
    invoke(1, "write", 0, { value: initial }),
    complete(1, 1),
    invoke(2, "cas", 10, { from: 5, to: 6 }),
    complete(2, 11, { swapped: false }),
  ];
  assert.equal(check(events(4)).verdict, "linearizable");
  assert.equal(check(events(5)).verdict, "not-linearizable");
});

test("Jepsen :info operations are unknown and :fail of a cas is a failed comparison", () => {
  const log = [
    "INFO  jepsen.util - 0\t:invoke\t:write\t3",
    "INFO  jepsen.util - 0\t:info\t:write\t:timed-out",
    "INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]",
    "INFO  jepsen.util - 1\t:fail\t:cas\t[3 4]",
    "INFO  jepsen.util - 2\t:invoke\t:read\tnil",
    "INFO  jepsen.util - 2\t:ok\t:read\t3",
  ].join("\n");
  // The write took effect after the failed cas compared (nil != 3), before the read.
  assert.equal(checkHistory(parseHistory(log, "a.log")).verdict, "linearizable");
  const wrong = log.replace(":ok\t:read\t3", ":ok\t:read\t4");
  assert.equal(checkHistory(parseHistory(wrong, "b.log")).verdict, "not-linearizable");
});
