import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { test } from "node:test";
import { countBy, get, startTestLb, waitFor } from "./helpers.ts";

// A fake hothot node: serves GET /v1/events (server-sent status events), the Patroni-style
// health endpoints and answers every other request with its id. POST /control replaces its
// status and pushes it to every event subscriber, as a real node does on a role change.
const fakeNodeSource = `
const http = require("node:http");
const id = Number(process.argv[1]);
const events = process.argv[2] === "events";
let status = { id, role: "follower", leaderId: null, term: 0, members: [] };
const subscribers = new Set();
const server = http.createServer((request, response) => {
  const url = request.url || "/";
  if (url === "/control" && request.method === "POST") {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      status = { ...JSON.parse(body), id };
      for (const subscriber of subscribers) subscriber.write("event: status\\ndata: " + JSON.stringify(status) + "\\n\\n");
      response.end("ok");
    });
    return;
  }
  if (url === "/v1/events" && events) {
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.write("event: status\\ndata: " + JSON.stringify(status) + "\\n\\n");
    subscribers.add(response);
    const ping = setInterval(() => response.write(": ping\\n\\n"), 5000);
    request.on("close", () => { clearInterval(ping); subscribers.delete(response); });
    return;
  }
  if (url === "/v1/health") { response.end("ok"); return; }
  if (url === "/v1/health/leader") {
    response.writeHead(status.role === "leader" ? 200 : 503);
    response.end();
    return;
  }
  request.resume();
  request.on("end", () => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(String(id));
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\\n"));
`;

interface FakeNode {
  id: number;
  api: string;
  child: ChildProcess;
}

function startFakeNode(id: number, withEvents = true): Promise<FakeNode> {
  const child = spawn(
    process.execPath,
    ["-e", fakeNodeSource, String(id), withEvents ? "events" : "none"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fake node ${id} exited with ${code}`)));
    child.stdout!.once("data", (chunk: Buffer) => {
      const { port } = JSON.parse(chunk.toString()) as { port: number };
      resolve({ id, api: `http://127.0.0.1:${port}`, child });
    });
  });
}

function kill9(node: FakeNode): Promise<void> {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) {
      resolve();
      return;
    }
    node.child.once("exit", () => resolve());
    process.kill(node.child.pid!, "SIGKILL");
  });
}

/** Makes every live node in `nodes` announce `leaderId` in `term`. */
async function announce(
  nodes: FakeNode[],
  all: FakeNode[],
  leaderId: number,
  term: number,
): Promise<void> {
  const members = all.map((node) => ({ id: node.id, api: node.api, role: "voter" }));
  await Promise.all(
    nodes.map((node) =>
      fetch(`${node.api}/control`, {
        method: "POST",
        body: JSON.stringify({
          role: node.id === leaderId ? "leader" : "follower",
          leaderId,
          term,
          members,
        }),
      }),
    ),
  );
}

function nameOf(node: FakeNode): string {
  return new URL(node.api).host;
}

const slowFallbacks = {
  // Long intervals: only the event stream can explain a prompt switch.
  healthCheck: { intervalMs: 60_000 },
};

async function writeTargets(port: number, count: number): Promise<Record<string, number>> {
  const targets: string[] = [];
  for (let index = 0; index < count; index++) {
    targets.push((await get(port, `/v1/kv/k${index}`, { method: "PUT", body: "v" })).body);
  }
  return countBy(targets);
}

test("cluster mode learns members, sends writes to the leader and reads to all, and follows a leader transfer at once", async () => {
  const nodes = await Promise.all([1, 2, 3].map((id) => startFakeNode(id)));
  await announce(nodes, nodes, 1, 5);
  const lb = await startTestLb({
    cluster: { seeds: [nodes[0]!.api], leaderPollIntervalMs: 60_000 },
    policy: { type: "round-robin" },
    ...slowFallbacks,
  });
  try {
    await waitFor(
      () => lb.status().upstreams.length === 3 && lb.status().leader === nameOf(nodes[0]!),
      5000,
      "members and leader learned",
    );
    assert.deepEqual(await writeTargets(lb.port, 6), { "1": 6 });
    const reads: string[] = [];
    for (let index = 0; index < 9; index++) reads.push((await get(lb.port, "/v1/kv/k")).body);
    assert.deepEqual(countBy(reads), { "1": 3, "2": 3, "3": 3 });
    assert.equal((await get(lb.port, "/v1/txn", { method: "POST", body: "{}" })).body, "1");

    const announcedAt = Date.now();
    await announce(nodes, nodes, 2, 6);
    await waitFor(() => lb.status().leader === nameOf(nodes[1]!), 2000, "leader 2 learned");
    assert.ok(Date.now() - announcedAt < 1000, "switched on the event, not on a poll");
    assert.deepEqual(await writeTargets(lb.port, 6), { "2": 6 });
    const metrics = await lb.metricsText();
    assert.match(metrics, /hothot_lb_cluster_stream_connected 1/);
  } finally {
    await lb.close();
    await Promise.all(nodes.map(kill9));
  }
});

