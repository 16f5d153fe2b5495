import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  availability,
  checkFinalState,
  compareDigests,
  effectiveLeader,
  failoverGapMs,
  percentile,
} from "../../../src/testing/chaos/index.ts";
import { checkHistory, parseHistory } from "../../../src/testing/linearizability/index.ts";
import { manualRecorder, op } from "./helpers.ts";

test("a clean history: the final value accounts for every acknowledged write", () => {
  const history = manualRecorder();
  op(history, 0, [0, 10], { write: "k", value: "a" });
  op(history, 1, [5, 20], { write: "k", value: "b" });
  op(history, 0, [30, 40], { cas: "k", from: "b", to: "c", swapped: true });
  op(history, 1, [50, 60], { write: "k", value: "d", outcome: "unknown" });
  const check = checkFinalState(history.recorder.records, new Map([["k", "c"]]));
  assert.deepEqual(check.lost, []);
  assert.deepEqual(check.unexplained, []);
  // The unknown write may have happened too.
  assert.deepEqual(checkFinalState(history.recorder.records, new Map([["k", "d"]])).lost, []);
});

test("a lost acknowledged write IS detected", () => {
  const history = manualRecorder();
  op(history, 0, [0, 10], { write: "k", value: "a" });
  // Acknowledged after "a" completed, yet the final value is still "a": lost.
  op(history, 1, [20, 30], { write: "k", value: "b" });
  const check = checkFinalState(history.recorder.records, new Map([["k", "a"]]));
  assert.equal(check.lost.length, 1);
  assert.equal(check.lost[0]!.value, "b");
  assert.match(check.lost[0]!.reason, /invoked after the write of the final value had completed/);
});

test("a key that ends absent loses every acknowledged write to it; a value nobody wrote is flagged", () => {
  const history = manualRecorder();
  op(history, 0, [0, 10], { write: "k", value: "a" });
  op(history, 0, [20, 30], { cas: "k", from: "a", to: "b", swapped: true });
  op(history, 1, [20, 30], { write: "j", value: "x", outcome: "fail" });
  op(history, 1, [40, 50], { cas: "j", from: null, to: "y", swapped: false });
  const absent = checkFinalState(history.recorder.records, new Map([["k", null]]));
  assert.equal(absent.lost.length, 2);
  assert.match(absent.lost[0]!.reason, /absent/);
  // "x" failed and "y" did not swap: neither can be the final value.
  const bogus = checkFinalState(history.recorder.records, new Map([["j", "y"]]));
  assert.deepEqual(bogus.unexplained, [{ key: "j", finalValue: "y" }]);
  assert.equal(
    checkFinalState(history.recorder.records, new Map([["j", "x"]])).unexplained.length,
    1,
  );
});

