// The project's JSON-lines format: the documented example, timestamps, meta line.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  checkHistory,
  type JsonlEvent,
  parseHistory,
} from "../../../src/testing/linearizability/index.ts";
import { check, complete, invoke, jsonl } from "./helpers.ts";

test("the example in docs/checker.md parses and is linearizable as the text says", () => {
  const doc = readFileSync(new URL("../../../docs/checker.md", import.meta.url), "utf8");
  const block = /```jsonl\n([\s\S]*?)```/.exec(doc);
  assert.ok(block !== null, "docs/checker.md lost its ```jsonl example");
  const history = parseHistory(block[1]!, "checker.md");
  assert.equal(history.operations.length, 7);
  const result = checkHistory(history);
  assert.equal(result.model, "kv");
  assert.equal(result.partitions, 2);
  assert.equal(result.verdict, "linearizable");
  // The cas did not swap, so "c" was never written: a get of "c" would be impossible.
  const readsC = block[1]!.replace('"value":"b","timeMs":1011', '"value":"c","timeMs":1011');
  assert.notEqual(readsC, block[1]);
  assert.equal(checkHistory(parseHistory(readsC, "checker.md")).verdict, "not-linearizable");
});

test("timestamps, not file order, give real-time order", () => {
  // In file order the read starts after the write completed; by the clock they overlap.
  const events = [
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 10),
    invoke(2, "read", 5),
    complete(2, 6, { value: null }),
  ];
  assert.equal(check(events).verdict, "linearizable");
  const untimed = events.map(({ timeMs: _, ...rest }) => rest);
  assert.equal(check(untimed).verdict, "not-linearizable");
});

test("operations whose bounds share a timestamp count as concurrent", () => {
  const events = (readAtMs: number) => [
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 10),
    invoke(2, "read", readAtMs),
    complete(2, 20, { value: null }),
  ];
  assert.equal(check(events(10)).verdict, "linearizable");
  assert.equal(check(events(11)).verdict, "not-linearizable");
});

test("nanosecond timestamps beyond 2^53 are read exactly from strings", () => {
  const base = 1_732_700_000_000_000_000n;
  const at = (offset: number) => ({ timeNs: String(base + BigInt(offset)) });
  const events = [
    invoke(1, "write", 0, { value: 1, ...at(0) }),
    complete(1, 0, { ...at(10) }),
    invoke(2, "read", 0, { ...at(11) }),
    complete(2, 0, { value: null, ...at(12) }),
  ].map(({ timeMs: _, ...rest }) => rest);
  // One nanosecond apart: the read started after the write completed, so absent is impossible.
  assert.equal(check(events).verdict, "not-linearizable");
});

test("the meta line sets the model and the initial value", () => {
  const lines = [
    { type: "meta", version: 1, model: "kv", initialValue: "" },
    invoke(1, "get", 0, { key: "a" }),
    complete(1, 1, { value: "" }),
  ];
  const history = parseHistory(jsonl(lines), "m.jsonl");
  assert.equal(history.declaredModel, "kv");
  assert.equal(checkHistory(history).verdict, "linearizable");
  const withoutMeta = parseHistory(jsonl(lines.slice(1)), "m.jsonl");
  assert.equal(checkHistory(withoutMeta).model, "register");
  assert.equal(checkHistory(withoutMeta).verdict, "not-linearizable");
});

test('"info" is accepted as an unknown outcome', () => {
  const result = check([
    invoke(1, "write", 0, { value: 1 }),
    complete(1, 1, { outcome: "info" }),
    invoke(2, "read", 5),
    complete(2, 6, { value: null }),
  ]);
  assert.equal(result.verdict, "linearizable");
});

test("events typed as JsonlEvent, as a history writer produces them, parse back", () => {
  const events: JsonlEvent[] = [
    { type: "meta", version: 1, model: "kv" },
    { type: "invoke", process: "client-1", op: "put", key: "a", value: "1", timeMs: 10.25 },
    { type: "invoke", process: "client-2", op: "cas", key: "a", from: "1", to: "2", timeMs: 10.5 },
    { type: "complete", process: "client-1", outcome: "ok", timeMs: 11 },
    { type: "complete", process: "client-2", outcome: "ok", swapped: true, timeMs: 12 },
    { type: "invoke", process: "client-1", op: "get", key: "a", timeMs: 13 },
    { type: "complete", process: "client-1", outcome: "ok", value: "2", timeMs: 14 },
  ];
  const history = parseHistory(
    jsonl(events as unknown as Record<string, unknown>[]),
    "typed.jsonl",
  );
  assert.deepEqual(
    history.operations.map((operation) => [operation.process, operation.kind, operation.outcome]),
    [
      ["client-1", "write", "ok"],
      ["client-2", "cas", "ok"],
      ["client-1", "read", "ok"],
    ],
  );
  assert.equal(checkHistory(history).verdict, "linearizable");
});
