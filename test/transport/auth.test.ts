import assert from "node:assert/strict";
import { after, test } from "node:test";
import { encodeFrame, FrameKind } from "../../src/transport/frame.ts";
import {
  computeProof,
  createNonce,
  encodeHello,
  encodeProof,
  PROTOCOL_VERSION,
  parseChallenge,
} from "../../src/transport/handshake.ts";
import type { PeerTransport } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  connectRaw,
  FrameReader,
  messageFrame,
  RecordingLogger,
  rawAuthenticatedDialer,
  SECRET,
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

async function acceptorWithLog(
  overrides = {},
): Promise<{ node: PeerTransport<TestMessage>; log: RecordingLogger; inbox: unknown[] }> {
  const log = new RecordingLogger();
  const node = await startTransport(2, { logger: log, ...overrides });
  open.push(node);
  const inbox: unknown[] = [];
  node.on("message", (_from, message) => inbox.push(message));
  return { node, log, inbox };
}

/** Runs hello -> challenge by hand; returns what a dialer needs to finish (or fake) the proof. */
async function helloAndChallenge(node: PeerTransport<TestMessage>, dialerId: number) {
  const socket = await connectRaw(addressOf(node));
  const reader = new FrameReader(socket);
  const nonce = createNonce();
  socket.write(
    encodeFrame(FrameKind.hello, encodeHello({ version: PROTOCOL_VERSION, id: dialerId, nonce })),
  );
  const frame = await reader.next();
  assert.equal(frame.kind, FrameKind.challenge);
  const challenge = parseChallenge(frame.body);
  assert.ok(challenge !== null);
  return { socket, reader, nonce, challenge };
}

test("two nodes with different secrets refuse each other on both sides, and log it", async () => {
  const logA = new RecordingLogger();
  const logB = new RecordingLogger();
  const a = await startTransport(1, { logger: logA });
  const b = await startTransport(2, { logger: logB, secret: "another-secret-of-the-cluster" });
  open.push(a, b);
  const events: string[] = [];
  for (const node of [a, b]) {
    node.on("peerUp", (peer) => events.push(`up ${peer}`));
    node.on("message", () => events.push("message"));
  }
  a.addPeer(2, addressOf(b));
  b.addPeer(1, addressOf(a));
  a.send(2, { hello: 1 });
  b.send(1, { hello: 2 });
  await waitFor(
    () => a.stats().refused["auth-failed"] >= 2 && b.stats().refused["auth-failed"] >= 2,
    5000,
    "refusals on both sides (and at least one retry)",
  );
  assert.deepEqual(events, []);
  assert.equal(a.isConnected(2), false);
  assert.equal(b.isConnected(1), false);
  for (const log of [logA, logB]) {
    const refusals = log.withReason("auth-failed");
    assert.ok(refusals.length >= 2);
    assert.ok(refusals.every((record) => record.level === "warn"));
  }
  // Nothing was delivered, and the queued hello is still waiting (bounded) for a real peer.
  assert.equal(a.stats().peers.find((peer) => peer.id === 2)?.queuedMessages, 1);
});

test("a dialer with a wrong proof is refused before any payload, logged and counted", async () => {
  const { node, log, inbox } = await acceptorWithLog();
  const { socket, nonce, challenge } = await helloAndChallenge(node, 5);
  const wrongKey = new Uint8Array(Buffer.from("not-the-cluster-secret!!"));
  const proof = computeProof(wrongKey, "dialer", nonce, challenge.nonce, 5, 2);
  // The payload is pipelined right behind the bad proof: it must never be delivered.
  socket.write(
    Buffer.concat([
      encodeFrame(FrameKind.proof, encodeProof({ proof })),
      messageFrame({ evil: true }),
    ]),
  );
  await socketClosed(socket);
  await sleep(20);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().refused["auth-failed"], 1);
  const [record] = log.withReason("auth-failed");
  assert.equal(record?.level, "warn");
  assert.equal(record?.fields.peer, 5);
  assert.match(String(record?.fields.remote), /^127\.0\.0\.1:\d+$/);
});

test("a dialer with the right secret is accepted and its messages are delivered", async () => {
  const { node, inbox } = await acceptorWithLog();
  const { socket } = await rawAuthenticatedDialer(addressOf(node), 9, 2);
  socket.write(messageFrame({ n: 1 }));
  socket.write(messageFrame({ n: 2 }));
  await waitFor(() => inbox.length === 2, 2000, "two messages");
  assert.deepEqual(inbox, [{ n: 1 }, { n: 2 }]);
  const stats = node.stats();
  assert.equal(stats.peers.find((peer) => peer.id === 9)?.receivedMessages, 2);
  assert.equal(stats.peers.find((peer) => peer.id === 9)?.inboundConnected, true);
  socket.destroy();
});

test("a replayed proof from an earlier connection is refused", async () => {
  const { node, inbox } = await acceptorWithLog();
  const key = new Uint8Array(Buffer.from(SECRET));
  const first = await helloAndChallenge(node, 5);
  const recorded = computeProof(key, "dialer", first.nonce, first.challenge.nonce, 5, 2);
  first.socket.destroy();
  // Same dialer nonce again; the acceptor's fresh nonce makes the old proof worthless.
  const second = await connectRaw(addressOf(node));
  const reader = new FrameReader(second);
  second.write(
    encodeFrame(
      FrameKind.hello,
      encodeHello({ version: PROTOCOL_VERSION, id: 5, nonce: first.nonce }),
    ),
  );
  await reader.next();
  second.write(encodeFrame(FrameKind.proof, encodeProof({ proof: recorded })));
  second.write(messageFrame({ replayed: true }));
  await socketClosed(second);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().refused["auth-failed"], 1);
});

