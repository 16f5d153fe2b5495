import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import type { LoadBalancer } from "../../src/lb/index.ts";
import { get, startTestLb } from "./helpers.ts";

// A raw upstream that answers each request path with a scripted byte sequence, so that every
// response framing HTTP/1.1 allows can be checked: Content-Length, chunked with trailers,
// until-close (HTTP/1.0), interim 1xx, no body (HEAD, 204, 304) and malformed answers.
const scripts: Record<string, string> = {
  "/length": "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-kind: length\r\n\r\nhello",
  "/chunked":
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n",
  "/close": "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end",
  "/interim":
    "HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
  "/no-content": "HTTP/1.1 204 No Content\r\nx-kind: none\r\n\r\n",
  "/not-modified": 'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n',
  "/head": "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
  "/garbage": "SMTP ready\r\n\r\n",
  "/bad-length": "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
  "/length-and-chunked":
    "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "/no-headers": "HTTP/1.1 200 OK\r\n\r\n",
  /** Half the announced body, then silence (the connection stays open). */
  "/stall": "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello",
  /** A head that never ends. */
  "/no-end": "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n",
  "/listed":
    "HTTP/1.1 200 OK\r\nconnection: keep-alive, x-drop\r\nx-drop: 1\r\nkeep-alive: timeout=9\r\nx-keep: 2\r\ncontent-length: 2\r\n\r\nok",
};

let upstream: net.Server;
let upstreamPort = 0;
const receivedBodies: string[] = [];

before(async () => {
  upstream = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.toString("latin1", 0, end);
        const [, path = "/"] = head.split(" ");
        const length = /content-length: (\d+)/i.exec(head);
        let consumed = end + 4;
        let body = "";
        if (length) {
          if (buffer.length < consumed + Number(length[1])) return;
          body = buffer.toString("utf8", consumed, consumed + Number(length[1]));
          consumed += Number(length[1]);
        } else if (/transfer-encoding: chunked/i.test(head)) {
          const terminator = buffer.indexOf("0\r\n\r\n", consumed);
          if (terminator < 0) return;
          let rest = buffer.toString("latin1", consumed, terminator);
          while (rest.length > 0) {
            const newline = rest.indexOf("\r\n");
            const size = Number.parseInt(rest.slice(0, newline), 16);
            body += rest.slice(newline + 2, newline + 2 + size);
            rest = rest.slice(newline + 2 + size + 2);
          }
          consumed = terminator + 5;
        }
        buffer = buffer.subarray(consumed);
        if (path === "/body") {
          receivedBodies.push(body);
          socket.write(
            `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          );
          continue;
        }
        const script = scripts[path] ?? "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        socket.write(script);
        if (path === "/close" || path === "/garbage" || path === "/no-headers") socket.end();
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});

after(() => {
  upstream.close();
});

for (const client of ["native", "undici"] as const) {
  describe(`upstream client ${client}`, () => {
    let lb: LoadBalancer;
    before(async () => {
      lb = await startTestLb({
        upstreamClient: client,
        upstreams: [{ url: `http://127.0.0.1:${upstreamPort}` }],
        healthCheck: { enabled: false },
        outlier: { enabled: false },
        retry: { maxRetries: 0 },
      });
    });
    after(async () => {
      await lb.close();
    });

    test("Content-Length, chunked with extensions and trailers, until-close and interim 1xx bodies", async () => {
      const length = await get(lb.port, "/length");
      assert.deepEqual(
        [length.status, length.body, length.headers["x-kind"]],
        [200, "hello", "length"],
      );
      assert.equal((await get(lb.port, "/chunked")).body, "hello, world");
      assert.equal((await get(lb.port, "/close")).body, "until the end");
      const interim = await get(lb.port, "/interim");
      assert.deepEqual([interim.status, interim.body], [200, "ok"]);
      // The connection is still usable after all of these.
      assert.equal((await get(lb.port, "/length")).body, "hello");
    });

    test("responses without a body: HEAD, 204, 304", async () => {
      const head = await get(lb.port, "/head", { method: "HEAD" });
      assert.deepEqual([head.status, head.body, head.headers["content-length"]], [200, "", "1000"]);
      const none = await get(lb.port, "/no-content");
      assert.deepEqual([none.status, none.body, none.headers["x-kind"]], [204, "", "none"]);
      const cached = await get(lb.port, "/not-modified");
      assert.deepEqual([cached.status, cached.body], [304, ""]);
      assert.equal((await get(lb.port, "/length")).body, "hello");
    });

    test("request bodies: sized, chunked (unknown length) and empty", async () => {
      receivedBodies.length = 0;
      assert.equal(
        (await get(lb.port, "/body", { method: "POST", body: "sized body" })).body,
        "sized body",
      );
      const chunkedReply = await new Promise<string>((resolve, reject) => {
        const request = http.request({
          host: "127.0.0.1",
          port: lb.port,
          path: "/body",
          method: "POST",
          agent: false,
        });
        request.on("response", (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
          });
          response.on("end", () => resolve(text));
        });
        request.on("error", reject);
        request.write("part one, ");
        setTimeout(() => request.end("part two"), 20);
      });
      assert.equal(chunkedReply, "part one, part two");
      assert.equal((await get(lb.port, "/body", { method: "POST" })).body, "");
      assert.deepEqual(receivedBodies, ["sized body", "part one, part two", ""]);
    });

    test("hop-by-hop response headers are dropped, the rest copied; a head without headers", async () => {
      const listed = await get(lb.port, "/listed");
      assert.equal(listed.body, "ok");
      assert.equal(listed.headers["x-keep"], "2");
      assert.equal(listed.headers["x-drop"], undefined);
      assert.notEqual(listed.headers["keep-alive"], "timeout=9");
      // No headers and no length: the body runs until the upstream closes.
      const bare = await get(lb.port, "/no-headers");
      assert.equal(bare.status, 200);
      assert.equal(bare.body, "");
    });

    test("a malformed upstream answer becomes 502", async () => {
      assert.equal((await get(lb.port, "/garbage")).status, 502);
      assert.equal((await get(lb.port, "/bad-length")).status, 502);
      // Both framings at once is how responses are split: refused, not guessed at.
      assert.equal((await get(lb.port, "/length-and-chunked")).status, 502);
      assert.equal((await get(lb.port, "/length")).body, "hello");
    });
  });
}

