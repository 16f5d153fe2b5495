// A node that was down while the others snapshotted and compacted their logs catches up by a
// snapshot sent in chunks, then continues from the log.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({
    // Snapshot often, keep almost no log behind a snapshot, and use small chunks so the
    // transfer takes several round trips.
    overrides: { snapshot: { everyEntries: 50, catchUpEntries: 5, chunkBytes: 4096 } },
  });
});
after(async () => {
  await cluster?.stop();
});

test("a node behind the compaction point receives a snapshot and converges", async () => {
  const leader = await cluster.waitForLeader();
  const lagging = cluster.cluster.nodes.map((node) => node.id).find((id) => id !== leader)!;
  await cluster.cluster.kill(lagging);
  const writer = cluster.clientFor([leader]);
  const value = "x".repeat(200);
  for (let i = 0; i < 400; i++)
    await writer.put(`snap/${String(i).padStart(4, "0")}`, `${value}${i}`);
  cluster.cluster.restart(lagging);

  const reader = cluster.clientFor([lagging]);
  let caughtUp = false;
  for (let attempt = 0; attempt < 400 && !caughtUp; attempt++) {
    try {
      caughtUp = (await reader.get("snap/0399", { consistency: "stale" })) !== undefined;
    } catch {
      // still starting
    }
    if (!caughtUp) await sleep(50);
  }
  assert.ok(
    caughtUp,
    `node ${lagging} did not catch up:\n${cluster.cluster.readLog(lagging).slice(-3000)}`,
  );
  assert.match(cluster.cluster.readLog(lagging), /installed a snapshot from the leader/);
  assert.equal((await reader.get("snap/0000", { consistency: "stale" }))?.value, `${value}0`);

  // It continues from the log afterwards.
  await writer.put("after-snapshot", "yes");
  assert.equal((await reader.get("after-snapshot"))?.value, "yes");
  const digests = await Promise.all(
    cluster.cluster.nodes.map(
      async (node) =>
        (await (await fetch(`${node.api}/v1/admin/digest`)).json()) as {
          sha256: string;
          appliedIndex: number;
        },
    ),
  );
  for (
    let attempt = 0;
    attempt < 100 && new Set(digests.map((digest) => digest.appliedIndex)).size > 1;
    attempt++
  ) {
    await sleep(20);
    for (const [position, node] of cluster.cluster.nodes.entries()) {
      digests[position] = (await (await fetch(`${node.api}/v1/admin/digest`)).json()) as {
        sha256: string;
        appliedIndex: number;
      };
    }
  }
  assert.equal(new Set(digests.map((digest) => digest.sha256)).size, 1, JSON.stringify(digests));
  const metrics = await (await fetch(`${cluster.cluster.node(leader).api}/metrics`)).text();
  assert.match(metrics, /hothot_snapshots_sent_total\{outcome="ok",node="\d+"\} [1-9]/);
});
