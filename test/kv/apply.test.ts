import assert from "node:assert/strict";
import { after, test } from "node:test";
import { encodeCommand, type KvError } from "../../src/kv/index.ts";
import { bytes, defaultLimits, TestLog, tempRoot, text } from "./helpers.ts";

const root = tempRoot("kv-apply");
after(root.cleanup);

test("put creates a key at a new revision and overwrites bump modRevision and version", async () => {
  const log = TestLog.open(root.dir());
  assert.equal(log.kv.revision(), 0);
  assert.deepEqual(log.one({ type: "put", key: "a", value: bytes("1") }), {
    type: "put",
    revision: 1,
  });
  assert.deepEqual(log.one({ type: "put", key: "b", value: bytes("2") }), {
    type: "put",
    revision: 2,
  });
  assert.deepEqual(log.one({ type: "put", key: "a", value: bytes("3") }), {
    type: "put",
    revision: 3,
  });
  const a = log.kv.get("a");
  assert.equal(text(a?.value), "3");
  assert.deepEqual(
    { ...a, value: undefined },
    {
      key: "a",
      value: undefined,
      createRevision: 1,
      modRevision: 3,
      version: 2,
    },
  );
  // Writing the same value again is still a write: etcd does the same.
  assert.deepEqual(log.one({ type: "put", key: "b", value: bytes("2") }), {
    type: "put",
    revision: 4,
  });
  assert.equal(log.kv.get("b")?.version, 2);
  assert.equal(log.kv.get("missing"), undefined);
  assert.equal(log.kv.revision(), 4);
  assert.equal(log.kv.appliedIndex(), 4);
  await log.kv.close();
});

test("delete reports whether the key existed; deleting a missing key keeps the revision", async () => {
  const log = TestLog.open(root.dir());
  log.one({ type: "put", key: "a", value: bytes("1") });
  assert.deepEqual(log.one({ type: "delete", key: "a" }), {
    type: "delete",
    deleted: true,
    revision: 2,
  });
  assert.deepEqual(log.one({ type: "delete", key: "a" }), {
    type: "delete",
    deleted: false,
    revision: 2,
  });
  assert.equal(log.kv.get("a"), undefined);
  // A re-created key starts over: new createRevision, version 1.
  log.one({ type: "put", key: "a", value: bytes("again") });
  assert.deepEqual(
    { ...log.kv.get("a"), value: undefined },
    { key: "a", value: undefined, createRevision: 3, modRevision: 3, version: 1 },
  );
  assert.equal(log.kv.appliedIndex(), 4);
  await log.kv.close();
});

test("empty entries are no-ops that only advance the applied index", async () => {
  const log = TestLog.open(root.dir());
  log.one({ type: "put", key: "a", value: bytes("1") });
  const before = log.kv.digest();
  const results = log.applyRaw(new Uint8Array(0), new Uint8Array(0));
  assert.deepEqual(results, [
    { index: 2, result: { type: "noop", revision: 1 } },
    { index: 3, result: { type: "noop", revision: 1 } },
  ]);
  assert.equal(log.kv.appliedIndex(), 3);
  assert.equal(log.kv.digest().sha256, before.sha256);
  await log.kv.close();
});

test("invalid entries give deterministic error results, advance the index and change nothing", async () => {
  const log = TestLog.open(root.dir());
  log.one({ type: "put", key: "a", value: bytes("1") });
  const before = log.kv.digest().sha256;
  const tooLong = encodeCommand(
    { type: "put", key: "x".repeat(20), value: bytes("v") },
    defaultLimits,
  );
  const strict = TestLog.open(root.dir(), { maxKeySizeBytes: 10 });
  const results = log.applyRaw(
    new Uint8Array([9, 1, 2]),
    new Uint8Array([1, 0xc1]),
    encodeCommand({ type: "put", key: "b", value: bytes("2") }, defaultLimits),
  );
  assert.deepEqual(
    results.map((r) => [
      r.index,
      r.result.type,
      r.result.type === "error" ? r.result.code : "",
      r.result.revision,
    ]),
    [
      [2, "error", "UNSUPPORTED_COMMAND_VERSION", 1],
      [3, "error", "INVALID_COMMAND", 1],
      [4, "put", "", 2],
    ],
  );
  assert.notEqual(log.kv.digest().sha256, before);
  // The limits in force at apply time decide: the same bytes fail on a store with a smaller key limit.
  const [limited] = strict.applyRaw(tooLong);
  assert.equal(limited?.result.type === "error" && limited.result.code, "KEY_TOO_LARGE");
  assert.equal(strict.kv.appliedIndex(), 1);
  assert.equal(strict.kv.revision(), 0);
  await log.kv.close();
  await strict.kv.close();
});

test("a batch returns one result per entry, in order, with revisions as they happened", async () => {
  const log = TestLog.open(root.dir());
  const results = log.apply(
    { type: "put", key: "a", value: bytes("1") },
    { type: "delete", key: "zz" },
    { type: "put", key: "a", value: bytes("2") },
    { type: "delete", key: "a" },
  );
  assert.deepEqual(results, [
    { type: "put", revision: 1 },
    { type: "delete", deleted: false, revision: 1 },
    { type: "put", revision: 2 },
    { type: "delete", deleted: true, revision: 3 },
  ]);
  assert.equal(log.kv.appliedIndex(), 4);
  assert.deepEqual(log.kv.apply([]), []);
  await log.kv.close();
});

test("entries must continue the applied index: a gap or a repeat throws and applies nothing", async () => {
  const log = TestLog.open(root.dir());
  log.one({ type: "put", key: "a", value: bytes("1") });
  const data = encodeCommand({ type: "put", key: "a", value: bytes("x") }, defaultLimits);
  const outOfOrder = (error: unknown) => (error as KvError).code === "APPLY_OUT_OF_ORDER";
  assert.throws(() => log.kv.apply([{ index: 1, data }]), outOfOrder);
  assert.throws(() => log.kv.apply([{ index: 3, data }]), outOfOrder);
  assert.throws(
    () =>
      log.kv.apply([
        { index: 2, data },
        { index: 4, data },
      ]),
    outOfOrder,
  );
  assert.equal(log.kv.appliedIndex(), 1);
  assert.equal(text(log.kv.get("a")?.value), "1");
  await log.kv.close();
});

test("reads validate the key the same way writes do", async () => {
  const log = TestLog.open(root.dir(), { maxKeySizeBytes: 4 });
  const code = (expected: string) => (error: unknown) => (error as KvError).code === expected;
  assert.throws(() => log.kv.get(""), code("INVALID_KEY"));
  assert.throws(() => log.kv.get("12345"), code("KEY_TOO_LARGE"));
  assert.equal(log.kv.get("1234"), undefined);
  await log.kv.close();
});
