import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  addressOf,
  type Closable,
  LOOPBACK,
  SECRET,
  startTransport,
  type TestMessage,
  waitFor,
  withTimeout,
} from "./helpers.ts";

const fixture = fileURLToPath(new URL("./fixtures/peer-process.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

const open: Closable[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await Promise.all(open.map((transport) => transport.close()));
});

async function spawnPeer(id: number, parentId: number, parentPort: number) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fixture, String(id), SECRET, `${parentId}:${parentPort}`],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  let output = "";
  child.stdout?.setEncoding("utf8");
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.stdout?.on("data", (text: string) => {
        output += text;
        const line = output.split("\n")[0];
        if (output.includes("\n") && line !== undefined) resolve(JSON.parse(line).port as number);
      });
      child.once("exit", (code) => reject(new Error(`peer process exited early (${code})`)));
    }),
    20_000,
    "the peer process to listen",
  );
  return { child, port };
}

test("peerDown fires within milliseconds when the peer process is killed with SIGKILL", async (t) => {
  const node = await startTransport(1);
  open.push(node);
  const inbox: TestMessage[] = [];
  node.on("message", (_from, message) => inbox.push(message));
  const delaysMs: number[] = [];
  const lagsAfterExitMs: number[] = [];
  for (let trial = 0; trial < 3; trial += 1) {
    const peerId = 10 + trial;
    const { child, port } = await spawnPeer(peerId, 1, addressOf(node).port);
    node.addPeer(peerId, { host: LOOPBACK, port });
    await waitFor(() => node.isConnected(peerId), 10_000, `connected to peer process ${peerId}`);
    // Round trip through the child proves both directions are up before the kill.
    node.send(peerId, { trial });
    await waitFor(() => inbox.length === trial + 1, 10_000, "the echo from the peer process");

    const down = new Promise<[number, string]>((resolve) => {
      const listener = (peer: number, reason: string) => {
        if (peer !== peerId) return;
        node.off("peerDown", listener);
        resolve([performance.now(), reason]);
      };
      node.on("peerDown", listener);
    });
    let exitedAt = 0;
    const exited = once(child, "exit").then(() => {
      exitedAt = performance.now();
    });
    const killedAt = performance.now();
    assert.equal(child.kill("SIGKILL"), true);
    const [downAt, reason] = await withTimeout(down, 10_000, "peerDown");
    await withTimeout(exited, 10_000, "the child's exit");
    assert.equal(reason, "connection-lost");
    delaysMs.push(downAt - killedAt);
    // The kernel closes a dying process's sockets before it reports the exit to the parent, so
    // peerDown must not trail the child's exit event: the transport adds no waiting of its own.
    lagsAfterExitMs.push(downAt - exitedAt);
    node.removePeer(peerId);
  }
  const format = (values: number[]) => values.map((ms) => ms.toFixed(1)).join(", ");
  t.diagnostic(`peerDown after SIGKILL: ${format(delaysMs)} ms`);
  t.diagnostic(`peerDown relative to the child's exit event: ${format(lagsAfterExitMs)} ms`);
  // Typically a few ms. The bounds are generous because a loaded 2-core CI machine can take a
  // while to run the killed process's teardown and to schedule this process.
  for (const delayMs of delaysMs) assert.ok(delayMs < 1000, `peerDown took ${delayMs} ms`);
  for (const lagMs of lagsAfterExitMs) assert.ok(lagMs < 100, `peerDown ${lagMs} ms after exit`);
});
