// A write that cannot commit (the leader lost both followers) is answered 504 TIMEOUT once
// limits.requestTimeoutMs has passed: not before, and not much after.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startCluster, type TestCluster } from "./helpers/cluster.ts";

const requestTimeoutMs = 700;
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({ overrides: { limits: { requestTimeoutMs } } });
});
after(async () => {
  await cluster?.stop();
});

test("a write that cannot commit is answered TIMEOUT at its deadline", async () => {
  const leader = await cluster.waitForLeader();
  // One write that commits, so the leader is past its first entry of the term.
  await cluster.client.put("before", "ok");
  for (const node of cluster.cluster.nodes) {
    if (node.id !== leader) await cluster.cluster.kill(node.id);
  }
  const startedAt = Date.now();
  const response = await fetch(`${cluster.cluster.node(leader).api}/v1/kv/stuck`, {
    method: "PUT",
    body: "never committed",
    signal: AbortSignal.timeout(requestTimeoutMs + 5000),
  });
  const elapsedMs = Date.now() - startedAt;
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  assert.equal(response.status, 504, JSON.stringify(body));
  assert.equal(body.error?.code, "TIMEOUT");
  assert.match(body.error?.message ?? "", /may or may not take effect/);
  assert.ok(elapsedMs >= requestTimeoutMs - 50, `answered after ${elapsedMs} ms`);
  assert.ok(elapsedMs < requestTimeoutMs + 2000, `answered after ${elapsedMs} ms`);
});
