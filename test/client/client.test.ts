import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { HothotClient, HothotError } from "../../src/client/index.ts";

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function fakeNode(handler: Handler): Promise<string> {
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => handler(request, response, body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(response: ServerResponse, status: number, value: unknown, headers = {}): void {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(value));
}

async function closedPort(): Promise<string> {
  const url = await fakeNode(() => {});
  const server = servers.pop()!;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

test("a 404 KEY_NOT_FOUND is an answer (undefined), a value is returned as sent", async () => {
  const url = await fakeNode((request, response) => {
    if (request.url === "/v1/kv/missing") {
      json(response, 404, { error: { code: "KEY_NOT_FOUND", message: "no such key" } });
    } else {
      json(response, 200, { key: "a", value: "1", createRevision: 2, modRevision: 3, version: 2 });
    }
  });
  const client = new HothotClient({ endpoints: [url] });
  assert.equal(await client.get("missing"), undefined);
  assert.deepEqual(await client.get("a"), {
    key: "a",
    value: "1",
    createRevision: 2,
    modRevision: 3,
    version: 2,
  });
  await client.close();
});

test("keys are URL-encoded and binary values travel as base64", async () => {
  const seen: string[] = [];
  const url = await fakeNode((request, response, body) => {
    seen.push(`${request.method} ${request.url} ${body}`);
    json(response, 200, { revision: 1, committed: true });
  });
  const client = new HothotClient({ endpoints: [url] });
  await client.put("a/b c", new Uint8Array([0, 255, 1]));
  assert.deepEqual(seen, ["PUT /v1/kv/a%2Fb%20c?encoding=base64 AP8B"]);
  await client.close();
});

test("an unreachable endpoint is skipped, for writes too (nothing was sent)", async () => {
  const dead = await closedPort();
  const live = await fakeNode((_request, response) =>
    json(response, 200, { revision: 7, committed: true }),
  );
  const client = new HothotClient({ endpoints: [dead, live], retryDelayMs: 1 });
  for (let i = 0; i < 4; i++) assert.equal((await client.put("k", "v")).revision, 7);
  await client.close();
});

test("writes follow the X-Hothot-Leader hint", async () => {
  const hits = { follower: 0, leader: 0 };
  const leader = await fakeNode((_request, response) => {
    hits.leader++;
    json(response, 200, { revision: 1, committed: true });
  });
  const follower = await fakeNode((_request, response) => {
    hits.follower++;
    json(response, 200, { revision: 1, committed: true }, { "x-hothot-leader": leader });
  });
  const client = new HothotClient({ endpoints: [follower, leader] });
  await client.put("k", "v"); // may land on either; the answer names the leader
  hits.follower = 0;
  hits.leader = 0;
  for (let i = 0; i < 5; i++) await client.put("k", "v");
  assert.deepEqual(hits, { follower: 0, leader: 5 });
  await client.close();
});

test("NO_LEADER is retried until a leader answers", async () => {
  let calls = 0;
  const url = await fakeNode((_request, response) => {
    calls++;
    if (calls < 3) {
      json(response, 503, { error: { code: "NO_LEADER", message: "election", retryable: true } });
    } else {
      json(response, 200, { revision: 9, committed: true });
    }
  });
  const client = new HothotClient({ endpoints: [url], retryDelayMs: 1 });
  assert.equal((await client.put("k", "v")).revision, 9);
  assert.equal(calls >= 3, true);
  await client.close();
});

test("a write that times out fails with OUTCOME_UNKNOWN and is not retried", async () => {
  let calls = 0;
  const url = await fakeNode(() => {
    calls++; // never answers
  });
  const client = new HothotClient({ endpoints: [url], requestTimeoutMs: 200, retryDelayMs: 1 });
  await assert.rejects(
    client.put("k", "v"),
    (error: unknown) => error instanceof HothotError && error.code === "OUTCOME_UNKNOWN",
  );
  assert.equal(calls, 1);
  await client.close();
});

test("a node's 504 TIMEOUT on a write is OUTCOME_UNKNOWN (status kept, not retried); on a read it stays TIMEOUT", async () => {
  let calls = 0;
  const url = await fakeNode((_request, response) => {
    calls++;
    json(response, 504, {
      error: { code: "TIMEOUT", message: "forwarding to the leader failed (ECONNRESET)" },
    });
  });
  const client = new HothotClient({ endpoints: [url], retryDelayMs: 1 });
  await assert.rejects(client.put("k", "v"), (error: unknown) => {
    assert.ok(error instanceof HothotError);
    assert.equal(error.code, "OUTCOME_UNKNOWN");
    assert.equal(error.status, 504);
    assert.equal(error.retryable, false);
    assert.match(error.message, /ECONNRESET/);
    assert.match(error.message, /may or may not have taken effect: read the key/);
    return true;
  });
  assert.equal(calls, 1);
  await assert.rejects(
    client.get("k"),
    (error: unknown) => error instanceof HothotError && error.code === "TIMEOUT",
  );
  await client.close();
});

test("a non-retryable server error surfaces with its code and status", async () => {
  const url = await fakeNode((_request, response) =>
    json(response, 413, { error: { code: "VALUE_TOO_LARGE", message: "value over 1 MiB" } }),
  );
  const client = new HothotClient({ endpoints: [url] });
  await assert.rejects(
    client.put("k", "v"),
    (error: unknown) =>
      error instanceof HothotError && error.code === "VALUE_TOO_LARGE" && error.status === 413,
  );
  await client.close();
});

test("a bad endpoint is refused at construction with a hint", () => {
  assert.throws(
    () => new HothotClient({ endpoints: ["not a url"] }),
    (error: unknown) => error instanceof HothotError && error.code === "INVALID_ARGUMENT",
  );
});

test("a request to a hung node is abandoned once another node leads: writes unknown, reads retried", async () => {
  let leaderUrl = "";
  const hung = await fakeNode(() => {
    // a stopped process: accepts connections, never answers
  });
  leaderUrl = await fakeNode((request, response) => {
    if (request.url === "/v1/status") {
      json(response, 200, {
        id: 2,
        leaderId: 2,
        members: [
          { id: 1, api: hung },
          { id: 2, api: leaderUrl },
        ],
      });
    } else {
      json(response, 200, {
        key: "k",
        value: "from-2",
        createRevision: 1,
        modRevision: 1,
        version: 1,
      });
    }
  });
  const client = new HothotClient({
    endpoints: [hung, leaderUrl],
    requestTimeoutMs: 10_000,
    retryDelayMs: 1,
  });
  const started = Date.now();
  await assert.rejects(
    client.put("k", "v"),
    (error: unknown) => error instanceof HothotError && error.code === "OUTCOME_UNKNOWN",
  );
  assert.ok(
    Date.now() - started < 3000,
    `the write was abandoned after ${Date.now() - started} ms`,
  );
  assert.equal(client.leader, leaderUrl);
  const read = await client.get("k", { endpoint: undefined });
  assert.equal(read?.value, "from-2");
  await client.close();
});

test("a request to a hung node is abandoned soon after a leader appears elsewhere, not a probe round later", async () => {
  // The node hangs from the start; another node reports a leader only after leaderAfterMs (an
  // election). Health probes take probeTimeoutMs to fail, so a watch that waited for a fresh
  // health timeout each round would abandon the request up to a whole round (800 + 50 ms)
  // after the leader appeared.
  const leaderAfterMs = 1000;
  let leaderUrl = "";
  const hung = await fakeNode(() => {
    // a stopped process: accepts connections, never answers
  });
  const startedAt = Date.now();
  leaderUrl = await fakeNode((request, response) => {
    assert.equal(request.url, "/v1/status");
    const elected = Date.now() - startedAt >= leaderAfterMs;
    json(response, 200, {
      id: 2,
      leaderId: elected ? 2 : null,
      members: [
        { id: 1, api: hung },
        { id: 2, api: leaderUrl },
      ],
    });
  });
  const client = new HothotClient({
    endpoints: [hung, leaderUrl],
    requestTimeoutMs: 10_000,
    hungAfterMs: 100,
    probeIntervalMs: 50,
    probeTimeoutMs: 800,
  });
  await assert.rejects(
    client.put("k", "v"),
    (error: unknown) => error instanceof HothotError && error.code === "OUTCOME_UNKNOWN",
  );
  const abandonedAfterMs = Date.now() - startedAt;
  assert.ok(abandonedAfterMs >= leaderAfterMs, `abandoned after ${abandonedAfterMs} ms`);
  // Probe rounds of 800 + 50 ms starting at 100 ms would end at 900, 1750, ...: 1750 ms.
  assert.ok(
    abandonedAfterMs < leaderAfterMs + 450,
    `abandoned ${abandonedAfterMs - leaderAfterMs} ms after a leader appeared elsewhere`,
  );
  assert.equal(client.leader, leaderUrl);
  await client.close();
});
