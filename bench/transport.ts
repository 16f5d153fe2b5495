// Peer transport throughput and latency on loopback between two processes (as in a cluster):
// this process sends ~100-byte consensus-like messages to a transport in a child process.
//   node --import tsx bench/transport.ts [--messages N] [--seconds S] [--rounds R]
// Prints a table, the JSON, and as the last line `RESULT {...}`. Progress goes to stderr.
// The child is this same file started with `--peer <port>`.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { encodeBody } from "../src/transport/codec.ts";
import { PeerTransport } from "../src/transport/index.ts";

interface Message {
  type: "append" | "ack" | "ping" | "pong" | "done" | "stats" | "hello";
  term: number;
  index: number;
  data: Uint8Array;
}

const SECRET = "bench-cluster-secret-0123456789";
const EMPTY = new Uint8Array(0);
/** The receiver acknowledges every ACK_EVERY messages; the sender keeps a bounded window. */
const ACK_EVERY = 500;
/** Below the default maxQueueMessages (4096), so the sender never has a send refused. */
const WINDOW = 3000;

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

async function startNode(id: number, peers: [number, number][]): Promise<PeerTransport<Message>> {
  const transport = new PeerTransport<Message>({
    id,
    listen: { host: "127.0.0.1", port: 0 },
    peers: peers.map(([peerId, port]) => [peerId, { host: "127.0.0.1", port }]),
    secret: SECRET,
  });
  await transport.start();
  return transport;
}

/** The receiving side, in the child process. */
async function runPeer(parentPort: number): Promise<void> {
  const node = await startNode(2, [[1, parentPort]]);
  let received = 0;
  let outOfOrder = 0;
  node.on("peerUp", () => node.send(1, { type: "hello", term: 0, index: 0, data: EMPTY }));
  node.on("message", (from, message) => {
    switch (message.type) {
      case "append":
        if (message.index !== received) outOfOrder += 1;
        received += 1;
        if (received % ACK_EVERY === 0) {
          node.send(from, { type: "ack", term: 0, index: received, data: EMPTY });
        }
        return;
      case "ping":
        node.send(from, { ...message, type: "pong" });
        return;
      case "done":
        node.send(from, { type: "stats", term: outOfOrder, index: received, data: EMPTY });
        return;
      default:
        return;
    }
  });
  process.stdout.write(`${JSON.stringify({ port: node.listening?.port })}\n`);
  process.on("SIGTERM", () => {
    void node.close().then(() => process.exit(0));
  });
}

function waitTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function runBench(): Promise<void> {
  const totalMessages = argument("messages", 3_000_000);
  const maxSeconds = argument("seconds", 10);
  const rounds = argument("rounds", 5000);
  const data = new Uint8Array(48).fill(7);
  const frameBytes = 5 + encodeBody({ type: "append", term: 7, index: 1_234_567, data }).length;

  const node = await startNode(1, []);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--peer", String(node.listening?.port)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const childGone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const peerPort = await new Promise<number>((resolve, reject) => {
      let output = "";
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (text: string) => {
        output += text;
        if (output.includes("\n")) resolve(JSON.parse(output.split("\n")[0]!).port as number);
      });
      child.once("exit", (code) => reject(new Error(`peer process exited (${code})`)));
    });
    let acked = 0;
    let helloSeen = false;
    let onPong: (() => void) | null = null;
    let onStats: ((message: Message) => void) | null = null;
    node.on("message", (_from, message) => {
      if (message.type === "ack") acked = message.index;
      else if (message.type === "hello") helloSeen = true;
      else if (message.type === "pong") onPong?.();
      else if (message.type === "stats") onStats?.(message);
    });
    node.addPeer(2, { host: "127.0.0.1", port: peerPort });
    const connectDeadline = Date.now() + 10_000;
    while (!(node.isConnected(2) && helloSeen)) {
      if (Date.now() > connectDeadline) throw new Error("the peer process did not connect");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    // Throughput: one direction, at most WINDOW messages beyond the last acknowledgement.
    process.stderr.write(`sending up to ${totalMessages} messages for at most ${maxSeconds} s\n`);
    const roundUp = (count: number) => Math.ceil(count / ACK_EVERY) * ACK_EVERY;
    let target = roundUp(totalMessages);
    let sent = 0;
    let refused = 0;
    const started = performance.now();
    const deadline = started + maxSeconds * 1000;
    let lastProgress = started;
    while (acked < target) {
      // Out of time: stop at the next whole acknowledgement.
      if (performance.now() > deadline) target = Math.min(target, roundUp(sent));
      while (sent < target && sent - acked < WINDOW) {
        if (!node.send(2, { type: "append", term: 7, index: sent, data })) {
          refused += 1;
          break;
        }
        sent += 1;
      }
      await waitTurn();
      if (performance.now() - lastProgress > 1000) {
        lastProgress = performance.now();
        process.stderr.write(`  ${acked} messages acknowledged\n`);
      }
      if (performance.now() > deadline + 5000) throw new Error("acknowledgements stopped");
    }
    const elapsedSeconds = (performance.now() - started) / 1000;
    const stats = await new Promise<Message>((resolve) => {
      onStats = resolve;
      node.send(2, { type: "done", term: 0, index: 0, data: EMPTY });
    });

    // Latency: strict ping-pong, one message in flight.
    process.stderr.write(`ping-pong, ${rounds} rounds\n`);
    const roundTripsMs: number[] = [];
    const latencyDeadline = performance.now() + maxSeconds * 1000;
    for (let round = 0; round < rounds && performance.now() < latencyDeadline; round += 1) {
      const pong = new Promise<void>((resolve) => {
        onPong = resolve;
      });
      const sentAt = performance.now();
      node.send(2, { type: "ping", term: 0, index: round, data });
      await pong;
      roundTripsMs.push(performance.now() - sentAt);
    }
    roundTripsMs.sort((x, y) => x - y);
    const quantile = (q: number) =>
      roundTripsMs[Math.min(roundTripsMs.length - 1, Math.floor(q * roundTripsMs.length))] ?? 0;
    const peerStats = node.stats().peers.find((peer) => peer.id === 2);

    const result = {
      messages: stats.index,
      frameBytes,
      seconds: Number(elapsedSeconds.toFixed(3)),
      messagesPerSec: Math.round(stats.index / elapsedSeconds),
      megabytesPerSec: Number(((stats.index * frameBytes) / elapsedSeconds / 1e6).toFixed(1)),
      outOfOrder: stats.term,
      refused,
      droppedMessages: peerStats?.droppedMessages ?? 0,
      roundTrips: roundTripsMs.length,
      rttP50Ms: Number(quantile(0.5).toFixed(3)),
      rttP99Ms: Number(quantile(0.99).toFixed(3)),
      node: process.version,
    };
    if (result.messages !== sent)
      throw new Error(`sent ${sent} but the peer received ${result.messages}`);
    const rows: [string, string][] = [
      ["messages delivered", String(result.messages)],
      ["frame size (bytes, incl. 5-byte header)", String(result.frameBytes)],
      ["elapsed (s)", String(result.seconds)],
      ["throughput (messages/s)", String(result.messagesPerSec)],
      ["throughput (MB/s of frames)", String(result.megabytesPerSec)],
      ["out of order / dropped", `${result.outOfOrder} / ${result.droppedMessages}`],
      ["ping-pong round trips", String(result.roundTrips)],
      ["round trip p50 / p99 (ms)", `${result.rttP50Ms} / ${result.rttP99Ms}`],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    console.log("peer transport, two processes on loopback, plain TCP, default options");
    for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
    console.log(JSON.stringify(result, null, 2));
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    child.kill("SIGTERM");
    await childGone;
    await node.close();
  }
}

const peerIndex = process.argv.indexOf("--peer");
if (peerIndex >= 0) await runPeer(Number(process.argv[peerIndex + 1]));
else await runBench();
