// A member started with the wrong cluster secret is refused by the others (and logged); the
// rest of the cluster keeps working without it.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { parse, stringify } from "yaml";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

test("a node with the wrong cluster secret cannot take part", async () => {
  await cluster.waitForLeader();
  await cluster.cluster.kill(3);
  const node3 = cluster.cluster.node(3);
  const config = parse(readFileSync(node3.configPath, "utf8")) as Record<string, unknown>;
  delete config.secretFile;
  config.secret = "not-the-cluster-secret-0123456789";
  writeFileSync(node3.configPath, stringify(config));
  cluster.cluster.restart(3);

  const writer = cluster.clientFor([1, 2]);
  await writer.put("still", "working");
  let refusedLogged = false;
  for (let attempt = 0; attempt < 100 && !refusedLogged; attempt++) {
    refusedLogged = /refused a peer connection|authentication/.test(
      cluster.cluster.readLog(3) + cluster.cluster.readLog(1) + cluster.cluster.readLog(2),
    );
    await sleep(100);
  }
  assert.ok(refusedLogged, "the refusal was logged");
  // Node 3 starts, but never hears from the leader: it stays without one, and has none of the
  // new data.
  let health: Response | undefined;
  for (let attempt = 0; attempt < 300 && !health; attempt++) {
    health = await fetch(`${node3.api}/v1/health`).catch(() => undefined);
    if (!health) await sleep(50);
  }
  await sleep(1000);
  health = await fetch(`${node3.api}/v1/health`);
  assert.equal(health.status, 503);
  const stale = await fetch(`${node3.api}/v1/kv/still?consistency=stale`);
  assert.equal(stale.status, 404);
  assert.equal((await writer.get("still"))?.value, "working");
});
