import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  type Closable,
  closeServer,
  sleep,
  startPair,
  startRawAcceptor,
  startTransport,
  waitFor,
} from "./helpers.ts";

const open: Closable[] = [];
after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
});

const keepalive = { intervalMs: 40, timeoutMs: 200 };

test("a silent peer (connection open, no answers) is reported down after the keepalive timeout", async () => {
  const silent = await startRawAcceptor(2, { answerPings: false });
  const a = await startTransport(1, { keepalive });
  open.push(a, { close: () => closeServer(silent.server, silent.sockets) });
  const downs: [number, string][] = [];
  let upAt = 0;
  a.on("peerDown", (_peer, reason) => downs.push([performance.now(), reason]));
  a.on("peerUp", () => {
    upAt = performance.now();
  });
  a.addPeer(2, silent.address);
  await waitFor(() => a.isConnected(2), 2000, "connected");
  await waitFor(() => downs.length === 1, 3000, "keepalive peerDown");
  const [downAt, reason] = downs[0]!;
  assert.equal(reason, "keepalive-timeout");
  const elapsedMs = downAt - upAt;
  // Not before the timeout (200 ms); typically within a ping interval after it.
  assert.ok(elapsedMs >= 195 && elapsedMs < 3000, `down after ${elapsedMs} ms`);
});

test("a peer that answers pings stays up well past the keepalive timeout", async () => {
  const [a, b] = await startPair({ keepalive: { intervalMs: 20, timeoutMs: 400 } });
  open.push(a, b);
  const downs: string[] = [];
  a.on("peerDown", (_peer, reason) => downs.push(reason));
  await sleep(1000);
  assert.deepEqual(downs, []);
  assert.equal(a.isConnected(2), true);
});

test("keepalive is off by default: an idle silent peer stays connected", async () => {
  const silent = await startRawAcceptor(2, { answerPings: false });
  const a = await startTransport(1);
  open.push(a, { close: () => closeServer(silent.server, silent.sockets) });
  a.addPeer(2, silent.address);
  await waitFor(() => a.isConnected(2), 2000, "connected");
  await sleep(300);
  assert.equal(a.isConnected(2), true);
});
