// How the drill's pinned clients turn answers into history outcomes: only answers that prove
// nothing was written are "fail" for a write; anything that may have written is "unknown".
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { NodeApi } from "../../../src/testing/chaos/index.ts";

async function serve(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function answer(status: number, code: string) {
  return serve((_request, response) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { code, message: code, retryable: false } }));
  });
}

test("write outcomes: NO_LEADER and OVERLOADED fail, TIMEOUT and other 5xx are unknown, 4xx fail", async () => {
  const cases: Array<[number, string, "fail" | "unknown"]> = [
    [503, "NO_LEADER", "fail"],
    [503, "OVERLOADED", "fail"],
    [504, "TIMEOUT", "unknown"],
    [500, "INTERNAL", "unknown"],
    [503, "STORAGE_FAILED", "unknown"],
    [400, "INVALID_REQUEST", "fail"],
  ];
  for (const [status, code, expected] of cases) {
    const { server, url } = await answer(status, code);
    const api = new NodeApi(url, { requestTimeoutMs: 2000 });
    try {
      const write = await api.write("k", "v");
      assert.equal(write.outcome, expected, `${status} ${code}`);
      assert.equal(write.errorCode, code);
      assert.equal((await api.cas("k", null, "v")).outcome, expected, `cas ${status} ${code}`);
      assert.equal((await api.read("k")).outcome, "fail", `read ${status} ${code}`);
    } finally {
      await api.close();
      server.close();
    }
  }
});

test("ok answers: a value, an absent key, a swapped and an unswapped compare-and-swap", async () => {
  let swapped = true;
  const { server, url } = await serve((request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.method === "GET" && request.url === "/v1/kv/present") {
      response.end(
        JSON.stringify({
          key: "present",
          value: "x",
          createRevision: 1,
          modRevision: 1,
          version: 1,
        }),
      );
    } else if (request.method === "GET") {
      response.writeHead(404);
      response.end(
        JSON.stringify({ error: { code: "KEY_NOT_FOUND", message: "", retryable: false } }),
      );
    } else if (request.url === "/v1/txn") {
      response.end(JSON.stringify({ succeeded: swapped, revision: 3, results: [] }));
    } else {
      response.end(JSON.stringify({ revision: 2, committed: true }));
    }
  });
  const api = new NodeApi(url, { requestTimeoutMs: 2000 });
  try {
    assert.deepEqual(await api.read("present"), { outcome: "ok", result: "x", node: url });
    assert.deepEqual(await api.read("absent"), { outcome: "ok", result: null, node: url });
    assert.equal((await api.write("k", "v")).outcome, "ok");
    assert.deepEqual(await api.cas("k", "a", "b"), { outcome: "ok", swapped: true, node: url });
    swapped = false;
    assert.deepEqual(await api.cas("k", "a", "b"), { outcome: "ok", swapped: false, node: url });
  } finally {
    await api.close();
    server.close();
  }
});

test("a refused connection proves nothing was sent; a node that never answers leaves a write unknown", async () => {
  const { server, url } = await answer(200, "unused");
  await new Promise<void>((done) => server.close(() => done()));
  const refused = new NodeApi(url, { requestTimeoutMs: 1000 });
  try {
    const write = await refused.write("k", "v");
    assert.equal(write.outcome, "fail");
    assert.equal(write.errorCode, "ECONNREFUSED");
  } finally {
    await refused.close();
  }
  const silent = await serve(() => {
    // never answers, like a paused node whose kernel still accepts connections
  });
  const hung = new NodeApi(silent.url, { requestTimeoutMs: 300 });
  try {
    assert.equal((await hung.write("k", "v")).outcome, "unknown");
    assert.equal((await hung.cas("k", "a", "b")).outcome, "unknown");
    assert.equal((await hung.read("k")).outcome, "fail");
  } finally {
    await hung.close();
    silent.server.closeAllConnections();
    silent.server.close();
  }
});
