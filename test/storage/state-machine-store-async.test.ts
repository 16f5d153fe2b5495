// The state-machine store's "async" sync mode: batches are committed by LMDB's writer thread
// while reads already see them through an in-memory overlay. Reads at any moment (committed or
// not) must equal a plain model; a throwing body writes nothing; committed(), flush(), close()
// and a reopen keep exactly the applied batches.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { StateMachineStore, type StoreReader } from "../../src/storage/index.ts";
import { temporaryDirectory } from "./helpers.ts";

type Op = { kind: "put"; key: number; value: number } | { kind: "del"; key: number };
type Step =
  | { kind: "batch"; ops: Op[] }
  | { kind: "failing-batch"; ops: Op[] }
  | { kind: "yield" }
  | { kind: "sleep" }
  | { kind: "read"; prefix: number; after: number; limit: number; maxBytes: number }
  | { kind: "view" }
  | { kind: "reopen" };

// Few keys of varied length and shared prefixes, so ranges, prefixes and overwrites collide.
const keyName = (key: number): string => ["a", "ab", "abc", "b", "ba", "c"][key % 6]! + (key >> 3);
const keyBytes = (key: number): Buffer => Buffer.from(keyName(key));
const valueBytes = (value: number): Buffer => Buffer.from(`v${value}`.repeat(1 + (value % 4)));

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      key: fc.integer({ min: 0, max: 40 }),
      value: fc.integer({ min: 0, max: 999 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("del" as const),
      key: fc.integer({ min: 0, max: 40 }),
    }),
  },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      ops: fc.array(op, { maxLength: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("failing-batch" as const),
      ops: fc.array(op, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "yield" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "sleep" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("read" as const),
      prefix: fc.integer({ min: 0, max: 7 }),
      after: fc.integer({ min: -1, max: 40 }),
      limit: fc.integer({ min: 1, max: 12 }),
      maxBytes: fc.integer({ min: 0, max: 60 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "view" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

/** What a range read must return, computed from the model. */
function expectedRange(
  model: Map<string, string>,
  prefix: string,
  after: string | undefined,
  limit: number,
  maxBytes: number,
): Array<[string, string]> {
  const keys = [...model.keys()]
    .filter(
      (key) =>
        key.startsWith(prefix) &&
        (after === undefined || Buffer.compare(Buffer.from(key), Buffer.from(after)) > 0),
    )
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Array<[string, string]> = [];
  let bytes = 0;
  for (const key of keys) {
    const value = model.get(key)!;
    out.push([key, value]);
    bytes += key.length + value.length;
    if (out.length >= limit || bytes >= maxBytes) break;
  }
  return out;
}

function checkReads(
  reader: StoreReader,
  model: Map<string, string>,
  read: Extract<Step, { kind: "read" }>,
  label: string,
): void {
  const prefix = read.prefix === 0 ? "" : ["a", "ab", "abc", "b", "ba", "c", "z"][read.prefix - 1]!;
  const after = read.after < 0 ? undefined : keyName(read.after);
  const maxBytes = read.maxBytes === 0 ? Number.POSITIVE_INFINITY : read.maxBytes;
  const got = reader
    .range({
      prefix: prefix === "" ? undefined : Buffer.from(prefix),
      after: after === undefined ? undefined : Buffer.from(after),
      limit: read.limit,
      maxBytes: read.maxBytes === 0 ? undefined : read.maxBytes,
    })
    .map((entry) => [Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString()]);
  assert.deepEqual(
    got,
    expectedRange(model, prefix, after, read.limit, maxBytes),
    `${label}: range`,
  );
  for (let key = 0; key <= 40; key += 7) {
    const value = reader.get(keyBytes(key));
    assert.equal(
      value === undefined ? undefined : Buffer.from(value).toString(),
      model.get(keyName(key)),
      `${label}: get ${keyName(key)}`,
    );
  }
}

function applyOps(model: Map<string, string>, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.kind === "put") model.set(keyName(o.key), valueBytes(o.value).toString());
    else model.delete(keyName(o.key));
  }
}

test("async mode: reads at any moment equal the model; reopen keeps every applied batch", async () => {
  await fc.assert(
    // Commit intervals: every batch on its own, a few milliseconds (sleeps let the timer fire
    // between steps), and longer than any sequence (only committed(), flush() and the size
    // bounds start commits).
    fc.asyncProperty(
      fc.array(step, { minLength: 1, maxLength: 40 }),
      fc.constantFrom(0, 4, 60_000),
      fc.constantFrom(4, 10_000),
      async (steps, commitIntervalMs, maxQueuedWrites) => {
        const options = { syncMode: "async", commitIntervalMs, maxQueuedWrites } as const;
        const dir = temporaryDirectory("sm-async");
        let store = StateMachineStore.open({ dir: dir.path, ...options });
        const model = new Map<string, string>();
        let applied = 0;
        try {
          for (const [position, s] of steps.entries()) {
            const label = `step ${position} (${s.kind})`;
            if (s.kind === "batch") {
              const existed = s.ops.map(() => false);
              store.applyBatch(applied + 1, (txn) => {
                const shadow = new Map(model);
                for (const [i, o] of s.ops.entries()) {
                  // Reads inside the body see the body's own earlier writes.
                  const before = txn.get(keyBytes(o.key));
                  assert.equal(
                    before === undefined ? undefined : Buffer.from(before).toString(),
                    shadow.get(keyName(o.key)),
                    `${label}: txn get`,
                  );
                  if (o.kind === "put") {
                    txn.put(keyBytes(o.key), valueBytes(o.value));
                    shadow.set(keyName(o.key), valueBytes(o.value).toString());
                  } else {
                    existed[i] = txn.delete(keyBytes(o.key));
                    assert.equal(existed[i], shadow.has(keyName(o.key)), `${label}: delete result`);
                    shadow.delete(keyName(o.key));
                  }
                }
              });
              applied++;
              applyOps(model, s.ops);
            } else if (s.kind === "failing-batch") {
              assert.throws(() =>
                store.applyBatch(applied + 1, (txn) => {
                  for (const o of s.ops) {
                    if (o.kind === "put") txn.put(keyBytes(o.key), valueBytes(o.value));
                    else txn.delete(keyBytes(o.key));
                  }
                  throw new Error("the body refuses");
                }),
              );
            } else if (s.kind === "yield") {
              await new Promise((resolve) => setImmediate(resolve));
            } else if (s.kind === "sleep") {
              await new Promise((resolve) => setTimeout(resolve, 6));
            } else if (s.kind === "read") {
              assert.equal(store.appliedIndex(), applied, `${label}: applied index`);
              checkReads(store, model, s, label);
            } else if (s.kind === "view") {
              // A view is the image of this moment, even as later batches are applied.
              const view = store.readView();
              const image = new Map(model);
              store.applyBatch(applied + 1, (txn) => txn.put(keyBytes(0), Buffer.from("later")));
              applied++;
              model.set(keyName(0), "later");
              assert.equal(view.appliedIndex, applied - 1);
              checkReads(
                view,
                image,
                { kind: "read", prefix: 0, after: -1, limit: 100, maxBytes: 0 },
                label,
              );
              view.close();
            } else {
              await store.close();
              store = StateMachineStore.open({ dir: dir.path, ...options });
              assert.equal(store.appliedIndex(), applied, `${label}: applied index after reopen`);
              assert.equal(store.pendingBatches(), 0);
            }
          }
          await store.committed();
          assert.equal(store.pendingBatches(), 0, "every batch committed");
          checkReads(
            store,
            model,
            { kind: "read", prefix: 0, after: -1, limit: 100, maxBytes: 0 },
            "end",
          );
          await store.flush();
          await store.close();
          // A store opened in the default mode reads the same committed data.
          store = StateMachineStore.open({ dir: dir.path });
          assert.equal(store.appliedIndex(), applied);
          checkReads(
            store,
            model,
            { kind: "read", prefix: 0, after: -1, limit: 100, maxBytes: 0 },
            "reopened",
          );
        } finally {
          await store.close();
          dir.remove();
        }
      },
    ),
    { numRuns: 60, seed: 20261127 },
  );
});

test("async mode: batches applied within the commit interval share one commit", async () => {
  const dir = temporaryDirectory("sm-async-coalesce");
  const store = StateMachineStore.open({
    dir: dir.path,
    syncMode: "async",
    commitIntervalMs: 60_000,
  });
  try {
    // The first batch commits at once (no commit started within the interval)...
    store.applyBatch(1, (txn) => txn.put(Buffer.from("k"), Buffer.from("1")));
    assert.equal(store.commits, 1);
    // ...the next ones wait for the interval, readable all along.
    for (let batch = 2; batch <= 20; batch++) {
      store.applyBatch(batch, (txn) => {
        txn.put(Buffer.from("k"), Buffer.from(`${batch}`));
        if (batch === 10) txn.put(Buffer.from("gone"), Buffer.from("soon"));
        if (batch === 11) txn.delete(Buffer.from("gone"));
      });
    }
    assert.equal(store.commits, 1);
    assert.ok(store.pendingBatches() >= 19);
    assert.equal(Buffer.from(store.get(Buffer.from("k"))!).toString(), "20");
    assert.equal(store.get(Buffer.from("gone")), undefined);
    // committed() starts the waiting commit: one transaction for the 19 batches.
    await store.committed();
    assert.equal(store.commits, 2);
    assert.equal(store.pendingBatches(), 0);
    await store.close();
    const reopened = StateMachineStore.open({ dir: dir.path });
    assert.equal(reopened.appliedIndex(), 20);
    assert.equal(Buffer.from(reopened.get(Buffer.from("k"))!).toString(), "20");
    assert.equal(reopened.get(Buffer.from("gone")), undefined);
    await reopened.close();
  } finally {
    await store.close();
    dir.remove();
  }
});

test("async mode: the commit timer commits waiting batches without being asked", async () => {
  const dir = temporaryDirectory("sm-async-timer");
  const store = StateMachineStore.open({ dir: dir.path, syncMode: "async", commitIntervalMs: 30 });
  try {
    store.applyBatch(1, (txn) => txn.put(Buffer.from("a"), Buffer.from("1")));
    store.applyBatch(2, (txn) => txn.put(Buffer.from("b"), Buffer.from("2")));
    assert.equal(store.commits, 1, "the second batch waits for the interval");
    for (let waited = 0; waited < 200 && store.pendingBatches() > 0; waited++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(store.pendingBatches(), 0, "the timer committed it");
    assert.equal(store.commits, 2);
  } finally {
    await store.close();
    dir.remove();
  }
});

test("async mode: a commit starts at once when the waiting writes reach their bounds", async () => {
  const dir = temporaryDirectory("sm-async-bounds");
  const byCount = StateMachineStore.open({
    dir: `${dir.path}/count`,
    syncMode: "async",
    commitIntervalMs: 60_000,
    maxQueuedWrites: 50,
  });
  const byBytes = StateMachineStore.open({
    dir: `${dir.path}/bytes`,
    syncMode: "async",
    commitIntervalMs: 60_000,
    maxQueuedBytes: 1000,
  });
  try {
    const twenty = (batch: number) => (txn: { put(k: Uint8Array, v: Uint8Array): void }) => {
      for (let i = 0; i < 20; i++) txn.put(Buffer.from(`k${i}`), Buffer.from(`${batch}`));
    };
    byCount.applyBatch(1, twenty(1));
    byCount.applyBatch(2, twenty(2));
    byCount.applyBatch(3, twenty(3));
    assert.equal(byCount.commits, 1, "40 writes wait");
    byCount.applyBatch(4, twenty(4));
    assert.equal(byCount.commits, 2, "60 writes reach maxQueuedWrites");
    byBytes.applyBatch(1, (txn) => txn.put(Buffer.from("a"), Buffer.alloc(10)));
    byBytes.applyBatch(2, (txn) => txn.put(Buffer.from("b"), Buffer.alloc(600)));
    assert.equal(byBytes.commits, 1);
    byBytes.applyBatch(3, (txn) => txn.put(Buffer.from("c"), Buffer.alloc(600)));
    assert.equal(byBytes.commits, 2, "1202 bytes reach maxQueuedBytes");
  } finally {
    await byCount.close();
    await byBytes.close();
    dir.remove();
  }
});

test("async mode: commit interval and bounds are validated", () => {
  const dir = temporaryDirectory("sm-async-options");
  try {
    for (const bad of [
      { commitIntervalMs: -1 },
      { commitIntervalMs: 1.5 },
      { maxQueuedWrites: 0 },
      { maxQueuedBytes: -5 },
    ]) {
      assert.throws(
        () => StateMachineStore.open({ dir: dir.path, syncMode: "async", ...bad }),
        (error: unknown) =>
          (error as { code?: string }).code === "INVALID_OPTIONS" &&
          (error as Error).message.includes(Object.keys(bad)[0]!),
        JSON.stringify(bad),
      );
    }
  } finally {
    dir.remove();
  }
});

test("async mode: applyBatch returns before the commit; committed() waits for it", async () => {
  const dir = temporaryDirectory("sm-async-commit");
  const store = StateMachineStore.open({ dir: dir.path, syncMode: "async" });
  try {
    for (let batch = 1; batch <= 50; batch++) {
      store.applyBatch(batch, (txn) => {
        for (let i = 0; i < 20; i++) txn.put(Buffer.from(`k${i}`), Buffer.from(`${batch}`));
      });
    }
    // Nothing has had a chance to commit: the batches are all still queued, yet readable.
    assert.ok(store.pendingBatches() > 0);
    assert.equal(Buffer.from(store.get(Buffer.from("k7"))!).toString(), "50");
    await store.committed();
    assert.equal(store.pendingBatches(), 0);
    assert.equal(Buffer.from(store.get(Buffer.from("k7"))!).toString(), "50");
    assert.throws(
      () => store.applyBatch(50, () => {}),
      (error: unknown) => (error as { code?: string }).code === "INVALID_APPLIED_INDEX",
    );
  } finally {
    await store.close();
    dir.remove();
  }
});

test("async mode: a snapshot restore waits for queued batches, then replaces them", async () => {
  const dir = temporaryDirectory("sm-async-restore");
  const source = StateMachineStore.open({ dir: `${dir.path}/source` });
  const target = StateMachineStore.open({ dir: `${dir.path}/target`, syncMode: "async" });
  try {
    source.applyBatch(100, (txn) => txn.put(Buffer.from("only"), Buffer.from("snapshot")));
    for (let batch = 1; batch <= 20; batch++) {
      target.applyBatch(batch, (txn) => txn.put(Buffer.from(`k${batch}`), Buffer.from("x")));
    }
    const syncsBefore = target.forcedSyncs;
    const summary = await target.restoreFromSnapshot(source.openSnapshot());
    // Commits skip the meta-page sync in this mode: the switch to the restored data is forced.
    assert.equal(target.forcedSyncs, syncsBefore + 1);
    assert.equal(summary.appliedIndex, 100);
    assert.equal(target.appliedIndex(), 100);
    assert.equal(target.pendingBatches(), 0);
    assert.deepEqual(
      target.range({ limit: 10 }).map((e) => Buffer.from(e.key).toString()),
      ["only"],
    );
    target.applyBatch(101, (txn) => txn.put(Buffer.from("after"), Buffer.from("y")));
    assert.equal(target.range({ limit: 10 }).length, 2);
  } finally {
    await source.close();
    await target.close();
    dir.remove();
  }
});

test("async mode: flush() forces a full sync after the commits, and a reopen keeps every batch", async () => {
  const dir = temporaryDirectory("sm-async-flush");
  let store = StateMachineStore.open({ dir: dir.path, syncMode: "async" });
  try {
    for (let batch = 1; batch <= 30; batch++) {
      store.applyBatch(batch, (txn) =>
        txn.put(Buffer.from(`k${batch % 7}`), Buffer.from(`${batch}`)),
      );
    }
    assert.equal(store.forcedSyncs, 0, "commits alone force no sync");
    await store.flush();
    assert.equal(store.forcedSyncs, 1);
    assert.equal(store.pendingBatches(), 0);
    await store.close();
    store = StateMachineStore.open({ dir: dir.path, syncMode: "async" });
    assert.equal(store.appliedIndex(), 30);
    assert.equal(Buffer.from(store.get(Buffer.from("k2"))!).toString(), "30");
    // The synchronous modes sync every commit themselves and force nothing.
    const fsyncDir = temporaryDirectory("sm-fsync-flush");
    const plain = StateMachineStore.open({ dir: fsyncDir.path });
    plain.applyBatch(1, (txn) => txn.put(Buffer.from("a"), Buffer.from("b")));
    await plain.flush();
    assert.equal(plain.forcedSyncs, 0);
    await plain.close();
    fsyncDir.remove();
  } finally {
    await store.close();
    dir.remove();
  }
});
