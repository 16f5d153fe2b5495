import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { test } from "node:test";
import { WebSocket } from "undici";
import { startTestLb } from "./helpers.ts";

/** A minimal WebSocket echo server: RFC 6455 handshake and short (< 126 byte) text frames. */
async function startEchoServer(): Promise<{
  port: number;
  seenHeaders: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}> {
  const seenHeaders: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((_request, response) => {
    response.writeHead(426);
    response.end();
  });
  server.on("upgrade", (request, socket: net.Socket) => {
    seenHeaders.push(request.headers);
    const accept = createHash("sha1")
      .update(`${request.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 6) {
        const opcode = buffered[0]! & 0x0f;
        const length = buffered[1]! & 0x7f;
        assert.ok(length < 126, "test frames are short");
        if (buffered.length < 6 + length) return;
        const mask = buffered.subarray(2, 6);
        const payload = Buffer.from(buffered.subarray(6, 6 + length));
        for (let index = 0; index < payload.length; index++) payload[index]! ^= mask[index % 4]!;
        buffered = buffered.subarray(6 + length);
        if (opcode === 0x8) {
          socket.end(Buffer.from([0x88, 0x00]));
          return;
        }
        const reply = Buffer.from(`echo:${payload.toString()}`);
        socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]));
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seenHeaders,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

test("WebSocket upgrade passes through the proxy in both directions", async () => {
  const upstream = await startEchoServer();
  const lb = await startTestLb({
    upstreams: [{ name: "ws", url: `http://127.0.0.1:${upstream.port}` }],
    healthCheck: { enabled: false },
  });
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${lb.port}/chat`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => {
        socket.send("one");
        socket.send("two");
      });
      socket.addEventListener("message", (event) => {
        messages.push(String(event.data));
        if (messages.length === 2) resolve();
      });
      socket.addEventListener("error", () => reject(new Error("websocket error")));
    });
    assert.deepEqual(messages, ["echo:one", "echo:two"]);
    assert.equal(lb.status().upstreams[0]!.name, "ws");
    const headers = upstream.seenHeaders[0]!;
    assert.equal(headers.upgrade, "websocket");
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    await new Promise<void>((resolve) => {
      socket.addEventListener("close", () => resolve());
      socket.close();
    });
    // The closed tunnel no longer counts as in flight, so shutdown does not wait for it.
    const started = Date.now();
    await lb.close();
    assert.ok(Date.now() - started < 1000);
  } finally {
    await lb.close();
    await upstream.close();
  }
});

test("a WebSocket upgrade with no reachable upstream gets 502", async () => {
  const lb = await startTestLb({
    upstreams: [{ url: "http://127.0.0.1:1" }],
    healthCheck: { enabled: false },
    retry: { maxRetries: 0 },
  });
  try {
    const reply = await new Promise<number>((resolve, reject) => {
      const request = http.request({
        host: "127.0.0.1",
        port: lb.port,
        path: "/",
        headers: {
          connection: "upgrade",
          upgrade: "websocket",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
        },
      });
      request.on("response", (response) => resolve(response.statusCode ?? 0));
      request.on("upgrade", () => reject(new Error("unexpected upgrade")));
      request.on("error", reject);
      request.end();
    });
    assert.equal(reply, 502);
  } finally {
    await lb.close();
  }
});