/** The response: status, body bytes received, and whether the connection broke off mid-body. */
function fetchRaw(
  port: number,
  path: string,
): Promise<{ status: number; received: number; cut: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path, agent: false }, (response) => {
      let received = 0;
      response.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      response.on("end", () => resolve({ status: response.statusCode!, received, cut: false }));
      response.on("aborted", () => resolve({ status: response.statusCode!, received, cut: true }));
      response.on("error", () => resolve({ status: response.statusCode!, received, cut: true }));
    });
    request.on("error", reject);
  });
}

test("native client: a response body that stalls is cut after bodyIdleMs, a head that never ends gets 504 after responseHeadersMs, and the connections' deadlines leave the pool working", async () => {
  const lb = await startTestLb({
    upstreams: [{ url: `http://127.0.0.1:${upstreamPort}` }],
    healthCheck: { enabled: false },
    outlier: { enabled: false },
    retry: { maxRetries: 0 },
    timeouts: { bodyIdleMs: 300, responseHeadersMs: 400, upstreamKeepAliveMs: 200 },
  });
  try {
    let started = Date.now();
    const stalled = await fetchRaw(lb.port, "/stall");
    let elapsedMs = Date.now() - started;
    assert.deepEqual([stalled.status, stalled.received, stalled.cut], [200, 5, true]);
    assert.ok(elapsedMs >= 280 && elapsedMs < 3000, `cut after ${elapsedMs} ms`);
    started = Date.now();
    const headless = await get(lb.port, "/no-end");
    elapsedMs = Date.now() - started;
    assert.equal(headless.status, 504);
    assert.ok(elapsedMs >= 380 && elapsedMs < 3000, `504 after ${elapsedMs} ms`);
    // Requests that finish in time are not touched by the sweep, before and after idle periods
    // longer than the keep-alive (which close the pooled connections in between).
    for (let round = 0; round < 3; round++) {
      assert.equal((await get(lb.port, "/length")).body, "hello");
      await new Promise((resolve) => setTimeout(resolve, 350));
    }
  } finally {
    await lb.close();
  }
});
