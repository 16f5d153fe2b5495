// The supervisor of `hothot up` restarts a node process that dies unexpectedly, and the node
// rejoins with its data.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({ autoRestart: true });
});
after(async () => {
  await cluster?.stop();
});

test("a node killed with SIGKILL is restarted and serves its data again", async () => {
  await cluster.waitForLeader();
  await cluster.client.put("survives", "restart");
  const victim = cluster.cluster.node(2);
  const oldPid = victim.pid!;
  process.kill(oldPid, "SIGKILL");
  let restarted = false;
  for (let attempt = 0; attempt < 300 && !restarted; attempt++) {
    await sleep(50);
    restarted = victim.pid !== undefined && victim.pid !== oldPid;
  }
  assert.ok(restarted, "the node process was not restarted");
  const reader = cluster.clientFor([2]);
  let value: string | undefined;
  for (let attempt = 0; attempt < 200 && value === undefined; attempt++) {
    try {
      value = (await reader.get("survives"))?.value;
    } catch {
      await sleep(50);
    }
  }
  assert.equal(value, "restart");
});
