// Worker processes: the primary accepts every connection and deals them to the workers in strict
// turns, so that each worker carries the same share of the clients. Each front end (raw,
// node:http, TCP) must serve a connection it was handed exactly like one it accepted itself.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import { after, before, test } from "node:test";
import { startTestLb, startUpstream, type TestUpstream } from "./helpers.ts";

let upstreams: TestUpstream[] = [];

before(async () => {
  upstreams = await Promise.all(["a", "b"].map((name) => startUpstream(name)));
});

after(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

/** Inodes of the established TCP sockets whose local port is `port` (Linux /proc). */
function socketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = Number.parseInt(fields[1]!.split(":")[1]!, 16);
      if (localPort === port && fields[3] === "01") inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/** How many of `inodes` each process holds open. */
function socketsPerProcess(pids: number[], inodes: Set<string>): number[] {
  return pids.map((pid) => {
    let count = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) count++;
    }
    return count;
  });
}

/** Opens a keep-alive connection and reads one response on it; the connection stays open. */
async function openAndAsk(
  port: number,
  path: string,
): Promise<{ socket: net.Socket; reply: string }> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nhost: test\r\n\r\n`);
  let reply = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      const headEnd = reply.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(reply);
      const complete = length
        ? reply.length >= headEnd + 4 + Number(length[1])
        : reply.endsWith("\r\n0\r\n\r\n");
      if (headEnd >= 0 && complete) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
  return { socket, reply };
}

for (const frontend of ["raw", "node"] as const) {
  test(`connections are dealt to the workers in turn (${frontend} front end)`, {
    timeout: 60_000,
  }, async () => {
    const lb = await startTestLb({
      frontend,
      workers: 2,
      policy: { type: "round-robin" },
      healthCheck: { enabled: false },
      upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    });
    const sockets: net.Socket[] = [];
    try {
      // All at once: node:cluster's own round robin gives a burst of connections to whichever
      // worker acknowledged its last one first; strict turns give exactly five each.
      const opened = await Promise.all(
        Array.from({ length: 10 }, (_, index) => openAndAsk(lb.port, `/${index}`)),
      );
      for (const { socket, reply } of opened) {
        sockets.push(socket);
        assert.match(reply, /^HTTP\/1\.1 200 /);
      }
      const served = new Set(opened.map(({ reply }) => /x-upstream: (\w+)/.exec(reply)?.[1]));
      assert.deepEqual(served, new Set(["a", "b"]));
      const perWorker = socketsPerProcess(lb.processIds(), socketInodes(lb.port));
      assert.deepEqual(perWorker, [5, 5]);
      // Workers collect garbage on their own thread (see workerExecArgv).
      for (const pid of lb.processIds()) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        assert.ok(argv.includes("--single-threaded-gc"), argv.join(" "));
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await lb.close();
    }
  });
}

test("TCP mode with workers: bytes sent before the upstream connects are not lost", {
  timeout: 60_000,
}, async () => {
  const echo = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const lb = await startTestLb({
    mode: "tcp",
    workers: 2,
    healthCheck: { enabled: false },
    upstreams: [{ name: "echo", url: `127.0.0.1:${echoPort}` }],
  });
  try {
    for (let index = 0; index < 4; index++) {
      const socket = net.connect({ host: "127.0.0.1", port: lb.port });
      // Written at once, before the worker has even been handed the connection.
      socket.write(`hello ${index}\n`);
      const line = await new Promise<string>((resolve, reject) => {
        let text = "";
        socket.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if (text.endsWith("\n")) resolve(text);
        });
        socket.once("error", reject);
      });
      socket.destroy();
      assert.equal(line, `hello ${index}\n`);
    }
  } finally {
    await lb.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
});
