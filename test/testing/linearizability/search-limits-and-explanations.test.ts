// The search stops with `unknown` at its limits, splits map histories by key, and explains
// violations with the longest linearizable prefix and the operations that could not follow it.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkHistory,
  explainResult,
  parseHistory,
} from "../../../src/testing/linearizability/index.ts";
import { buildHistory, plannedOperation } from "./generate.ts";
import { check, complete, exponentialHistory, invoke } from "./helpers.ts";

test("a history too hard for the time limit is unknown, promptly", () => {
  const started = performance.now();
  const result = check(exponentialHistory(40), { timeoutMs: 200 });
  const elapsedMs = performance.now() - started;
  assert.equal(result.verdict, "unknown");
  assert.match(result.unknownReason ?? "", /time limit of 200 ms/);
  assert.ok(elapsedMs < 5_000, `took ${elapsedMs} ms`);
});

test("the same kind of history, small enough, gets a definite verdict", () => {
  assert.equal(check(exponentialHistory(8)).verdict, "not-linearizable");
});

test("a search that outgrows its memo limit is unknown, not an out-of-memory crash", () => {
  const result = check(exponentialHistory(40), { timeoutMs: 60_000, maxCacheBytes: 2 ** 20 });
  assert.equal(result.verdict, "unknown");
  assert.match(result.unknownReason ?? "", /memo reached its limit of 1 MiB/);
});

test("map histories are checked key by key", () => {
  // Each key alone is fine; they would conflict only if keys shared one value.
  const result = check([
    invoke(1, "put", 0, { key: "a", value: "x" }),
    complete(1, 1),
    invoke(2, "put", 2, { key: "b", value: "y" }),
    complete(2, 3),
    invoke(3, "get", 4, { key: "a" }),
    complete(3, 5, { value: "x" }),
    invoke(4, "get", 6, { key: "b" }),
    complete(4, 7, { value: "y" }),
    invoke(5, "append", 8, { key: "a", value: "z" }),
    complete(5, 9),
    invoke(6, "delete", 10, { key: "b" }),
    complete(6, 11),
    invoke(3, "get", 12, { key: "a" }),
    complete(3, 13, { value: "xz" }),
    invoke(4, "get", 14, { key: "b" }),
    complete(4, 15, { value: null }),
  ]);
  assert.equal(result.model, "kv");
  assert.equal(result.partitions, 2);
  assert.equal(result.verdict, "linearizable");
});

test("a violation is explained by the longest prefix and the operation that cannot follow", () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 1),
    invoke(2, "write", 2, { value: 2 }),
    invoke(3, "read", 3),
    complete(2, 4),
    complete(3, 5, { value: 1 }),
    invoke(3, "read", 10),
    complete(3, 11, { value: 1 }),
  ]);
  assert.equal(result.verdict, "not-linearizable");
  const violation = result.violation!;
  // write 1, read 1 (before write 2 took effect), write 2: then the last read of 1 is impossible.
  assert.deepEqual(
    violation.prefix.map((operation) => operation.kind),
    ["write", "read", "write"],
  );
  assert.equal(violation.stateAfterPrefix, 2);
  assert.equal(violation.blocking.invokeLine, 7);
  assert.deepEqual(
    violation.candidates.map(({ operation, legalNext }) => [operation.invokeLine, legalNext]),
    [[7, false]],
  );
  const text = explainResult(result).join("\n");
  assert.match(text, /longest linearizable prefix places 3/);
  assert.match(text, /state after that prefix: 2/);
  assert.match(text, /line 7-8 process 3: read -> 1 — impossible in this state/);
});

test("explanations drop reads that are not needed to show the conflict", () => {
  const events = [invoke(1, "write", 0, { value: 1 }), complete(1, 1)];
  // Forty harmless reads, then the one that cannot be: it reads a value never written.
  for (let index = 0; index < 40; index++) {
    events.push(
      invoke(2 + (index % 4), "read", 10 + 2 * index),
      complete(2 + (index % 4), 11 + 2 * index, { value: 1 }),
    );
  }
  events.push(invoke(9, "read", 200), complete(9, 201, { value: 7 }));
  const plain = check(events);
  assert.equal(plain.violation?.minimized, false);
  assert.equal(plain.violation?.partitionSize, 42);
  const minimized = check(events, { minimize: true });
  assert.equal(minimized.verdict, "not-linearizable");
  assert.equal(minimized.violation?.minimized, true);
  assert.equal(minimized.violation?.partitionSize, 2);
  assert.match(
    explainResult(minimized).join("\n"),
    /left after shrinking \(cut after the failure, unneeded reads dropped\)/,
  );
});

test("a linearizable history has no explanation", () => {
  const result = check([invoke(1, "write", 0, { value: 1 }), complete(1, 1)]);
  assert.deepEqual(explainResult(result), []);
});

test("a long history of low concurrency fits a small memo (memory follows concurrency, not length)", () => {
  const [plan] = fc.sample(
    fc.array(plannedOperation(["read", "read", "write", "cas"], 1), {
      minLength: 10_000,
      maxLength: 10_000,
    }),
    { numRuns: 1, seed: 7 },
  );
  const { lines } = buildHistory(plan!, "register");
  const result = checkHistory(parseHistory(lines.join("\n"), "long.jsonl"), {
    timeoutMs: 60_000,
    maxCacheBytes: 8 * 2 ** 20,
  });
  assert.equal(result.verdict, "linearizable", result.unknownReason ?? undefined);
});

test("explanations cut the history at the point of failure", () => {
  const events = [
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 1),
    invoke(2, "read", 2),
    complete(2, 3, { value: 2 }),
  ];
  // Thirty operations after the failure, including the write of 2 the read pretended to see.
  for (let index = 0; index < 15; index++) {
    const atMs = 10 + 4 * index;
    events.push(invoke(3, "write", atMs, { value: 2 }), complete(3, atMs + 1));
    events.push(invoke(4, "read", atMs + 2), complete(4, atMs + 3, { value: 2 }));
  }
  const plain = check(events);
  assert.equal(plain.violation?.partitionSize, 32);
  const shrunk = check(events, { minimize: true });
  assert.equal(shrunk.verdict, "not-linearizable");
  assert.equal(shrunk.violation?.partitionSize, 2);
  assert.equal(shrunk.violation?.blocking.invokeLine, 3);
});

test("limits must be positive numbers", () => {
  const events = [invoke(1, "write", 0, { value: 1 }), complete(1, 1)];
  assert.throws(
    () => check(events, { timeoutMs: Number.NaN }),
    /timeoutMs and maxCacheBytes must be positive/,
  );
  assert.throws(() => check(events, { maxCacheBytes: 0 }), /must be positive/);
});
