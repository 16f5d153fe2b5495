import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  StateMachineStore,
  type StateMachineStoreError,
  type StoreEntry,
} from "../../src/storage/state-machine-store.ts";

const root = mkdtempSync(join(tmpdir(), "hothot-sms-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;
function freshDir(): string {
  dirCounter++;
  return join(root, `store-${dirCounter}`);
}

const bytes = (text: string): Buffer => Buffer.from(text, "utf8");
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : Buffer.from(value).toString("utf8");
const keysOf = (entries: StoreEntry[]): string[] => entries.map((entry) => text(entry.key)!);

function hasCode(code: string): (error: unknown) => boolean {
  return (error) => (error as StateMachineStoreError).code === code;
}

function allEntries(reader: { range: StateMachineStore["range"] }): Map<string, string> {
  const out = new Map<string, string>();
  let cursor: Uint8Array | undefined;
  for (;;) {
    const page = reader.range({ after: cursor, limit: 1000 });
    for (const entry of page) out.set(text(entry.key)!, text(entry.value)!);
    const last = page[page.length - 1];
    if (last === undefined) return out;
    cursor = last.key;
  }
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return chunks;
}

test("a new store starts at applied index 0 and persists batches across reopen", async () => {
  const dir = freshDir();
  const store = StateMachineStore.open({ dir });
  assert.equal(store.appliedIndex(), 0);
  const result = store.applyBatch(3, (txn) => {
    txn.put(bytes("a"), bytes("1"));
    txn.put(bytes("b"), bytes("2"));
    assert.equal(text(txn.get(bytes("a"))), "1", "a batch reads its own writes");
    return "done";
  });
  assert.equal(result, "done");
  store.applyBatch(4, (txn) => {
    assert.equal(txn.delete(bytes("b")), true);
    assert.equal(txn.delete(bytes("missing")), false);
  });
  await store.close();
  const reopened = StateMachineStore.open({ dir });
  assert.equal(reopened.appliedIndex(), 4);
  assert.deepEqual([...allEntries(reopened)], [["a", "1"]]);
  await reopened.close();
});

test("a batch whose body throws writes nothing, not even the applied index", async () => {
  const store = StateMachineStore.open({ dir: freshDir() });
  store.applyBatch(1, (txn) => txn.put(bytes("k"), bytes("old")));
  assert.throws(
    () =>
      store.applyBatch(2, (txn) => {
        txn.put(bytes("k"), bytes("new"));
        txn.put(bytes("other"), bytes("x"));
        throw new Error("apply failed");
      }),
    /apply failed/,
  );
  assert.equal(store.appliedIndex(), 1);
  assert.equal(text(store.get(bytes("k"))), "old");
  assert.equal(store.get(bytes("other")), undefined);
  await store.close();
});

test("the applied index only moves forward and batches do not nest", async () => {
  const store = StateMachineStore.open({ dir: freshDir() });
  store.applyBatch(5, () => undefined);
  assert.throws(() => store.applyBatch(5, () => undefined), hasCode("INVALID_APPLIED_INDEX"));
  assert.throws(() => store.applyBatch(2, () => undefined), hasCode("INVALID_APPLIED_INDEX"));
  assert.throws(() => store.applyBatch(6.5, () => undefined), hasCode("INVALID_APPLIED_INDEX"));
  assert.throws(
    () => store.applyBatch(6, () => store.applyBatch(7, () => undefined)),
    hasCode("STORE_BUSY"),
  );
  assert.equal(store.appliedIndex(), 5);
  let leaked: Parameters<Parameters<StateMachineStore["applyBatch"]>[1]>[0] | undefined;
  store.applyBatch(6, (txn) => {
    leaked = txn;
  });
  assert.throws(() => leaked!.put(bytes("late"), bytes("x")), hasCode("TXN_CLOSED"));
  await store.close();
  assert.throws(() => store.appliedIndex(), hasCode("STORE_CLOSED"));
});

test("keys are validated: empty and oversized keys are refused with codes", async () => {
  const store = StateMachineStore.open({ dir: freshDir() });
  assert.throws(() => store.get(new Uint8Array(0)), hasCode("INVALID_KEY"));
  assert.throws(
    () => store.applyBatch(1, (txn) => txn.put(new Uint8Array(1979), bytes("v"))),
    hasCode("KEY_TOO_LARGE"),
  );
  store.applyBatch(1, (txn) => txn.put(new Uint8Array(1978).fill(7), bytes("v")));
  assert.throws(() => store.range({ limit: 0 }), hasCode("INVALID_RANGE"));
  assert.throws(() => store.range({ limit: 100_001 }), hasCode("INVALID_RANGE"));
  await store.close();
});

test("range: byte order, prefix, start-after cursor, limit, maxBytes, 0x00 and 0xff keys", async () => {
  const store = StateMachineStore.open({ dir: freshDir() });
  const keys = [
    Buffer.from([0x00]),
    Buffer.from([0x01, 0x02]),
    bytes("a"),
    bytes("ab"),
    bytes("abc"),
    bytes("abd"),
    Buffer.from([0x61, 0x62, 0xff]),
    bytes("ac"),
    Buffer.from([0xff]),
    Buffer.from([0xff, 0xff]),
  ];
  store.applyBatch(1, (txn) => {
    for (const key of [...keys].reverse()) txn.put(key, key);
  });
  const all = store.range({ limit: 100 });
  assert.deepEqual(
    all.map((entry) => Buffer.from(entry.key)),
    keys,
  );
  assert.deepEqual(keysOf(store.range({ prefix: bytes("ab"), limit: 100 })).slice(0, 3), [
    "ab",
    "abc",
    "abd",
  ]);
  assert.equal(store.range({ prefix: bytes("ab"), limit: 100 }).length, 4);
  assert.deepEqual(keysOf(store.range({ prefix: bytes("ab"), after: bytes("ab"), limit: 1 })), [
    "abc",
  ]);
  assert.deepEqual(
    store
      .range({ prefix: bytes("a"), after: bytes("abc"), limit: 2 })
      .map((e) => Buffer.from(e.key)),
    [bytes("abd"), Buffer.from([0x61, 0x62, 0xff])],
  );
  // A cursor before the prefix starts at the prefix; one after it gives nothing.
  assert.deepEqual(keysOf(store.range({ prefix: bytes("ab"), after: bytes("0"), limit: 1 })), [
    "ab",
  ]);
  assert.deepEqual(store.range({ prefix: bytes("ab"), after: bytes("b"), limit: 10 }), []);
  assert.deepEqual(
    store.range({ prefix: Buffer.from([0xff]), limit: 10 }).map((e) => Buffer.from(e.key)),
    [Buffer.from([0xff]), Buffer.from([0xff, 0xff])],
  );
  // Keys equal values here: [0] counts 2 bytes, [1,2] counts 4, "a" counts 2.
  assert.equal(store.range({ limit: 100, maxBytes: 6 }).length, 2);
  assert.equal(store.range({ limit: 100, maxBytes: 7 }).length, 3);
  await store.close();
});

test("a read view is a point-in-time image while writes continue", async () => {
  const store = StateMachineStore.open({ dir: freshDir() });
  store.applyBatch(1, (txn) => {
    txn.put(bytes("x"), bytes("1"));
    txn.put(bytes("y"), bytes("1"));
  });
  const view = store.readView();
  store.applyBatch(2, (txn) => {
    txn.put(bytes("x"), bytes("2"));
    txn.delete(bytes("y"));
    txn.put(bytes("z"), bytes("2"));
  });
  assert.equal(view.appliedIndex, 1);
  assert.deepEqual(
    [...allEntries(view)],
    [
      ["x", "1"],
      ["y", "1"],
    ],
  );
  assert.equal(text(view.get(bytes("x"))), "1");
  assert.deepEqual(
    [...allEntries(store)],
    [
      ["x", "2"],
      ["z", "2"],
    ],
  );
  view.close();
  assert.throws(() => view.get(bytes("x")), hasCode("TXN_CLOSED"));
  await store.close();
});

test("a snapshot streamed while writes continue restores exactly the image at its start", async () => {
  const source = StateMachineStore.open({ dir: freshDir(), snapshotChunkSizeBytes: 4096 });
  const expected = new Map<string, string>();
  source.applyBatch(1, (txn) => {
    for (let i = 0; i < 3000; i++) {
      const key = `key/${String(i).padStart(5, "0")}`;
      const value = `value-${i}-${"x".repeat(i % 50)}`;
      txn.put(bytes(key), bytes(value));
      expected.set(key, value);
    }
  });
  const snapshot = source.openSnapshot();
  assert.equal(snapshot.appliedIndex, 1);
  const chunks: Buffer[] = [];
  let index = 1;
  for await (const chunk of snapshot) {
    chunks.push(Buffer.from(chunk));
    assert.ok(chunk.length <= 4096 + 200, `a chunk of ${chunk.length} bytes exceeds the target`);
    // Interleave writes that touch keys both before and after the stream's position.
    index++;
    source.applyBatch(index, (txn) => {
      txn.put(bytes(`key/${String(index * 7).padStart(5, "0")}`), bytes("changed"));
      txn.delete(bytes(`key/${String(3000 - index).padStart(5, "0")}`));
      txn.put(bytes(`new/${index}`), bytes("added"));
    });
  }
  assert.ok(chunks.length > 10, "the snapshot came in many chunks");
  assert.equal(source.openReadViewCount(), 0, "iterating to the end released the read view");
  const abandoned = source.openSnapshot();
  assert.equal(source.openReadViewCount(), 1);
  abandoned.close();
  assert.equal(source.openReadViewCount(), 0);
  const target = StateMachineStore.open({ dir: freshDir() });
  target.applyBatch(50, (txn) => txn.put(bytes("stale"), bytes("gone after restore")));
  // Re-chunk at odd boundaries: restore must not depend on how the stream was cut.
  const whole = Buffer.concat(chunks);
  const rechunked: Buffer[] = [];
  for (let offset = 0; offset < whole.length; offset += 777) {
    rechunked.push(whole.subarray(offset, offset + 777));
  }
  const summary = await target.restoreFromSnapshot(rechunked);
  assert.deepEqual(summary, { appliedIndex: 1, entryCount: 3000 });
  assert.equal(target.appliedIndex(), 1);
  assert.deepEqual(allEntries(target), expected);
  await target.close();
  const reopened = StateMachineStore.open({ dir: target.dir });
  assert.equal(reopened.appliedIndex(), 1);
  assert.deepEqual(allEntries(reopened), expected);
  // The restored store keeps working: apply, snapshot again, restore again (the other data db).
  reopened.applyBatch(2, (txn) => txn.put(bytes("after"), bytes("restore")));
  const again = await collect(reopened.openSnapshot());
  await reopened.restoreFromSnapshot(again);
  assert.equal(text(reopened.get(bytes("after"))), "restore");
  assert.equal(reopened.appliedIndex(), 2);
  await reopened.close();
  await source.close();
});

test("an empty store snapshots and restores; one-byte chunks work", async () => {
  const empty = StateMachineStore.open({ dir: freshDir() });
  const chunks = await collect(empty.openSnapshot());
  const target = StateMachineStore.open({ dir: freshDir() });
  target.applyBatch(9, (txn) => txn.put(bytes("a"), bytes("b")));
  const oneByte = [...Buffer.concat(chunks)].map((value) => Buffer.from([value]));
  assert.deepEqual(await target.restoreFromSnapshot(oneByte), { appliedIndex: 0, entryCount: 0 });
  assert.deepEqual(target.range({ limit: 10 }), []);
  assert.equal(target.appliedIndex(), 0);
  await empty.close();
  await target.close();
});

test("a damaged, truncated or failing snapshot stream leaves the old content untouched", async () => {
  const source = StateMachineStore.open({ dir: freshDir() });
  source.applyBatch(7, (txn) => {
    for (let i = 0; i < 200; i++) txn.put(bytes(`k${i}`), bytes(`v${i}`));
  });
  const good = Buffer.concat(await collect(source.openSnapshot()));
  const target = StateMachineStore.open({ dir: freshDir(), restoreBatchSizeBytes: 64 });
  target.applyBatch(3, (txn) => txn.put(bytes("mine"), bytes("kept")));
  const before = allEntries(target);

  const flipped = Buffer.from(good);
  flipped[100] = (flipped[100] ?? 0) ^ 0x01;
  await assert.rejects(target.restoreFromSnapshot([flipped]), hasCode("SNAPSHOT_CORRUPT"));
  await assert.rejects(
    target.restoreFromSnapshot([good.subarray(0, good.length - 10)]),
    hasCode("SNAPSHOT_TRUNCATED"),
  );
  await assert.rejects(
    target.restoreFromSnapshot([good, Buffer.from([1])]),
    hasCode("SNAPSHOT_CORRUPT"),
  );
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x58;
  await assert.rejects(target.restoreFromSnapshot([badMagic]), hasCode("SNAPSHOT_CORRUPT"));
  const badVersion = Buffer.from(good);
  badVersion[4] = 9;
  await assert.rejects(
    target.restoreFromSnapshot([badVersion]),
    hasCode("SNAPSHOT_UNSUPPORTED_VERSION"),
  );
  async function* failsMidway(): AsyncGenerator<Uint8Array> {
    yield good.subarray(0, good.length / 2);
    throw new Error("peer disconnected");
  }
  await assert.rejects(target.restoreFromSnapshot(failsMidway()), /peer disconnected/);

  assert.equal(target.appliedIndex(), 3);
  assert.deepEqual(allEntries(target), before);
  await target.close();
  const reopened = StateMachineStore.open({ dir: target.dir });
  assert.equal(reopened.appliedIndex(), 3);
  assert.deepEqual(allEntries(reopened), before);
  // Writes during a restore are refused rather than lost.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  async function* slow(): AsyncGenerator<Uint8Array> {
    yield good.subarray(0, 50);
    await gate;
    yield good.subarray(50);
  }
  const restoring = reopened.restoreFromSnapshot(slow());
  await new Promise((resolve) => setImmediate(resolve));
  assert.throws(() => reopened.applyBatch(4, () => undefined), hasCode("STORE_BUSY"));
  release();
  assert.deepEqual(await restoring, { appliedIndex: 7, entryCount: 200 });
  assert.equal(text(reopened.get(bytes("k5"))), "v5");
  assert.equal(reopened.get(bytes("mine")), undefined);
  await reopened.close();
  await source.close();
});

test("deferred sync mode keeps batches consistent and flush() makes them durable", async () => {
  const dir = freshDir();
  const store = StateMachineStore.open({ dir, syncMode: "deferred" });
  for (let index = 1; index <= 50; index++) {
    store.applyBatch(index, (txn) => txn.put(bytes(`k${index % 7}`), bytes(String(index))));
  }
  store.flush();
  await store.close();
  const reopened = StateMachineStore.open({ dir });
  assert.equal(reopened.appliedIndex(), 50);
  assert.equal(text(reopened.get(bytes("k1"))), "50");
  await reopened.close();
  assert.throws(
    () => StateMachineStore.open({ dir: freshDir(), syncMode: "never" as "fsync" }),
    hasCode("INVALID_OPTIONS"),
  );
});
