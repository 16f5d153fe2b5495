import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ApiServer, createHttpApi } from "../../src/node/api-server.ts";
import { NodeError } from "../../src/node/errors.ts";
import { FakeMember } from "./fake-member.ts";

// Every test runs against the fast front (single-key requests parsed from the socket) and
// against node:http alone: both must answer alike.
for (const fastFront of [true, false]) {
  describe(fastFront ? "with the fast front" : "node:http only", () => {
    const member = new FakeMember();
    let server: ApiServer;
    let base: string;
    let tokenServer: ApiServer;
    let tokenBase: string;

    async function listen(instance: ApiServer): Promise<string> {
      await instance.listen(0, "127.0.0.1");
      return `http://127.0.0.1:${instance.address().port}`;
    }

    before(async () => {
      server = createHttpApi({
        fastFront,
        member,
        maxKeyBytes: 16,
        maxValueBytes: 64,
      });
      base = await listen(server);
      tokenServer = createHttpApi({
        fastFront,
        member,
        maxKeyBytes: 16,
        maxValueBytes: 64,
        token: "s3cret-token-0123456",
      });
      tokenBase = await listen(tokenServer);
    });
    after(() => {
      server.close();
      tokenServer.close();
    });

    async function call(path: string, init: RequestInit = {}, root = base) {
      const response = await fetch(`${root}${path}`, init);
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        body: text ? JSON.parse(text) : null,
      };
    }

    test("put then get returns the value with revisions and the applied index", async () => {
      const put = await call("/v1/kv/greeting", { method: "PUT", body: "hello" });
      assert.equal(put.status, 200);
      assert.equal(put.body.committed, true);
      const get = await call("/v1/kv/greeting");
      assert.equal(get.status, 200);
      assert.equal(get.body.value, "hello");
      assert.equal(get.body.version, 1);
      assert.equal(get.headers.get("x-hothot-applied-index"), "42");
      assert.equal(get.headers.get("x-hothot-leader"), "http://127.0.0.1:1");
      assert.equal(server.counters.fastRequests, fastFront ? 2 : 0);
    });

    test("binary values round-trip through base64", async () => {
      const bytes = Buffer.from([0, 1, 254, 255]);
      await call("/v1/kv/bin?encoding=base64", { method: "PUT", body: bytes.toString("base64") });
      const get = await call("/v1/kv/bin?encoding=base64");
      assert.deepEqual(Buffer.from(get.body.value, "base64"), bytes);
      const bad = await call("/v1/kv/bin?encoding=base64", { method: "PUT", body: "not*base64" });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, "INVALID_BASE64");
    });

    test("a missing key is 404 KEY_NOT_FOUND", async () => {
      const get = await call("/v1/kv/nope");
      assert.equal(get.status, 404);
      assert.equal(get.body.error.code, "KEY_NOT_FOUND");
    });

    test("keys and values over the limits get 413 with the limit's name", async () => {
      const longKey = await call(`/v1/kv/${"k".repeat(17)}`, { method: "PUT", body: "v" });
      assert.equal(longKey.status, 413);
      assert.equal(longKey.body.error.code, "KEY_TOO_LARGE");
      assert.match(longKey.body.error.message, /limits\.maxKeyBytes/);
      const bigValue = await call("/v1/kv/k", { method: "PUT", body: "v".repeat(65) });
      assert.equal(bigValue.status, 413);
      assert.equal(bigValue.body.error.code, "VALUE_TOO_LARGE");
    });

    test("listing pages through a prefix", async () => {
      for (const key of ["p/a", "p/b", "p/c", "q/a"])
        await call(`/v1/kv/${encodeURIComponent(key)}`, { method: "PUT", body: key });
      const first = await call("/v1/kv?prefix=p/&limit=2");
      assert.deepEqual(
        first.body.items.map((item: { key: string }) => item.key),
        ["p/a", "p/b"],
      );
      assert.equal(first.body.more, true);
      const second = await call(`/v1/kv?prefix=p/&limit=2&after=${first.body.next}`);
      assert.deepEqual(
        second.body.items.map((item: { key: string }) => item.key),
        ["p/c"],
      );
      assert.equal(second.body.more, false);
      const badLimit = await call("/v1/kv?limit=0");
      assert.equal(badLimit.body.error.code, "INVALID_REQUEST");
    });

    test("malformed JSON and invalid transactions name what to fix", async () => {
      const malformed = await call("/v1/txn", { method: "POST", body: "{nope" });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, "INVALID_JSON");
      const invalid = await call("/v1/txn", {
        method: "POST",
        body: JSON.stringify({ compare: [{ key: "a", target: "colour", op: "=", value: 1 }] }),
      });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error.code, "INVALID_REQUEST");
      assert.match(invalid.body.error.message, /compare\.0\.target/);
    });

    test("unknown routes and wrong methods get 404 and 405 with Allow", async () => {
      const unknown = await call("/v2/things");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "ROUTE_NOT_FOUND");
      const wrong = await call("/v1/status", { method: "DELETE" });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get("allow"), "GET");
    });

    test("request metrics label routes by template, never by the raw path", async () => {
      const seen: string[] = [];
      const counted = createHttpApi({
        fastFront,
        member,
        maxKeyBytes: 16,
        maxValueBytes: 64,
        onRequest: (route, method, status) => seen.push(`${method} ${route} ${status}`),
      });
      const root = await listen(counted);
      try {
        await call("/v2/things-1", {}, root);
        await call("/v2/things-2", {}, root);
        await call("/v1/kv/some-key", {}, root);
        await call("/v1/status", {}, root);
        await call("/v1/kv/a/../b", {}, root);
      } finally {
        counted.close();
      }
      assert.deepEqual(seen.slice().sort(), [
        "GET /v1/kv/{key} 404",
        "GET /v1/kv/{key} 404",
        "GET /v1/status 200",
        "GET unmatched 404",
        "GET unmatched 404",
      ]);
    });

    test("NO_LEADER is 503 and retryable; OVERLOADED carries Retry-After", async () => {
      member.failWith = new NodeError("NO_LEADER", "no leader yet; retry");
      const noLeader = await call("/v1/kv/x", { method: "PUT", body: "1" });
      assert.equal(noLeader.status, 503);
      assert.equal(noLeader.body.error.retryable, true);
      member.failWith = new NodeError("OVERLOADED", "too many pending proposals", {
        retryAfterSeconds: 1,
      });
      const overloaded = await call("/v1/kv/x", { method: "PUT", body: "1" });
      assert.equal(overloaded.status, 503);
      assert.equal(overloaded.headers.get("retry-after"), "1");
      member.failWith = undefined;
    });

    test("health endpoints follow the Patroni convention", async () => {
      member.role = "leader";
      assert.equal((await call("/v1/health")).status, 200);
      assert.equal((await call("/v1/health/leader")).status, 200);
      assert.equal((await call("/v1/health/replica")).status, 503);
      member.role = "follower";
      assert.equal((await call("/v1/health/leader")).status, 503);
      assert.equal((await call("/v1/health/replica?maxLag=5")).status, 200);
      assert.equal((await call("/v1/health/replica?maxLag=1")).status, 503);
      member.leaderId = null;
      assert.equal((await call("/v1/health")).status, 503);
      member.leaderId = 1;
      member.role = "leader";
    });

    test("a token-protected API refuses requests without the token, but not health checks", async () => {
      const refused = await call("/v1/status", {}, tokenBase);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.code, "UNAUTHORIZED");
      const allowed = await call(
        "/v1/status",
        { headers: { authorization: "Bearer s3cret-token-0123456" } },
        tokenBase,
      );
      assert.equal(allowed.status, 200);
      assert.equal((await call("/v1/health", {}, tokenBase)).status, 200);
    });

    test("the event stream sends the current status, then every change", async () => {
      const controller = new AbortController();
      const response = await fetch(`${base}/v1/events`, { signal: controller.signal });
      assert.equal(response.headers.get("content-type"), "text/event-stream");
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      const readEvents = async (count: number) => {
        while ((text.match(/\n\n/g) ?? []).length < count) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value);
        }
      };
      await readEvents(1);
      member.emit({ id: 1, role: "follower", leaderId: 2, term: 4, members: [] });
      await readEvents(2);
      controller.abort();
      const events = text
        .split("\n\n")
        .filter((block) => block.startsWith("event: status"))
        .map((block) => JSON.parse(block.split("data: ")[1]!));
      assert.equal(events[0].role, "leader");
      assert.deepEqual(events[1], { id: 1, role: "follower", leaderId: 2, term: 4, members: [] });
    });
  });
}
