// The cluster-aware mode against real hothot nodes (in this process): the contract the fake
// nodes in cluster.test.ts stand for, checked end to end once.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseNodeConfig, type RunningNode, startNode } from "../../src/node/index.ts";
import { get, startTestLb, waitFor } from "./helpers.ts";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Three members on free loopback ports. */
async function threeMembers(): Promise<Array<{ id: number; peer: string; api: string }>> {
  const members: Array<{ id: number; peer: string; api: string }> = [];
  for (const id of [1, 2, 3]) {
    members.push({
      id,
      peer: `127.0.0.1:${await freePort()}`,
      api: `http://127.0.0.1:${await freePort()}`,
    });
  }
  return members;
}

test("a load balancer in front of three real nodes sends writes to the leader and follows a leadership transfer", async () => {
  const directory = mkdtempSync(join(tmpdir(), "hothot-lb-real-"));
  const members = await threeMembers();
  const nodes: RunningNode[] = [];
  let lb: Awaited<ReturnType<typeof startTestLb>> | null = null;
  try {
    for (const member of members) {
      const config = parseNodeConfig({
        id: member.id,
        dataDir: join(directory, `node-${member.id}`),
        listen: { api: member.api.slice("http://".length), peer: member.peer },
        members,
        secret: "lb-test-cluster-secret",
        log: { level: "fatal" },
      });
      nodes.push(await startNode(config));
    }
    lb = await startTestLb({ cluster: { seeds: [members[0]!.api] } });
    const balancer = lb;
    await waitFor(
      () => balancer.status().leader !== null && balancer.status().upstreams.length === 3,
      15_000,
      "leader learned",
    );
    const put = await get(lb.port, "/v1/kv/greeting", { method: "PUT", body: "hello" });
    assert.equal(put.status, 200, put.body);
    const read = await get(lb.port, "/v1/kv/greeting");
    assert.equal(JSON.parse(read.body).value, "hello");

    const before = lb
      .status()
      .upstreams.find((upstream) => upstream.name === balancer.status().leader)!;
    const to = [1, 2, 3].find((id) => id !== before.clusterId)!;
    const transfer = await fetch(`${before.url}/v1/admin/transfer-leadership`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to }),
    });
    assert.equal(transfer.status, 200);
    const target = members.find((member) => member.id === to)!;
    await waitFor(
      () => balancer.status().leader === new URL(target.api).host,
      5000,
      "the new leader",
    );
    const again = await get(lb.port, "/v1/kv/greeting", { method: "PUT", body: "again" });
    assert.equal(again.status, 200, again.body);
    assert.equal(JSON.parse((await get(lb.port, "/v1/kv/greeting")).body).value, "again");
  } finally {
    await lb?.close();
    for (const node of nodes) await node.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

function spawnNode(config: unknown): Promise<ChildProcess> {
  const script = new URL("./fixtures/node-process.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`node process exited with ${code}`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve(child);
    });
  });
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once("exit", () => resolve());
    process.kill(child.pid!, signal);
  });
}

test("a kill -9 of the real leader process: the load balancer learns the new leader and writes go on", async () => {
  const directory = mkdtempSync(join(tmpdir(), "hothot-lb-kill-"));
  const members = await threeMembers();
  const children = new Map<number, ChildProcess>();
  let lb: Awaited<ReturnType<typeof startTestLb>> | null = null;
  try {
    await Promise.all(
      members.map(async (member) => {
        const child = await spawnNode({
          id: member.id,
          dataDir: join(directory, `node-${member.id}`),
          listen: { api: member.api.slice("http://".length), peer: member.peer },
          members,
          secret: "lb-test-cluster-secret",
          log: { level: "fatal" },
        });
        children.set(member.id, child);
      }),
    );
    lb = await startTestLb({
      cluster: { seeds: members.map((member) => member.api), reconnectDelayMs: 50 },
      healthCheck: { intervalMs: 500, fastIntervalMs: 100, downIntervalMs: 200 },
    });
    const balancer = lb;
    await waitFor(
      () => balancer.status().leader !== null && balancer.status().upstreams.length === 3,
      20_000,
      "leader learned",
    );
    assert.equal((await get(lb.port, "/v1/kv/k", { method: "PUT", body: "1" })).status, 200);
    const oldLeader = balancer
      .status()
      .upstreams.find((upstream) => upstream.name === balancer.status().leader)!;
    await stopProcess(children.get(oldLeader.clusterId!)!, "SIGKILL");
    const killedAt = Date.now();
    await waitFor(
      () => balancer.status().leader !== null && balancer.status().leader !== oldLeader.name,
      10_000,
      "a new leader",
    );
    const switchedAfterMs = Date.now() - killedAt;
    assert.ok(switchedAfterMs < 5000, `new leader known after ${switchedAfterMs} ms`);
    process.stderr.write(`# new leader known ${switchedAfterMs} ms after the kill\n`);
    // Writes succeed again (PUT is idempotent: the proxy may retry it on another member).
    let status = 0;
    const deadline = Date.now() + 10_000;
    while (status !== 200 && Date.now() < deadline) {
      status = (await get(lb.port, "/v1/kv/k", { method: "PUT", body: "2" })).status;
    }
    assert.equal(status, 200);
    assert.equal(JSON.parse((await get(lb.port, "/v1/kv/k")).body).value, "2");
  } finally {
    await lb?.close();
    await Promise.all([...children.values()].map((child) => stopProcess(child, "SIGKILL")));
    rmSync(directory, { recursive: true, force: true });
  }
});