test("reflecting the acceptor's own proof back is refused", async () => {
  const { node, inbox } = await acceptorWithLog();
  const { socket, challenge } = await helloAndChallenge(node, 5);
  socket.write(encodeFrame(FrameKind.proof, encodeProof({ proof: challenge.proof })));
  socket.write(messageFrame({ reflected: true }));
  await socketClosed(socket);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().refused["auth-failed"], 1);
});

test("a payload frame before authentication closes the connection (protocol error)", async () => {
  const { node, log, inbox } = await acceptorWithLog();
  const socket = await connectRaw(addressOf(node));
  socket.write(messageFrame({ early: true }));
  await socketClosed(socket);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().refused["protocol-error"], 1);
  assert.equal(log.withReason("protocol-error")[0]?.level, "warn");
  // And after a valid hello, anything but a proof is refused too.
  const second = await helloAndChallenge(node, 5);
  second.socket.write(messageFrame({ early: true }));
  await socketClosed(second.socket);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().refused["protocol-error"], 2);
});

test("garbage bytes are refused without harm, and the node keeps working", async () => {
  const { node, inbox } = await acceptorWithLog();
  const garbage = [
    Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // a huge length prefix
    Buffer.from([0, 0, 0, 10, 1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]), // bad hello
    Buffer.from([0, 0, 0, 0]), // empty frame
    Buffer.from([0, 0, 0, 1, 200]), // unknown kind
  ];
  // Deterministic pseudo-random blobs as well.
  let state = 12345;
  for (let blob = 0; blob < 8; blob += 1) {
    const bytes = Buffer.alloc(64);
    for (let index = 0; index < bytes.length; index += 1) {
      state = (state * 1103515245 + 12345) >>> 0;
      bytes[index] = state >>> 24;
    }
    garbage.push(bytes);
  }
  for (const bytes of garbage) {
    const socket = await connectRaw(addressOf(node));
    socket.on("error", () => {});
    socket.write(bytes);
    await socketClosed(socket);
  }
  const refused = node.stats().refused;
  assert.equal(refused["protocol-error"] + refused["frame-too-large"], garbage.length);
  assert.deepEqual(inbox, []);
  assert.equal(node.stats().inboundConnections, 0);
  // Still serving real peers.
  const { socket } = await rawAuthenticatedDialer(addressOf(node), 3, 2);
  socket.write(messageFrame({ fine: true }));
  await waitFor(() => inbox.length === 1, 2000, "a message after the garbage");
  socket.destroy();
});

test("a client that says nothing is closed after the handshake timeout", async () => {
  const { node, log } = await acceptorWithLog({ handshakeTimeoutMs: 150 });
  const socket = await connectRaw(addressOf(node));
  const started = Date.now();
  await socketClosed(socket);
  const elapsedMs = Date.now() - started;
  assert.ok(elapsedMs >= 100 && elapsedMs < 5000, `closed after ${elapsedMs} ms`);
  assert.equal(node.stats().refused["handshake-timeout"], 1);
  assert.equal(log.withReason("handshake-timeout").length, 1);
});

test("connections beyond maxPendingHandshakes are closed at once", async () => {
  const { node } = await acceptorWithLog({ maxPendingHandshakes: 2 });
  const first = await connectRaw(addressOf(node));
  const second = await connectRaw(addressOf(node));
  await waitFor(() => node.stats().pendingHandshakes === 2, 2000, "two pending");
  const third = await connectRaw(addressOf(node));
  third.on("error", () => {});
  await socketClosed(third);
  assert.equal(node.stats().refused["too-many-handshakes"], 1);
  assert.equal(first.destroyed || second.destroyed, false);
  first.destroy();
  second.destroy();
});

test("a dialer that claims the acceptor's own id is refused at its hello", async () => {
  const { node } = await acceptorWithLog();
  const socket = await connectRaw(addressOf(node));
  const reader = new FrameReader(socket);
  socket.write(
    encodeFrame(
      FrameKind.hello,
      encodeHello({ version: PROTOCOL_VERSION, id: 2, nonce: createNonce() }),
    ),
  );
  await socketClosed(socket);
  assert.deepEqual(reader.frames, [], "no challenge is sent to a self-claiming dialer");
  assert.equal(node.stats().refused["auth-failed"], 1);
});

test("a node that answers at a peer's address with another id is refused (wrong-peer-id)", async () => {
  const log = new RecordingLogger();
  const a = await startTransport(1, { logger: log });
  const b = await startTransport(2);
  open.push(a, b);
  a.addPeer(3, addressOf(b)); // misconfigured: node 2 listens there
  await waitFor(() => a.stats().refused["wrong-peer-id"] >= 1, 2000, "the refusal");
  assert.equal(a.isConnected(3), false);
  assert.ok(log.records.some((record) => record.fields.answeredAs === 2));
});

test("the right secret on both sides connects (control for the refusals above)", async () => {
  const [a, b] = await startPair();
  open.push(a, b);
  assert.equal(a.stats().refused["auth-failed"], 0);
  assert.equal(b.stats().refused["auth-failed"], 0);
});
