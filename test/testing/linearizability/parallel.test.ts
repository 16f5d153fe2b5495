// Checking the keys of a map history in worker threads gives the same verdicts as in turn.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { checkHistoryParallel, parseHistory } from "../../../src/testing/linearizability/index.ts";
import { complete, exponentialHistory, invoke, jsonl } from "./helpers.ts";

const testdata = new URL("../../../../shared/testdata/porcupine/", import.meta.url);

test("Porcupine map histories get their expected verdicts in two worker threads", async () => {
  for (const [file, expected] of [
    ["kv/c10-ok.txt", "linearizable"],
    ["kv/c10-bad.txt", "not-linearizable"],
    ["kv/c50-ok.txt", "linearizable"],
    ["kv/c50-bad.txt", "not-linearizable"],
  ] as const) {
    const history = parseHistory(readFileSync(new URL(file, testdata), "utf8"), file);
    const result = await checkHistoryParallel(history, { workers: 2, timeoutMs: 120_000 });
    assert.equal(result.verdict, expected, file);
    if (expected === "not-linearizable") {
      // The violation found in a thread is explained with the original operations.
      const prefix = result.violation?.prefix ?? [];
      assert.ok(prefix.length > 0);
      assert.ok(prefix.every((operation) => history.operations[operation.id] === operation));
    }
  }
});

test("a part past the time limit makes the verdict unknown; a violation elsewhere still wins", async () => {
  const hard = exponentialHistory(40).map((event) => ({ ...event, key: "hard" }));
  const unknown = await checkHistoryParallel(parseHistory(jsonl(hard), "h.jsonl"), {
    workers: 2,
    timeoutMs: 300,
    model: "kv",
  });
  assert.equal(unknown.verdict, "unknown");
  assert.match(
    unknown.unknownReason ?? "",
    /time limit of 300 ms reached while checking key "hard"/,
  );
  const broken = [
    invoke(100, "put", 0, { key: "easy", value: "a" }),
    complete(100, 1),
    invoke(100, "get", 2, { key: "easy" }),
    complete(100, 3, { value: "b" }),
  ];
  const violation = await checkHistoryParallel(
    parseHistory(jsonl([...hard, ...broken]), "h.jsonl"),
    {
      workers: 2,
      timeoutMs: 5_000,
    },
  );
  assert.equal(violation.verdict, "not-linearizable");
  assert.equal(violation.violation?.key, "easy");
});

test("the thread count is validated", async () => {
  const history = parseHistory(jsonl([invoke(1, "get", 0), complete(1, 1, { value: null })]), "h");
  await assert.rejects(
    checkHistoryParallel(history, { workers: 0 }),
    /workers must be an integer from 1 to 64/,
  );
  assert.equal((await checkHistoryParallel(history, { workers: 4 })).verdict, "linearizable");
});
