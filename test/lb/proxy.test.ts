import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import { after, before, test } from "node:test";
import { request } from "undici";
import { agent, get, startTestLb, startUpstream, type TestUpstream, waitFor } from "./helpers.ts";

let upstreams: TestUpstream[] = [];
const seen: http.IncomingHttpHeaders[] = [];

before(async () => {
  const handler = (name: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push(req.headers);
    if (req.url === "/echo") {
      // Streams the request body back and a digest of it in the trailer-free way: as a header
      // would need the whole body first, the digest is appended at the end of the body instead.
      const hash = createHash("sha256");
      res.writeHead(200, { "content-type": "application/octet-stream" });
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        res.write(chunk);
      });
      req.on("end", () => res.end(`|${hash.digest("hex")}`));
      return;
    }
    req.resume();
    if (req.url === "/unavailable") {
      res.writeHead(name === "a" ? 503 : 200, {
        connection: "keep-alive, x-private",
        "x-private": "secret",
        "keep-alive": "timeout=5",
      });
      res.end(name);
      return;
    }
    if (req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, name);
      let sent = 0;
      const pump = () => {
        while (sent < 64) {
          sent++;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === "/hang") return; // never answers
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(name);
  };
  upstreams = await Promise.all(["a", "b"].map((name) => startUpstream(name, handler(name))));
});

after(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

function lbOptions(extra: Record<string, unknown> = {}) {
  return {
    policy: { type: "round-robin" as const },
    healthCheck: { enabled: false },
    upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    ...extra,
  };
}

test("forwarding headers are added and hop-by-hop headers are dropped both ways", async () => {
  const lb = await startTestLb(lbOptions());
  try {
    seen.length = 0;
    // node:http rather than undici: undici refuses to send a Connection header listing names.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: "127.0.0.1",
        port: lb.port,
        path: "/",
        agent: false,
        headers: {
          "x-forwarded-for": "203.0.113.9",
          connection: "x-drop-me",
          "x-drop-me": "1",
          te: "trailers",
          "x-keep": "yes",
        },
      });
      req.on("response", (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 200);
    const headers = seen[0]!;
    assert.equal(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], `127.0.0.1:${lb.port}`);
    assert.equal(headers.host, `127.0.0.1:${lb.port}`);
    assert.equal(headers["x-keep"], "yes");
    assert.equal(headers["x-drop-me"], undefined);
    assert.equal(headers.te, undefined);

    // b answers /unavailable with 200 and Connection-listed headers that must not reach us.
    const answers = [await get(lb.port, "/unavailable"), await get(lb.port, "/unavailable")];
    for (const answer of answers) {
      assert.equal(answer.headers["x-private"], undefined);
      // The proxy announces its own keep-alive, never the upstream's (timeout=5).
      assert.equal(answer.headers["keep-alive"], "timeout=15");
    }
  } finally {
    await lb.close();
  }
});

test("an idempotent request answered 503 is retried on another upstream; a POST is not", async () => {
  const lb = await startTestLb(lbOptions({ outlier: { consecutive5xx: 1000 } }));
  try {
    for (let index = 0; index < 4; index++) {
      const reply = await get(lb.port, "/unavailable");
      assert.deepEqual([reply.status, reply.body], [200, "b"]);
    }
    const statuses = [];
    for (let index = 0; index < 4; index++)
      statuses.push((await get(lb.port, "/unavailable", { method: "POST", body: "x" })).status);
    assert.deepEqual(statuses.sort(), [200, 200, 503, 503]);
    assert.match(await lb.metricsText(), /hothot_lb_retries_total\{reason="status:GET"\} 4/);
  } finally {
    await lb.close();
  }
});

test("request and response bodies stream through intact (1 MiB up, 4 MiB down)", async () => {
  const lb = await startTestLb(lbOptions());
  try {
    const body = Buffer.alloc(1024 * 1024);
    for (let index = 0; index < body.length; index++) body[index] = (index * 31) & 0xff;
    const response = await request(`http://127.0.0.1:${lb.port}/echo`, {
      method: "POST",
      body,
      dispatcher: agent,
    });
    const echoed = Buffer.from(await response.body.arrayBuffer());
    const separator = echoed.lastIndexOf("|");
    assert.equal(separator, body.length);
    assert.ok(echoed.subarray(0, separator).equals(body));
    assert.equal(
      echoed.subarray(separator + 1).toString(),
      createHash("sha256").update(body).digest("hex"),
    );

    const big = await request(`http://127.0.0.1:${lb.port}/big`, { dispatcher: agent });
    let total = 0;
    for await (const chunk of big.body) total += (chunk as Buffer).length;
    assert.equal(total, 64 * 64 * 1024);
  } finally {
    await lb.close();
  }
});

