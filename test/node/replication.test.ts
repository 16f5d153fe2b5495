// Three real node processes: replication, forwarding, read consistency levels, sync vs async
// acknowledgement, identical state by digest.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;
let leader: number;
let followers: number[];

before(async () => {
  cluster = await startCluster();
  leader = await cluster.waitForLeader();
  followers = cluster.cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
});
after(async () => {
  await cluster?.stop();
});

async function digests(): Promise<Array<{ sha256: string; appliedIndex: number }>> {
  return Promise.all(
    cluster.cluster.nodes.map(async (node) => {
      const response = await fetch(`${node.api}/v1/admin/digest`);
      return (await response.json()) as { sha256: string; appliedIndex: number };
    }),
  );
}

test("a write on the leader is readable, linearizably, from every node", async () => {
  const writer = cluster.clientFor([leader]);
  const put = await writer.put("replicated", "on-all-nodes");
  assert.equal(put.committed, true);
  assert.equal(typeof put.revision, "number");
  for (const id of followers) {
    const reader = cluster.clientFor([id]);
    const record = await reader.get("replicated");
    assert.equal(record?.value, "on-all-nodes", `node ${id} serves the write`);
  }
});

test("a write sent to a follower is forwarded to the leader and answered by the follower", async () => {
  const follower = followers[0]!;
  const response = await fetch(`${cluster.cluster.node(follower).api}/v1/kv/forwarded`, {
    method: "PUT",
    body: "via-follower",
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { committed: boolean; revision: number };
  assert.equal(body.committed, true);
  assert.equal(response.headers.get("x-hothot-leader"), cluster.cluster.node(leader).api);
  const record = await cluster.clientFor([leader]).get("forwarded");
  assert.equal(record?.value, "via-follower");
  assert.equal(record?.modRevision, body.revision);
});

test("deletes and transactions replicate; a failed compare takes the other branch", async () => {
  const client = cluster.clientFor([followers[1]!]);
  await client.put("txn/a", "1");
  const swapped = await client.txn({
    compare: [{ key: "txn/a", target: "value", op: "=", value: "1" }],
    success: [{ op: "put", key: "txn/a", value: "2" }],
    failure: [],
  });
  assert.equal(swapped.succeeded, true);
  const refused = await client.txn({
    compare: [{ key: "txn/a", target: "value", op: "=", value: "1" }],
    success: [{ op: "put", key: "txn/a", value: "3" }],
    failure: [{ op: "get", key: "txn/a" }],
  });
  assert.equal(refused.succeeded, false);
  assert.deepEqual((refused.results[0] as { kv: { value: string } }).kv.value, "2");
  const deleted = await client.delete("txn/a");
  assert.equal(deleted.deleted, true);
  assert.equal(await cluster.clientFor([leader]).get("txn/a"), undefined);
});

test("async durability is acknowledged before commit and says so; the write still arrives", async () => {
  const client = cluster.clientFor([leader]);
  const put = await client.put("async-key", "later", { durability: "async" });
  assert.equal(put.committed, false);
  assert.equal(put.revision, null);
  assert.equal(typeof put.index, "number");
  const reader = cluster.clientFor([followers[0]!]);
  assert.equal((await reader.get("async-key"))?.value, "later");
});

test("stale reads answer from local state with the applied index", async () => {
  const follower = cluster.cluster.node(followers[0]!);
  await cluster.clientFor([leader]).put("stale-key", "v1");
  for (let attempt = 0; attempt < 100; attempt++) {
    const response = await fetch(`${follower.api}/v1/kv/stale-key?consistency=stale`);
    if (response.status === 200) {
      assert.ok(Number(response.headers.get("x-hothot-applied-index")) > 0);
      return;
    }
    await sleep(20);
  }
  assert.fail("the follower never applied the write");
});

test("listing pages through keys in order on any node", async () => {
  const client = cluster.clientFor([leader]);
  for (const key of ["list/c", "list/a", "list/b"]) await client.put(key, key);
  const reader = cluster.clientFor([followers[1]!]);
  const first = await reader.list({ prefix: "list/", limit: 2 });
  assert.deepEqual(
    first.items.map((item) => item.key),
    ["list/a", "list/b"],
  );
  assert.equal(first.more, true);
  const second = await reader.list({ prefix: "list/", limit: 2, after: first.next! });
  assert.deepEqual(
    second.items.map((item) => item.key),
    ["list/c"],
  );
});

test("every node converges to the same data (digest)", async () => {
  await cluster.clientFor([leader]).put("last", "write");
  for (let attempt = 0; attempt < 100; attempt++) {
    const all = await digests();
    const applied = new Set(all.map((digest) => digest.appliedIndex));
    if (applied.size === 1) {
      assert.equal(new Set(all.map((digest) => digest.sha256)).size, 1, JSON.stringify(all));
      return;
    }
    await sleep(20);
  }
  assert.fail("the nodes did not reach the same applied index");
});

test("bad input gets a 4xx with a stable code", async () => {
  const api = cluster.cluster.node(leader).api;
  const tooLong = await fetch(`${api}/v1/kv/${"k".repeat(2000)}`, { method: "PUT", body: "v" });
  assert.equal(tooLong.status, 413);
  assert.equal(((await tooLong.json()) as { error: { code: string } }).error.code, "KEY_TOO_LARGE");
  const badJson = await fetch(`${api}/v1/txn`, { method: "POST", body: "{" });
  assert.equal(badJson.status, 400);
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /hothot_role\{role="leader",node="\d+"\} 1/);
  assert.match(metrics, /hothot_fsync_duration_seconds_count/);
  // The writes of the tests before this one were committed to the state machine's LMDB.
  assert.match(metrics, /hothot_state_machine_commits_total\{node="\d+"\} [1-9]/);
  assert.match(metrics, /hothot_state_machine_pending_batches\{node="\d+"\} \d+/);
  // Requests are counted by route, method and status, with their latency per route.
  const count = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? Number.NaN);
  const rejected = count(
    /hothot_http_requests_total\{route="\/v1\/kv\/\{key\}",method="PUT",status="413",node="\d+"\} (\d+)/,
  );
  assert.equal(rejected, 1);
  const puts = count(
    /hothot_http_requests_total\{route="\/v1\/kv\/\{key\}",method="PUT",status="200",node="\d+"\} (\d+)/,
  );
  assert.ok(puts >= 1, `counted PUTs: ${puts}`);
  const kvRequests = count(
    /hothot_http_request_duration_seconds_count\{route="\/v1\/kv\/\{key\}",node="\d+"\} (\d+)/,
  );
  assert.ok(kvRequests >= puts + rejected, `${kvRequests} timed, ${puts + rejected} counted`);
  assert.equal(
    count(
      /hothot_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/kv\/\{key\}",node="\d+"\} (\d+)/,
    ),
    kvRequests,
  );
  // Every acknowledged write through this node was timed from arrival to acknowledgement.
  assert.ok(count(/hothot_proposal_duration_seconds_count\{node="\d+"\} (\d+)/) >= puts);
});

test("linearizable reads that arrive while a ReadIndex round is out share the next round", async () => {
  const follower = followers[0]!;
  const api = cluster.cluster.node(follower).api;
  await cluster.clientFor([leader]).put("shared-round", "value");
  const rounds = async (): Promise<{ rounds: number; reads: number }> => {
    const text = await (await fetch(`${api}/metrics`)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);
    return {
      rounds: value("hothot_read_index_rounds_total"),
      reads: value("hothot_read_index_reads_total"),
    };
  };
  const before = await rounds();
  // 16 clients, each reading as soon as its previous read is answered: without batching every
  // read tends to get a round of its own.
  const workers = 16;
  const readsEach = 25;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let read = 0; read < readsEach; read++) {
        const response = await fetch(`${api}/v1/kv/shared-round`);
        assert.equal(response.status, 200);
        const body = (await response.json()) as { value: string };
        assert.equal(body.value, "value");
      }
    }),
  );
  const after = await rounds();
  const reads = after.reads - before.reads;
  const started = after.rounds - before.rounds;
  assert.equal(reads, workers * readsEach, "every read went through a round");
  assert.ok(
    started * 3 <= reads,
    `${started} rounds for ${reads} reads: reads should share rounds (at least 3 per round)`,
  );
});
