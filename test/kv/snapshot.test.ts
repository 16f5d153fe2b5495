import assert from "node:assert/strict";
import { after, test } from "node:test";
import { bytes, TestLog, tempRoot, text } from "./helpers.ts";

const root = tempRoot("kv-snapshot");
after(root.cleanup);

test("a KV snapshot carries keys, metadata, the revision and the applied index", async () => {
  const leader = TestLog.open(root.dir());
  leader.apply(
    { type: "put", key: "a", value: bytes("1") },
    { type: "put", key: "a", value: bytes("2") },
    { type: "put", key: "b", value: bytes("3") },
    { type: "delete", key: "b" },
  );
  const snapshot = leader.kv.openSnapshot();
  assert.equal(snapshot.appliedIndex, 4);
  // Writes after the snapshot opened are not in it.
  leader.one({ type: "put", key: "late", value: bytes("x") });

  const follower = TestLog.open(root.dir());
  follower.one({ type: "put", key: "old", value: bytes("o") });
  const summary = await follower.kv.restoreFromSnapshot(snapshot);
  assert.deepEqual(summary, { appliedIndex: 4, entryCount: 2 }, "the revision record and key a");
  assert.equal(follower.kv.appliedIndex(), 4);
  assert.equal(follower.kv.revision(), 4, "the delete of b counted");
  assert.equal(follower.kv.get("old"), undefined);
  assert.equal(follower.kv.get("late"), undefined);
  const a = follower.kv.get("a");
  assert.equal(text(a?.value), "2");
  assert.deepEqual([a?.createRevision, a?.modRevision, a?.version], [1, 2, 2]);
  // It continues with the leader's log from the snapshot's index on.
  const [next] = follower.applyRaw(new Uint8Array(0));
  assert.equal(next?.index, 5);
  await leader.kv.close();
  await follower.kv.close();
});
