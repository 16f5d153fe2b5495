// Kill -9 the leader under a steady writer: a new leader takes over, no acknowledged write is
// lost, and the killed node catches up by log when it returns.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HothotError } from "../../src/client/index.ts";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

test("kill -9 of the leader: writes continue on a new leader and no acknowledged write is lost", async () => {
  const oldLeader = await cluster.waitForLeader();
  const survivors = cluster.cluster.nodes.map((node) => node.id).filter((id) => id !== oldLeader);
  const writer = cluster.clientFor(cluster.cluster.nodes.map((node) => node.id));
  const acknowledged: string[] = [];
  const unknown: string[] = [];
  let stop = false;
  let killedAt = 0;
  let firstAckAfterKill = 0;
  const loop = (async () => {
    for (let i = 0; !stop && i < 5000; i++) {
      const key = `w/${String(i).padStart(5, "0")}`;
      try {
        await writer.put(key, String(i));
        acknowledged.push(key);
        if (killedAt && !firstAckAfterKill) firstAckAfterKill = Date.now();
      } catch (error) {
        if (error instanceof HothotError && error.code === "OUTCOME_UNKNOWN") unknown.push(key);
        else throw error;
      }
    }
  })();
  await sleep(500);
  const beforeKill = acknowledged.length;
  assert.ok(beforeKill > 0, "writes were acknowledged before the kill");
  killedAt = Date.now();
  await cluster.cluster.kill(oldLeader);
  const newLeader = await cluster.waitForLeader({ among: survivors, timeoutMs: 10_000 });
  assert.notEqual(newLeader, oldLeader);
  await sleep(500);
  stop = true;
  await loop;
  assert.ok(acknowledged.length > beforeKill, "writes were acknowledged after the kill");
  const gapMs = firstAckAfterKill - killedAt;
  assert.ok(gapMs < 5000, `the first write after the kill was acknowledged after ${gapMs} ms`);

  // Every acknowledged write is on the survivors.
  const reader = cluster.clientFor(survivors);
  const listed = new Set<string>();
  let after: string | undefined;
  do {
    const page = await reader.list({ prefix: "w/", limit: 1000, ...(after ? { after } : {}) });
    for (const item of page.items) listed.add(item.key);
    after = page.more ? (page.next ?? undefined) : undefined;
  } while (after);
  const lost = acknowledged.filter((key) => !listed.has(key));
  assert.deepEqual(lost, [], "acknowledged writes missing after failover");

  // The old leader comes back and catches up by log. It was killed with applied entries whose
  // state-machine commit was still waiting (they are committed every 100 ms): it re-applies
  // them from its log and ends with exactly the survivors' data.
  cluster.cluster.restart(oldLeader);
  const rejoined = cluster.clientFor([oldLeader]);
  const last = acknowledged[acknowledged.length - 1]!;
  let caughtUp = false;
  for (let attempt = 0; attempt < 200 && !caughtUp; attempt++) {
    try {
      caughtUp = (await rejoined.get(last, { consistency: "stale" })) !== null;
    } catch {
      // still starting
    }
    if (!caughtUp) await sleep(50);
  }
  assert.ok(caughtUp, `node ${oldLeader} did not catch up after its restart`);
  let all: Array<{ sha256: string; appliedIndex: number }> = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    all = await Promise.all(
      cluster.cluster.nodes.map(async (node) => {
        const response = await fetch(`${node.api}/v1/admin/digest`);
        return (await response.json()) as { sha256: string; appliedIndex: number };
      }),
    );
    if (new Set(all.map((digest) => digest.appliedIndex)).size === 1) break;
    await sleep(50);
  }
  assert.equal(new Set(all.map((digest) => digest.appliedIndex)).size, 1, JSON.stringify(all));
  assert.equal(new Set(all.map((digest) => digest.sha256)).size, 1, JSON.stringify(all));
});
