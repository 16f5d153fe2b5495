import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { PeerStats, PeerTransport } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  closeServer,
  freePort,
  LOOPBACK,
  sleep,
  startRawAcceptor,
  startTransport,
  type TestMessage,
  waitFor,
} from "./helpers.ts";

const open: Closable[] = [];
after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
});

function peerStats(transport: PeerTransport<TestMessage>, id: number): PeerStats {
  const stats = transport.stats().peers.find((peer) => peer.id === id);
  assert.ok(stats !== undefined, `no stats for peer ${id}`);
  return stats;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

const limits = { maxQueueMessages: 50, maxQueueBytes: 4096, maxFrameBytes: 1024 };

test("while a peer is down the queue fills to its limits, then drops and counts", async () => {
  const port = await freePort();
  const a = await startTransport(1, limits);
  open.push(a);
  a.addPeer(2, { host: LOOPBACK, port }); // nobody listens there yet
  const accepted: number[] = [];
  for (let seq = 0; seq < 500; seq += 1) {
    if (a.send(2, { seq, pad: "x".repeat(90) })) accepted.push(seq);
    const stats = peerStats(a, 2);
    assert.ok(stats.queuedMessages <= limits.maxQueueMessages, `${stats.queuedMessages} queued`);
    assert.ok(stats.queuedBytes <= limits.maxQueueBytes, `${stats.queuedBytes} bytes queued`);
  }
  const stats = peerStats(a, 2);
  assert.equal(stats.connected, false);
  // ~100-byte frames: the byte limit (4096) binds before the count limit (50).
  assert.ok(accepted.length > 0 && accepted.length < 50, `${accepted.length} accepted`);
  assert.deepEqual(
    accepted,
    [...Array(accepted.length).keys()],
    "the oldest messages are kept, new ones dropped",
  );
  assert.equal(stats.droppedMessages, 500 - accepted.length);
  assert.equal(stats.queuedMessages, accepted.length);

  // When the peer comes up, what was queued is delivered, in order.
  const b = await startTransport(2, { listen: { host: LOOPBACK, port } });
  open.push(b);
  const inbox: number[] = [];
  b.on("message", (_from, message) => inbox.push(message.seq as number));
  await waitFor(() => inbox.length === accepted.length, 5000, "the queued messages");
  assert.deepEqual(inbox, accepted);
  assert.equal(peerStats(a, 2).queuedMessages, 0);
});

test("a peer that stops reading: the socket is not overfilled and the queue stays bounded", async () => {
  const peer = await startRawAcceptor(2, { pauseAfterAuth: true });
  const a = await startTransport(1, {
    maxQueueMessages: 1000,
    maxQueueBytes: 256 * 1024,
    maxFrameBytes: 64 * 1024,
    maxBatchBytes: 64 * 1024,
  });
  open.push(a, { close: () => closeServer(peer.server, peer.sockets) });
  a.addPeer(2, peer.address);
  await waitFor(() => a.isConnected(2), 2000, "connected");
  const payload = new Uint8Array(16 * 1024);
  const accepted: number[] = [];
  let seq = 0;
  const sendUntilRefused = () => {
    for (let index = 0; index < 100; index += 1, seq += 1) {
      if (a.send(2, { seq, payload })) accepted.push(seq);
      else return;
    }
  };
  // Fill the queue again and again until the kernel's socket buffers are full too and the
  // transport stops handing bytes to the socket (bounded: a few MB on loopback).
  // "Stuck" = three rounds in a row without a byte handed to the socket. Each round also lets
  // the event loop poll for I/O, so a pending 'drain' is seen even on a starved machine.
  let previousSentBytes = -1;
  let stableRounds = 0;
  for (let round = 0; round < 500 && stableRounds < 3; round += 1) {
    sendUntilRefused();
    await sleep(20);
    await turns(3);
    const sentBytes = peerStats(a, 2).sentBytes;
    stableRounds = sentBytes === previousSentBytes ? stableRounds + 1 : 0;
    previousSentBytes = sentBytes;
  }
  assert.ok(peerStats(a, 2).droppedMessages > 0, "sends were eventually refused");
  const sentBefore = peerStats(a, 2).sentBytes;
  assert.equal(sentBefore, previousSentBytes, "the socket backed up within the rounds");
  // More sends while the peer is stuck: refused, and nothing more is pushed into the socket.
  let refused = 0;
  for (let index = 0; index < 200; index += 1, seq += 1) {
    if (a.send(2, { seq, payload })) accepted.push(seq);
    else refused += 1;
  }
  assert.equal(refused, 200);
  await sleep(50);
  await turns(3);
  const stuck = peerStats(a, 2);
  assert.equal(stuck.sentBytes, sentBefore, "no writes while the socket is backed up");
  assert.ok(stuck.queuedBytes <= 256 * 1024 && stuck.queuedMessages <= 1000);
  assert.ok(stuck.sentBytes < 64 * 1024 * 1024, `${stuck.sentBytes} bytes handed to the socket`);

  // The peer reads again: everything accepted arrives, in order.
  for (const socket of peer.sockets) socket.resume();
  await waitFor(() => peer.payloads.length === accepted.length, 10_000, "the backlog");
  assert.deepEqual(
    peer.payloads.map((message) => (message as TestMessage).seq),
    accepted,
  );
});

test("removePeer discards the queue, counts it as dropped, and send then throws", async () => {
  const port = await freePort();
  const a = await startTransport(1, limits);
  open.push(a);
  a.addPeer(2, { host: LOOPBACK, port });
  for (let seq = 0; seq < 10; seq += 1) a.send(2, { seq });
  a.removePeer(2);
  assert.deepEqual(a.peers(), []);
  assert.throws(() => a.send(2, {}), { code: "TRANSPORT_UNKNOWN_PEER" });
  // Added again: a fresh link with an empty queue.
  a.addPeer(2, { host: LOOPBACK, port });
  assert.equal(peerStats(a, 2).queuedMessages, 0);
  assert.ok(addressOf(a).port > 0);
});
