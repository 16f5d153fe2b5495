import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Compare, CompareOperator, TxnOp } from "../../src/kv/index.ts";
import { bytes, TestLog, tempRoot, text } from "./helpers.ts";

const root = tempRoot("kv-txn");
after(root.cleanup);

// State for the compare tests: "k" created at revision 1, rewritten at 3 (version 2, value "m").
let log: TestLog;
before(() => {
  log = TestLog.open(root.dir());
  log.apply(
    { type: "put", key: "k", value: bytes("a") },
    { type: "put", key: "other", value: bytes("o") },
    { type: "put", key: "k", value: bytes("m") },
  );
});
after(() => log.kv.close());

function check(compare: Compare): boolean {
  const result = log.one({ type: "txn", compare: [compare], success: [], failure: [] });
  assert.equal(result.type, "txn");
  return result.type === "txn" && result.succeeded;
}

const operators: CompareOperator[] = ["=", "!=", "<", ">"];
const expectTable = (order: number): boolean[] => [order === 0, order !== 0, order < 0, order > 0];

test("numeric targets compare with = != < > (version 2, createRevision 1, modRevision 3)", () => {
  const cases: [Compare["target"], number][] = [
    ["version", 2],
    ["createRevision", 1],
    ["modRevision", 3],
  ];
  for (const [target, actual] of cases) {
    for (const probe of [actual - 1, actual, actual + 1]) {
      const got = operators.map((op) => check({ key: "k", target, op, value: probe } as Compare));
      assert.deepEqual(got, expectTable(Math.sign(actual - probe)), `${target} vs ${probe}`);
    }
  }
});

test("value compares bytes lexicographically with = != < >", () => {
  for (const [probe, order] of [
    ["m", 0],
    ["l", 1],
    ["n", -1],
    ["mm", -1],
    ["", 1],
  ] as const) {
    const got = operators.map((op) =>
      check({ key: "k", target: "value", op, value: bytes(probe) }),
    );
    assert.deepEqual(got, expectTable(order), `value "m" vs "${probe}"`);
  }
});

test("a missing key: numeric targets read 0, a value compare is always false, exists is false", () => {
  assert.equal(check({ key: "nope", target: "version", op: "=", value: 0 }), true);
  assert.equal(check({ key: "nope", target: "createRevision", op: "<", value: 1 }), true);
  assert.equal(check({ key: "nope", target: "modRevision", op: ">", value: 0 }), false);
  for (const op of operators) {
    assert.equal(check({ key: "nope", target: "value", op, value: bytes("") }), false, op);
  }
  assert.equal(check({ key: "nope", target: "exists", op: "=", value: false }), true);
  assert.equal(check({ key: "nope", target: "exists", op: "!=", value: true }), true);
  assert.equal(check({ key: "k", target: "exists", op: "=", value: true }), true);
  assert.equal(check({ key: "k", target: "exists", op: "!=", value: true }), false);
});

test("all compares must hold; an empty compare list succeeds", () => {
  const ok: Compare = { key: "k", target: "version", op: "=", value: 2 };
  const bad: Compare = { key: "other", target: "value", op: "=", value: bytes("x") };
  const twice = log.one({ type: "txn", compare: [ok, ok], success: [], failure: [] });
  assert.equal(twice.type === "txn" && twice.succeeded, true);
  const both = log.one({ type: "txn", compare: [ok, bad], success: [], failure: [] });
  assert.equal(both.type === "txn" && both.succeeded, false);
  const none = log.one({ type: "txn", compare: [], success: [], failure: [] });
  assert.equal(none.type === "txn" && none.succeeded, true);
});

test("a compare-and-swap runs the success branch once and the failure branch after", async () => {
  const cas = TestLog.open(root.dir());
  cas.one({ type: "put", key: "lock", value: bytes("free") });
  const swap = () =>
    cas.one({
      type: "txn",
      compare: [{ key: "lock", target: "value", op: "=", value: bytes("free") }],
      success: [
        { type: "put", key: "lock", value: bytes("held") },
        { type: "put", key: "owner", value: bytes("n1") },
        { type: "get", key: "lock" },
      ],
      failure: [{ type: "get", key: "owner" }],
    });
  const first = swap();
  assert.equal(first.type, "txn");
  if (first.type !== "txn") return;
  assert.equal(first.succeeded, true);
  assert.equal(first.revision, 2);
  assert.deepEqual(first.results.slice(0, 2), [
    { type: "put", revision: 2 },
    { type: "put", revision: 2 },
  ]);
  const seen = first.results[2];
  assert.equal(seen?.type, "get");
  if (seen?.type === "get") {
    assert.equal(text(seen.kv?.value), "held", "a get sees the writes before it");
    assert.equal(seen.kv?.modRevision, 2);
    assert.equal(seen.kv?.version, 2);
  }
  // Both keys written by one transaction share its revision.
  assert.equal(cas.kv.get("owner")?.modRevision, 2);
  assert.equal(cas.kv.get("lock")?.modRevision, 2);
  const second = swap();
  assert.equal(second.type === "txn" && second.succeeded, false);
  assert.equal(second.revision, 2, "a transaction that only reads keeps the revision");
  if (second.type === "txn") {
    const owner = second.results[0];
    assert.equal(owner?.type === "get" && text(owner.kv?.value), "n1");
  }
  await cas.kv.close();
});

test("a txn changes the revision once, and only if some write changed something", async () => {
  const t = TestLog.open(root.dir());
  t.one({ type: "put", key: "a", value: bytes("1") });
  const deleteMissing: TxnOp[] = [
    { type: "delete", key: "ghost" },
    { type: "get", key: "ghost" },
  ];
  const nothing = t.one({ type: "txn", compare: [], success: deleteMissing, failure: [] });
  assert.deepEqual(nothing, {
    type: "txn",
    succeeded: true,
    revision: 1,
    results: [
      { type: "delete", deleted: false, revision: 1 },
      { type: "get", kv: null },
    ],
  });
  const mixed = t.one({
    type: "txn",
    compare: [],
    success: [
      { type: "delete", key: "ghost" },
      { type: "delete", key: "a" },
      { type: "put", key: "b", value: bytes("2") },
    ],
    failure: [],
  });
  assert.deepEqual(mixed, {
    type: "txn",
    succeeded: true,
    revision: 2,
    results: [
      { type: "delete", deleted: false, revision: 2 },
      { type: "delete", deleted: true, revision: 2 },
      { type: "put", revision: 2 },
    ],
  });
  assert.equal(t.kv.revision(), 2);
  assert.equal(t.kv.get("a"), undefined);
  await t.kv.close();
});

test("a txn writing one key twice is refused deterministically and changes nothing", async () => {
  const t = TestLog.open(root.dir());
  // encodeCommand refuses it, so the entry is crafted directly as msgpack.
  const { Packr } = await import("msgpackr");
  const body = new Packr({ useRecords: false }).pack({
    type: "txn",
    success: [
      { type: "put", key: "d", value: bytes("1") },
      { type: "put", key: "d", value: bytes("2") },
    ],
  });
  const [applied] = t.applyRaw(new Uint8Array([1, ...body]));
  assert.equal(applied?.result.type === "error" && applied.result.code, "INVALID_COMMAND");
  assert.equal(t.kv.get("d"), undefined);
  assert.equal(t.kv.revision(), 0);
  await t.kv.close();
});
