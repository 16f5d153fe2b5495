import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { countBy, startTestLb } from "./helpers.ts";

interface EchoServer {
  port: number;
  close(): Promise<void>;
}

/** Answers every line with "NAME:line". */
async function startLineServer(name: string): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setEncoding("utf8");
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        socket.write(`${name}:${buffer.slice(0, newline)}\n`);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
      }
    });
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function exchange(port: number, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setEncoding("utf8");
    let received = "";
    socket.on("connect", () => socket.write(lines.map((line) => `${line}\n`).join("")));
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.split("\n").length > lines.length) socket.end();
    });
    socket.on("close", () => resolve(received.trim().split("\n")));
    socket.on("error", reject);
  });
}

test("TCP mode pipes bytes both ways, balances connections and skips a dead upstream", async () => {
  const servers = await Promise.all(["a", "b"].map((name) => startLineServer(name)));
  const lb = await startTestLb({
    mode: "tcp",
    policy: { type: "round-robin" },
    // The third upstream refuses connections: the connect is retried on a live one.
    upstreams: [
      { name: "a", url: `127.0.0.1:${servers[0]!.port}` },
      { name: "b", url: `tcp://127.0.0.1:${servers[1]!.port}` },
      { name: "dead", url: "127.0.0.1:1" },
    ],
    healthCheck: { intervalMs: 60_000 },
    outlier: { panicThresholdPercent: 0 },
  });
  try {
    const replies: string[][] = [];
    for (let index = 0; index < 9; index++)
      replies.push(await exchange(lb.port, [`hello-${index}`, "bye"]));
    for (const [index, reply] of replies.entries()) {
      assert.equal(reply.length, 2);
      const name = reply[0]!.split(":")[0]!;
      assert.deepEqual(reply, [`${name}:hello-${index}`, `${name}:bye`]);
    }
    const counts = countBy(replies.map((reply) => reply[0]!.split(":")[0]!));
    assert.deepEqual(Object.keys(counts).sort(), ["a", "b"]);
    const dead = lb.status().upstreams.find((upstream) => upstream.name === "dead")!;
    assert.ok(dead.ejected || !dead.healthy, "the dead upstream is out of rotation");
  } finally {
    await lb.close();
    await Promise.all(servers.map((server) => server.close()));
  }
});
