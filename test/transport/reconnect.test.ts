import assert from "node:assert/strict";
import { after, test } from "node:test";
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
