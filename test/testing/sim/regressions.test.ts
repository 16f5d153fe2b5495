// Every seed that once found a bug in the core stays here, with the direct reproduction of the
// bug where one exists (the seed's run shifts whenever the simulator changes; the reproduction
// does not). See docs/simulator.md, "Bugs found in the core".
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeConfChange, MemoryStorage, RaftNode } from "../../../src/raft/index.ts";
import { formatReport, runSimulation } from "../../../src/testing/sim/index.ts";

/** Bugs reported to the core and not fixed yet: their seeds are skipped, with the reason. */
const OPEN_BUGS: Readonly<Record<string, string>> = {};

const REGRESSION_SEEDS: readonly { id: string; seed: number; nodes: 3 | 5; ticks: number }[] = [
  { id: "SIM-1", seed: 3, nodes: 3, ticks: 2000 },
  { id: "SIM-1", seed: 4, nodes: 3, ticks: 2000 },
  { id: "SIM-1", seed: 5, nodes: 3, ticks: 2000 },
  // A Ready's message array was the core's live one: inputs before advance() added messages to
  // it (asynchronous persistence), so an acknowledgement left before its entries were persisted.
  { id: "SIM-2", seed: 1316, nodes: 5, ticks: 2000 },
  // An operator's campaign() on a node inside the old leader's lease elected a new leader while
  // the old one still answered lease reads locally: stale reads.
  { id: "SIM-3", seed: 6071, nodes: 3, ticks: 2000 },
  { id: "SIM-3", seed: 2657, nodes: 3, ticks: 2000 },
  { id: "SIM-3", seed: 6303, nodes: 3, ticks: 2000 },
];

for (const { id, seed, nodes, ticks } of REGRESSION_SEEDS) {
  const skip = OPEN_BUGS[id];
  test(`${id}: seed ${seed} (${nodes} nodes, ${ticks} ticks) runs clean`, {
    skip: skip ?? false,
  }, () => {
    const result = runSimulation({ seed, nodes, ticks });
    assert.equal(result.ok, true, formatReport(result));
  });
}

test("SIM-1: a restart over a log kept below the snapshot does not re-apply its conf changes", () => {
  const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
  storage.append([
    { index: 1, term: 1, type: "normal", data: new Uint8Array(0) },
    {
      index: 2,
      term: 1,
      type: "conf-change",
      data: encodeConfChange({ type: "add-learner", nodeId: 4 }),
    },
    { index: 3, term: 1, type: "normal", data: new Uint8Array(0) },
  ]);
  storage.setHardState({ term: 1, vote: 1, commit: 3 });
  storage.createSnapshot(3, undefined, new Uint8Array(0));
  storage.compact(1); // compaction lag: entries 2..3 stay in the log below the snapshot point
  const node = new RaftNode({ id: 1, storage, random: () => 0.5, appliedIndex: 3 });
  assert.deepEqual(node.status().confState, { voters: [1, 2, 3], learners: [4] });
});
