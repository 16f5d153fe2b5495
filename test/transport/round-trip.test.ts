import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CUSTOM_BODY_MARKER, type MessageCodec } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  startPair,
  startTransport,
  type TestMessage,
  waitFor,
} from "./helpers.ts";

const open: Closable[] = [];
after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
});

test("start() on port 0 reports the bound port", async () => {
  const transport = await startTransport(7);
  open.push(transport);
  const address = addressOf(transport);
  assert.equal(address.host, "127.0.0.1");
  assert.ok(address.port > 0 && address.port < 65536, `port ${address.port}`);
  assert.deepEqual(transport.stats().listening, address);
});

test("a message with Uint8Array fields arrives intact, with Uint8Array (not Buffer) fields", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  const received: [number, TestMessage][] = [];
  b.on("message", (from, message) => received.push([from, message]));
  const data = new Uint8Array([0, 1, 2, 250, 255]);
  const message = {
    type: "append",
    term: 3,
    entries: [{ index: 7, term: 3, data }],
    empty: new Uint8Array(0),
    text: "héllo",
    ratio: 0.25,
    nothing: null,
  };
  assert.equal(a.send(2, message), true);
  await waitFor(() => received.length === 1, 2000, "the message");
  const [from, got] = received[0]!;
  assert.equal(from, 1);
  assert.deepEqual(got, message);
  const entries = got.entries as { data: unknown }[];
  assert.equal(Object.getPrototypeOf(entries[0]!.data), Uint8Array.prototype);
  assert.equal(Object.getPrototypeOf(got.empty), Uint8Array.prototype);
});

test("many messages in both directions arrive complete and in order per peer", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  const count = 5000;
  const atB: number[] = [];
  const atA: number[] = [];
  b.on("message", (_from, message) => atB.push(message.seq as number));
  a.on("message", (_from, message) => atA.push(message.seq as number));
  for (let seq = 0; seq < count; seq += 1) {
    // Interleave turns of the event loop so batching sees both tiny and big batches.
    if (seq % 997 === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(a.send(2, { seq, body: new Uint8Array(seq % 300) }), true);
    assert.equal(b.send(1, { seq }), true);
  }
  await waitFor(() => atB.length === count && atA.length === count, 10_000, "all messages");
  assert.deepEqual(atB, [...Array(count).keys()]);
  assert.deepEqual(atA, [...Array(count).keys()]);
  const stats = a.stats().peers.find((peer) => peer.id === 2)!;
  assert.equal(stats.sentMessages, count);
  assert.equal(stats.receivedMessages, count);
  assert.equal(stats.droppedMessages, 0);
  assert.equal(stats.queuedMessages, 0);
  assert.equal(stats.connected, true);
  assert.equal(stats.inboundConnected, true);
});

test("three nodes: each message reaches exactly the peer it was sent to", async () => {
  const nodes = [await startTransport(1), await startTransport(2), await startTransport(3)];
  open.push(...nodes);
  const inbox = new Map<number, [number, unknown][]>();
  for (const node of nodes) {
    inbox.set(node.id, []);
    node.on("message", (from, message) => inbox.get(node.id)!.push([from, message.to]));
    for (const other of nodes) if (other !== node) node.addPeer(other.id, addressOf(other));
  }
  await waitFor(
    () => nodes.every((node) => node.peers().every((peer) => node.isConnected(peer))),
    5000,
    "full mesh",
  );
  for (const node of nodes) for (const peer of node.peers()) node.send(peer, { to: peer });
  await waitFor(() => [...inbox.values()].every((list) => list.length === 2), 2000, "deliveries");
  for (const [id, list] of inbox) {
    assert.deepEqual(
      list.map(([, to]) => to),
      [id, id],
    );
    assert.deepEqual(
      list.map(([from]) => from).sort(),
      [1, 2, 3].filter((other) => other !== id),
    );
  }
});

test("close() is idempotent and send() afterwards throws TRANSPORT_NOT_RUNNING", async () => {
  const [a, b] = await startPair();
  await a.close();
  await a.close();
  await b.close();
  assert.throws(() => a.send(2, {}), { code: "TRANSPORT_NOT_RUNNING" });
});

test("an application codec carries the messages it handles; msgpack carries the rest", async () => {
  // A toy codec: messages {kind: "tiny", n} as [marker, n]; anything else is left to msgpack.
  const encoded: number[] = [];
  const codec: MessageCodec<TestMessage> = {
    encode(message) {
      if (message.kind !== "tiny") return undefined;
      encoded.push(message.n as number);
      return Uint8Array.from([CUSTOM_BODY_MARKER, message.n as number]);
    },
    decode(body) {
      if (body.length !== 2) throw new Error("a tiny body is two bytes");
      return { kind: "tiny", n: body[1] };
    },
  };
  const [a, b] = await startPair({ codec });
  open.push(a, b);
  const received: TestMessage[] = [];
  b.on("message", (_from, message) => received.push(message));
  a.send(2, { kind: "tiny", n: 7 });
  a.send(2, { kind: "other", text: "by msgpack" });
  await waitFor(() => received.length === 2, 2000, "both messages");
  assert.deepEqual(received, [
    { kind: "tiny", n: 7 },
    { kind: "other", text: "by msgpack" },
  ]);
  assert.deepEqual(encoded, [7], "only the tiny message went through the codec");
});

test("a codec body at a transport without that codec closes the connection as a protocol error", async () => {
  const codec: MessageCodec<TestMessage> = {
    encode: () => Uint8Array.from([CUSTOM_BODY_MARKER, 1]),
    decode: () => ({}),
  };
  const a = await startTransport(1, { codec });
  const b = await startTransport(2);
  open.push(a, b);
  a.addPeer(2, addressOf(b));
  b.addPeer(1, addressOf(a));
  await waitFor(() => a.isConnected(2) && b.isConnected(1), 5000, "pair connected");
  const received: TestMessage[] = [];
  b.on("message", (_from, message) => received.push(message));
  a.send(2, { anything: true });
  await waitFor(() => !b.isConnected(1) || !a.isConnected(2), 5000, "the connection closed");
  assert.deepEqual(received, []);
});
