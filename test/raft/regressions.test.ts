// Regression tests for bugs found by the randomized simulator (see the ids).

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeConfChange, MemoryStorage, RaftNode } from "../../src/raft/index.ts";

test("SIM-1: restart does not replay conf changes that the snapshot already covers", () => {
  const s = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
  s.append([
    { index: 1, term: 1, type: "normal", data: new Uint8Array(0) },
    {
      index: 2,
      term: 1,
      type: "conf-change",
      data: encodeConfChange({ type: "add-learner", nodeId: 4 }),
    },
    { index: 3, term: 1, type: "normal", data: new Uint8Array(0) },
  ]);
  s.setHardState({ term: 1, vote: 1, commit: 3 });
  s.createSnapshot(3, undefined, new Uint8Array(0));
  s.compact(1); // compaction lags the snapshot: entries 2..3 are still in the log
  const node = new RaftNode({ id: 1, storage: s, random: () => 0.5, appliedIndex: 3 });
  assert.deepEqual(node.status().confState, { voters: [1, 2, 3], learners: [4] });
});
