import assert from "node:assert/strict";
import { after, test } from "node:test";
import { TransportError } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  RecordingLogger,
  startPair,
  startTransport,
  type TestMessage,
  waitFor,
} from "./helpers.ts";

const open: Closable[] = [];
after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
});

test("an oversized outbound message throws TRANSPORT_FRAME_TOO_LARGE and queues nothing", async () => {
  const [a, b] = await startPair({ maxFrameBytes: 4096 });
  open.push(a, b);
  const inbox: TestMessage[] = [];
  b.on("message", (_from, message) => inbox.push(message));
  assert.throws(
    () => a.send(2, { data: new Uint8Array(5000) }),
    (error: unknown) =>
      error instanceof TransportError &&
      error.code === "TRANSPORT_FRAME_TOO_LARGE" &&
      /maxFrameBytes 4096/.test(error.message),
  );
  const stats = a.stats().peers.find((peer) => peer.id === 2)!;
  assert.equal(stats.queuedMessages, 0);
  assert.equal(stats.droppedMessages, 0);
  // The largest message that fits still goes through.
  assert.equal(a.send(2, { data: new Uint8Array(4000) }), true);
  await waitFor(() => inbox.length === 1, 2000, "the message that fits");
});

test("a message that msgpack cannot encode throws TRANSPORT_ENCODE_FAILED", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  assert.throws(() => a.send(2, { tag: Symbol("x") }), { code: "TRANSPORT_ENCODE_FAILED" });
  assert.throws(() => a.send(99, {}), { code: "TRANSPORT_UNKNOWN_PEER" });
});

test("an oversized inbound frame closes that connection, is logged, and the link recovers", async () => {
  const receiverLog = new RecordingLogger();
  // The sender allows bigger frames than the receiver: a misconfigured or hostile peer.
  const sender = await startTransport(1, { maxFrameBytes: 1024 * 1024 });
  const receiver = await startTransport(2, { maxFrameBytes: 64 * 1024, logger: receiverLog });
  open.push(sender, receiver);
  const inbox: TestMessage[] = [];
  receiver.on("message", (_from, message) => inbox.push(message));
  const downs: string[] = [];
  sender.on("peerDown", (_peer, reason) => downs.push(reason));
  sender.addPeer(2, addressOf(receiver));
  await waitFor(() => sender.isConnected(2), 2000, "connected");

  assert.equal(sender.send(2, { big: new Uint8Array(100 * 1024) }), true);
  await waitFor(() => receiver.stats().refused["frame-too-large"] === 1, 2000, "the refusal");
  const [record] = receiverLog.withReason("frame-too-large");
  assert.equal(record?.level, "warn");
  assert.equal(record?.fields.peer, 1);
  await waitFor(() => downs.length === 1, 2000, "peerDown at the sender");
  assert.deepEqual(inbox, []);

  // The sender redials and small messages flow again.
  await waitFor(() => sender.isConnected(2), 2000, "reconnected");
  sender.send(2, { small: 1 });
  await waitFor(() => inbox.length === 1, 2000, "a small message");
  assert.deepEqual(inbox, [{ small: 1 }]);
});
