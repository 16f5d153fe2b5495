import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { Backoff } from "../../src/transport/backoff.ts";
import { createSeededRandom } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  LOOPBACK,
  messageFrame,
  rawAuthenticatedDialer,
  sleep,
  socketClosed,
  startPair,
  startTransport,
  type TestMessage,
  waitFor,
} from "./helpers.ts";

const open: Closable[] = [];
after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
});

test("after the peer restarts on the same port, the link comes back and messages flow", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  const events: string[] = [];
  a.on("peerDown", (peer, reason) => events.push(`down ${peer} ${reason}`));
  a.on("peerUp", (peer) => events.push(`up ${peer}`));
  const { port } = addressOf(b);

  const closedAt = performance.now();
  await b.close();
  await waitFor(() => events.length === 1, 2000, "peerDown");
  assert.deepEqual(events, ["down 2 connection-lost"]);
  const downAfterMs = performance.now() - closedAt;
  assert.ok(downAfterMs < 2000, `peerDown ${downAfterMs} ms after the peer closed`);
  // Sent while the peer is away: queued and delivered after the restart.
  assert.equal(a.send(2, { while: "down" }), true);

  const restarted = await startTransport(2, { listen: { host: LOOPBACK, port } });
  open.push(restarted);
  const inbox: TestMessage[] = [];
  restarted.on("message", (_from, message) => inbox.push(message));
  await waitFor(() => a.isConnected(2), 3000, "reconnect");
  assert.deepEqual(events, ["down 2 connection-lost", "up 2"]);
  a.send(2, { after: "restart" });
  await waitFor(() => inbox.length === 2, 2000, "messages after the restart");
  assert.deepEqual(inbox, [{ while: "down" }, { after: "restart" }]);
  const stats = a.stats().peers.find((peer) => peer.id === 2)!;
  assert.equal(stats.connects, 2);
  assert.equal(stats.disconnects, 1);
});

test("addPeer with a new address moves the link to it", async () => {
  const [a, b] = await startPair();
  const c = await startTransport(2); // the same node id, moved to another port
  open.push(a, b, c);
  const inbox: TestMessage[] = [];
  c.on("message", (_from, message) => inbox.push(message));
  a.addPeer(2, addressOf(c));
  await waitFor(() => c.stats().peers.some((peer) => peer.inboundConnected), 3000, "moved");
  await waitFor(() => a.isConnected(2), 3000, "connected again");
  a.send(2, { to: "new address" });
  await waitFor(() => inbox.length === 1, 2000, "delivery at the new address");
});

test("a newer authenticated connection from the same peer replaces the older one", async () => {
  const node = await startTransport(2);
  open.push(node);
  const inbox: TestMessage[] = [];
  node.on("message", (_from, message) => inbox.push(message));
  const first = await rawAuthenticatedDialer(addressOf(node), 7, 2);
  const second = await rawAuthenticatedDialer(addressOf(node), 7, 2);
  await socketClosed(first.socket);
  assert.equal(node.stats().inboundConnections, 1);
  second.socket.write(messageFrame({ via: "second" }));
  await waitFor(() => inbox.length === 1, 2000, "delivery on the newer connection");
  second.socket.destroy();
});

test("removePeer of a connected peer fires peerDown(local-close) and stops redialling", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  const events: string[] = [];
  a.on("peerDown", (peer, reason) => events.push(`down ${peer} ${reason}`));
  a.on("peerUp", (peer) => events.push(`up ${peer}`));
  a.removePeer(2);
  assert.deepEqual(events, ["down 2 local-close"]);
  await waitFor(() => !b.stats().peers.some((peer) => peer.inboundConnected), 2000, "closed");
  await sleep(300); // several reconnect delays (max 100 ms in these tests)
  assert.equal(b.stats().inboundConnections, 0, "no redial after removePeer");
  assert.deepEqual(events, ["down 2 local-close"]);
});

test("redials follow the seeded full-jitter backoff", async () => {
  // A server that accepts and hangs up at once: every attempt fails, so the backoff grows.
  const acceptedAt: number[] = [];
  const server = net.createServer((socket) => {
    acceptedAt.push(performance.now());
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as net.AddressInfo;
  open.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  const reconnect = { minDelayMs: 40, maxDelayMs: 160 };
  // Seed 4872 draws only values above 0.75 for its first five delays, so an ignored `random`
  // option (Math.random) would almost surely produce a shorter gap somewhere.
  const a = await startTransport(1, { reconnect, random: createSeededRandom(4872) });
  open.push(a);
  a.addPeer(2, { host: LOOPBACK, port });
  await waitFor(() => acceptedAt.length >= 6, 5000, "six attempts");
  a.removePeer(2);
  // The same seed replays the same delays.
  const expected = new Backoff(reconnect, createSeededRandom(4872));
  for (let attempt = 1; attempt < 6; attempt += 1) {
    const gapMs = acceptedAt[attempt]! - acceptedAt[attempt - 1]!;
    const delayMs = expected.nextDelayMs();
    // Timers never fire early (beyond rounding); on a busy machine they may fire late.
    assert.ok(gapMs >= delayMs - 3, `attempt ${attempt}: gap ${gapMs} ms < delay ${delayMs} ms`);
  }
});

test("a peer that comes back and dials in is redialled at once, not after the reconnect delay", async () => {
  // Reconnect delays of about 5 s: without the redial on the peer's inbound connection the
  // link would stay down for seconds after the restart.
  const reconnect = { minDelayMs: 5000, maxDelayMs: 5000 };
  const random = () => 0.99;
  const a = await startTransport(1, { reconnect, random });
  const b = await startTransport(2, { reconnect, random });
  open.push(a, b);
  a.addPeer(2, addressOf(b));
  b.addPeer(1, addressOf(a));
  await waitFor(() => a.isConnected(2) && b.isConnected(1), 5000, "pair connected");
  const { port } = addressOf(b);
  await b.close();
  await waitFor(() => !a.isConnected(2), 2000, "peerDown");
  // a's link now waits about 5 s before its next attempt.
  await sleep(50);

  const restarted = await startTransport(2, {
    listen: { host: LOOPBACK, port },
    reconnect,
    random,
  });
  open.push(restarted);
  const startedAt = performance.now();
  restarted.addPeer(1, addressOf(a));
  const inbox: TestMessage[] = [];
  restarted.on("message", (_from, message) => inbox.push(message));
  await waitFor(() => a.isConnected(2), 3000, "a's link back up");
  const upAfterMs = performance.now() - startedAt;
  assert.ok(upAfterMs < 2000, `a's link came back ${upAfterMs.toFixed(0)} ms after the peer`);
  a.send(2, { after: "restart" });
  await waitFor(() => inbox.length === 1, 2000, "delivery after the restart");
});