test("an upstream that does not answer in time gets 504", async () => {
  const lb = await startTestLb(lbOptions({ timeouts: { responseHeadersMs: 200 } }));
  try {
    const started = Date.now();
    const reply = await get(lb.port, "/hang");
    assert.equal(reply.status, 504);
    assert.ok(Date.now() - started < 2000);
  } finally {
    await lb.close();
  }
});

test("no upstream at all gives 503, unreachable ones 502", async () => {
  const lb = await startTestLb({
    upstreams: [{ url: "http://127.0.0.1:1" }, { url: "http://127.0.0.1:2" }],
    healthCheck: { enabled: false },
    outlier: { enabled: false },
  });
  try {
    assert.equal((await get(lb.port)).status, 502);
  } finally {
    await lb.close();
  }
  const drained = await startTestLb({
    ...lbOptions(),
    admin: { listen: "127.0.0.1:0", stateFile: null },
  });
  try {
    for (const name of ["a", "b"]) drained.controller.setAdminState(name, "drain");
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await get(drained.port)).status, 503);
  } finally {
    await drained.close();
  }
});

test("two worker processes share the port and apply the same verdicts", async () => {
  const lb = await startTestLb({
    ...lbOptions(),
    workers: 2,
    admin: { listen: "127.0.0.1:0", stateFile: null },
  });
  try {
    const before = new Set<string>();
    for (let index = 0; index < 20; index++)
      before.add((await get(lb.port, `/${index}`, { headers: { connection: "close" } })).body);
    assert.deepEqual([...before].sort(), ["a", "b"]);
    const drain = await fetch(`http://127.0.0.1:${lb.adminPort}/upstreams/a/drain`, {
      method: "POST",
    });
    assert.equal(drain.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // New connections land on either worker; every one must avoid the drained upstream.
    for (let index = 0; index < 20; index++) {
      assert.equal(
        (await get(lb.port, `/${index}`, { headers: { connection: "close" } })).body,
        "b",
      );
    }
    const metrics = await (await fetch(`http://127.0.0.1:${lb.adminPort}/metrics`)).text();
    const total = /hothot_lb_requests_total\{upstream="b",code_class="2xx"\} (\d+)/.exec(metrics);
    assert.ok(total && Number(total[1]) >= 30, "metrics are summed over the workers");
    assert.equal(lb.status().workers, 2);

    // A worker killed -9 is replaced, and the new one gets the current verdicts at once.
    const [victim] = lb.processIds();
    process.kill(victim!, "SIGKILL");
    await waitFor(
      () => lb.processIds().length === 2 && !lb.processIds().includes(victim!),
      10_000,
      "a replacement worker",
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the replacement starts listening
    for (let index = 0; index < 10; index++) {
      const reply = await get(lb.port, `/${index}`, { headers: { connection: "close" } });
      assert.deepEqual([reply.status, reply.body], [200, "b"]);
    }
  } finally {
    await lb.close();
  }
});

test("clients that hang up mid-request do not count against the upstream", async () => {
  const slow = await startUpstream("slow", (request, response) => {
    request.resume();
    setTimeout(() => response.end("late"), 300);
  });
  const lb = await startTestLb({
    upstreams: [{ name: "slow", url: slow.url }],
    healthCheck: { enabled: false },
    outlier: { consecutiveConnectErrors: 1 },
  });
  try {
    for (let index = 0; index < 5; index++) {
      await new Promise<void>((resolve) => {
        const request = http.get({ host: "127.0.0.1", port: lb.port, path: "/", agent: false });
        request.on("error", () => resolve());
        setTimeout(() => {
          request.destroy();
          resolve();
        }, 50);
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const status = lb.status().upstreams[0]!;
    assert.deepEqual([status.ejected, status.ejections], [false, 0]);
    assert.equal(lb.status().inflight, 0);
    assert.equal((await get(lb.port)).body, "late");
  } finally {
    await lb.close();
    await slow.close();
  }
});

test("idle upstream connections are closed after upstreamKeepAliveMs, before the upstream's own keep-alive", async () => {
  const upstream = await startUpstream("idle");
  upstream.server.keepAliveTimeout = 5000;
  let closedAt = 0;
  upstream.server.on("connection", (socket) => socket.on("close", () => (closedAt = Date.now())));
  const lb = await startTestLb({
    upstreams: [{ name: "idle", url: upstream.url }],
    healthCheck: { enabled: false },
    timeouts: { upstreamKeepAliveMs: 300 },
  });
  try {
    assert.equal((await get(lb.port)).body, "idle");
    const answeredAt = Date.now();
    await waitFor(() => closedAt > 0, 3000, "the idle upstream connection to close");
    const idleMs = closedAt - answeredAt;
    assert.ok(idleMs >= 250 && idleMs < 2000, `closed after ${idleMs} ms idle`);
    // A later request opens a new connection and works.
    assert.equal((await get(lb.port)).body, "idle");
  } finally {
    await lb.close();
    await upstream.close();
  }
});