test("a non-linearizable drill history IS detected by the checker on the written file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hothot-chaos-"));
  try {
    const path = join(dir, "history.jsonl");
    const history = manualRecorder(path);
    op(history, 0, [0, 10], { write: "k", value: "a" });
    op(history, 1, [20, 30], { write: "k", value: "b" });
    // A read after "b" was acknowledged that returns "a": a stale read.
    op(history, 2, [40, 50], { read: "k", result: "a" });
    op(history, 3, [0, 50], { write: "other", value: "z" });
    history.recorder.close();
    const parsed = parseHistory(readFileSync(path, "utf8"), path, "jsonl");
    assert.equal(checkHistory(parsed, { model: "kv" }).verdict, "not-linearizable");

    const goodPath = join(dir, "good.jsonl");
    const good = manualRecorder(goodPath);
    op(good, 0, [0, 10], { write: "k", value: "a" });
    op(good, 1, [20, 30], { write: "k", value: "b" });
    op(good, 2, [25, 50], { read: "k", result: "a" });
    op(good, 2, [60, 70], { cas: "k", from: "b", to: "c", swapped: true });
    op(good, 3, [65, 80], { read: "k", result: "c" });
    good.recorder.close();
    const goodParsed = parseHistory(readFileSync(goodPath, "utf8"), goodPath, "jsonl");
    assert.equal(checkHistory(goodParsed, { model: "kv" }).verdict, "linearizable");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("divergent digests ARE detected; equal ones converge; lagging ones are pending", () => {
  const digest = (appliedIndex: number, sha256: string) => ({
    appliedIndex,
    sha256,
    revision: appliedIndex,
  });
  assert.deepEqual(
    compareDigests([
      { node: 1, digest: digest(10, "aa") },
      { node: 2, digest: digest(10, "aa") },
      { node: 3, digest: digest(10, "aa") },
    ]),
    { state: "converged", appliedIndex: 10, sha256: "aa" },
  );
  const diverged = compareDigests([
    { node: 1, digest: digest(10, "aa") },
    { node: 2, digest: digest(10, "bb") },
    { node: 3, digest: digest(9, "cc") },
  ]);
  assert.equal(diverged.state, "diverged");
  // A node behind the others is not a divergence, but not convergence either.
  assert.equal(
    compareDigests([
      { node: 1, digest: digest(10, "aa") },
      { node: 2, digest: digest(9, "bb") },
    ]).state,
    "pending",
  );
  const silent = compareDigests([
    { node: 1, digest: digest(10, "aa") },
    { node: 2, digest: undefined },
  ]);
  assert.deepEqual(silent, { state: "pending", reason: "no digest from node 2" });
});

test("failover gap: from the fault to the first acknowledged write invoked after it", () => {
  const history = manualRecorder();
  op(history, 0, [900, 1500], { write: "k", value: "a" }); // invoked before the fault
  op(history, 1, [1100, 1200], { write: "k", value: "b", outcome: "fail" });
  op(history, 1, [1300, 1400], { cas: "k", from: "x", to: "c", swapped: false });
  op(history, 2, [1250, 1700], { write: "k", value: "d" });
  op(history, 3, [1600, 1650], { cas: "k", from: "d", to: "e", swapped: true });
  assert.equal(failoverGapMs(history.recorder.records, 1000), 650);
  assert.equal(failoverGapMs(history.recorder.records, 1000, 1200), null);
  assert.equal(failoverGapMs(history.recorder.records, 2000), null);
});

test("availability per second and percentiles", () => {
  const history = manualRecorder();
  op(history, 0, [100, 200], { write: "k", value: "a" });
  op(history, 0, [300, 400], { write: "k", value: "b", outcome: "fail" });
  op(history, 0, [2100, 2200], { read: "k", result: "a" });
  const result = availability(history.recorder.records);
  assert.deepEqual(result.perSecond, [
    [1, 2],
    [0, 0],
    [1, 1],
  ]);
  assert.equal(result.okShare, 2 / 3);
  assert.equal(percentile([5, 1, 3], 0.5), 3);
  assert.equal(percentile([], 0.5), null);
});

test("a leader counts only when a majority follows it in its term and it is not impaired", () => {
  const status = (id: number, role: string, leaderId: number | null, term: number) => ({
    id,
    role,
    leaderId,
    term,
  });
  const healthy = [
    status(1, "leader", 1, 5),
    status(2, "follower", 1, 5),
    status(3, "follower", 1, 5),
  ];
  assert.equal(effectiveLeader(healthy, 3, new Set()), 1);
  assert.equal(effectiveLeader(healthy, 3, new Set([1])), undefined);
  // An isolated old leader that only itself follows, and a new leader with a majority.
  const split = [status(1, "leader", 1, 5), status(2, "leader", 2, 6), status(3, "follower", 2, 6)];
  assert.equal(effectiveLeader(split, 3, new Set([1])), 2);
  // Followers of another term do not count.
  assert.equal(
    effectiveLeader(
      [status(1, "leader", 1, 7), status(2, "follower", 1, 6), undefined],
      3,
      new Set(),
    ),
    undefined,
  );
});