test("cluster mode survives a kill -9 of the leader whose stream it follows", async () => {
  const nodes = await Promise.all([1, 2, 3].map((id) => startFakeNode(id)));
  await announce(nodes, nodes, 1, 5);
  const lb = await startTestLb({
    // The leader is the first seed, so its event stream is the one followed.
    cluster: {
      seeds: nodes.map((node) => node.api),
      leaderPollIntervalMs: 60_000,
      reconnectDelayMs: 50,
    },
    ...slowFallbacks,
  });
  try {
    await waitFor(() => lb.status().leader === nameOf(nodes[0]!), 5000, "leader 1 learned");
    assert.equal(lb.status().clusterStream, nodes[0]!.api);
    assert.deepEqual(await writeTargets(lb.port, 3), { "1": 3 });
    await kill9(nodes[0]!);
    // The survivors elect node 3 and announce it.
    await announce(nodes.slice(1), nodes, 3, 6);
    await waitFor(
      () => lb.status().leader === nameOf(nodes[2]!),
      3000,
      "leader 3 learned from another stream",
    );
    assert.notEqual(lb.status().clusterStream, nodes[0]!.api);
    // Writes go to the new leader; none is lost to the dead one.
    assert.deepEqual(await writeTargets(lb.port, 6), { "3": 6 });
  } finally {
    await lb.close();
    await Promise.all(nodes.map(kill9));
  }
});

test("without event streams, cluster mode finds the leader through /v1/health/leader", async () => {
  const nodes = await Promise.all([1, 2].map((id) => startFakeNode(id, false)));
  await announce(nodes, nodes, 2, 3);
  const lb = await startTestLb({
    cluster: {
      seeds: nodes.map((node) => node.api),
      leaderPollIntervalMs: 100,
      reconnectDelayMs: 50,
    },
    ...slowFallbacks,
  });
  try {
    await waitFor(() => lb.status().leader === nameOf(nodes[1]!), 3000, "leader found by polling");
    assert.equal(lb.status().clusterStream, null);
    assert.deepEqual(await writeTargets(lb.port, 4), { "2": 4 });
    await announce(nodes, nodes, 1, 4);
    await waitFor(
      () => lb.status().leader === nameOf(nodes[0]!),
      3000,
      "new leader found by polling",
    );
    assert.deepEqual(await writeTargets(lb.port, 4), { "1": 4 });
  } finally {
    await lb.close();
    await Promise.all(nodes.map(kill9));
  }
});

test("with two worker processes, every worker switches writes to the new leader", async () => {
  const nodes = await Promise.all([1, 2].map((id) => startFakeNode(id)));
  await announce(nodes, nodes, 1, 2);
  const lb = await startTestLb({
    workers: 2,
    cluster: { seeds: [nodes[0]!.api], leaderPollIntervalMs: 60_000 },
    ...slowFallbacks,
  });
  try {
    await waitFor(() => lb.status().leader === nameOf(nodes[0]!), 5000, "leader 1 learned");
    const closeEach = { connection: "close" }; // new connections spread over both workers
    const writes = async () => {
      const targets: string[] = [];
      for (let index = 0; index < 8; index++) {
        targets.push(
          (await get(lb.port, "/v1/kv/x", { method: "PUT", body: "v", headers: closeEach })).body,
        );
      }
      return countBy(targets);
    };
    assert.deepEqual(await writes(), { "1": 8 });
    await announce(nodes, nodes, 2, 3);
    await waitFor(() => lb.status().leader === nameOf(nodes[1]!), 2000, "leader 2 learned");
    await new Promise((resolve) => setTimeout(resolve, 50)); // the broadcast reaches the workers
    assert.deepEqual(await writes(), { "2": 8 });
  } finally {
    await lb.close();
    await Promise.all(nodes.map(kill9));
  }
});
