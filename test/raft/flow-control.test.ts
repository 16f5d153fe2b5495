// Pipelining and flow control: progress states, the inflight window (count and bytes), the
// message size limit, fast backtracking and the limit on uncommitted proposals.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Message, RaftError } from "../../src/raft/index.ts";
import { Network } from "./helpers/network.ts";

const payload = (n: number): Uint8Array => new Uint8Array(n).fill(7);

/** Appends carrying entries from 1 to `to` that are waiting in the network queue. */
function queuedAppends(net: Network, to: number): Message[] {
  return net.queue.filter((m) => m.type === "append" && m.to === to && m.entries.length > 0);
}

test("a follower's progress moves from probe to replicate once it acknowledges an append", () => {
  const net = new Network([1, 2, 3]);
  net.dropIf = (m) => m.type === "append-response" && m.from === 2;
  net.elect(1);
  assert.equal(net.node(1).status().progress.get(2)?.state, "probe");
  assert.equal(net.node(1).status().progress.get(3)?.state, "replicate");
  net.dropIf = () => false;
  net.tick(1); // the heartbeat response unpauses the probe; the next append is acknowledged
  assert.equal(net.node(1).status().progress.get(2)?.state, "replicate");
  assert.equal(net.node(1).status().progress.get(2)?.match, net.node(1).status().lastIndex);
});

test("the inflight window bounds appends in flight by count (maxInflightMessages)", () => {
  const net = new Network([1, 2, 3], { maxInflightMessages: 2 });
  net.elect(1);
  net.dropIf = (m) => m.type === "append-response" && m.from === 2;
  const first = net.sent.length;
  for (let i = 0; i < 5; i++) {
    net.node(1).propose(payload(10));
    net.stabilize();
  }
  const appends = (to: number): number =>
    net.sent.slice(first).filter((m) => m.type === "append" && m.to === to && m.entries.length > 0)
      .length;
  assert.equal(appends(2), 2, "two appends in flight to the silent follower, the rest wait");
  assert.equal(appends(3), 5, "the other follower is not held back");
  assert.equal(net.node(1).status().progress.get(2)?.inflightMessages, 2);
  net.dropIf = () => false;
  net.tick(2);
  assert.equal(
    net.node(2).status().commit,
    net.node(1).status().commit,
    "catches up once answers flow",
  );
});

test("the inflight window bounds appends in flight by bytes (maxInflightBytes)", () => {
  const net = new Network([1, 2, 3], { maxInflightBytes: 250 });
  net.elect(1);
  net.dropIf = (m) => m.type === "append-response" && m.from === 2;
  for (let i = 0; i < 6; i++) {
    net.node(1).propose(payload(100));
    net.handleReady(1);
  }
  assert.equal(queuedAppends(net, 2).length, 3, "100 + 100 + 100 >= 250 bytes fills the window");
});

test("one append carries at most maxMessageSizeBytes of entries (and at least one entry)", () => {
  const net = new Network([1, 2, 3], { maxMessageSizeBytes: 250 });
  net.elect(1);
  net.crash(3);
  for (let i = 0; i < 10; i++) net.node(1).propose(payload(100));
  net.node(1).propose(payload(1000));
  net.stabilize();
  net.restart(3);
  net.up(3);
  const first = net.sent.length;
  net.tick(3);
  const appends = net.sent
    .slice(first)
    .filter((m) => m.type === "append" && m.to === 3 && m.entries.length > 0);
  assert.ok(appends.length >= 6);
  for (const m of appends) {
    const size = m.entries.reduce((n, e) => n + e.data.byteLength, 0);
    assert.ok(
      size <= 250 || m.entries.length === 1,
      `append of ${size} bytes in ${m.entries.length} entries`,
    );
  }
  assert.equal(net.node(3).status().commit, net.node(1).status().commit);
});

test("fast backtracking: the leader skips a follower's whole conflicting term in one round trip", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  // Old leader 1 is cut off and appends 50 entries nobody else sees.
  net.isolate(1);
  for (let i = 0; i < 50; i++) net.node(1).propose(payload(1));
  net.stabilize();
  // 2 and 3 elect a new leader, which commits entries of a newer term.
  net.tickNode(2, 20);
  net.stabilize();
  net.tick(25);
  const leader = net.leaders().find((id) => id !== 1);
  assert.ok(leader !== undefined);
  for (let i = 0; i < 50; i++) net.node(leader).propose(payload(1));
  net.stabilize();
  // A fresh leader of a newer term starts probing node 1 at its own last index.
  const other = leader === 2 ? 3 : 2;
  net.node(leader).transferLeadership(other);
  net.stabilize();
  assert.deepEqual(
    net.leaders().filter((id) => id !== 1),
    [other],
  );
  const first = net.sent.length;
  net.heal();
  net.tick(3);
  const rejections = net.sent
    .slice(first)
    .filter((m) => m.type === "append-response" && m.from === 1 && m.reject);
  assert.ok(
    rejections.length >= 1 && rejections.length <= 2,
    `${rejections.length} rejections for 50 conflicting entries`,
  );
  assert.equal(net.node(1).status().lastIndex, net.node(other).status().lastIndex);
  assert.equal(net.node(1).status().commit, net.node(other).status().commit);
});

test("proposals past maxUncommittedBytes fail with TOO_MANY_UNCOMMITTED, and pass again after commit", () => {
  const net = new Network([1, 2, 3], { maxUncommittedBytes: 1000 });
  net.elect(1);
  net.isolate(1);
  for (let i = 0; i < 10; i++) net.node(1).propose(payload(100));
  assert.throws(
    () => net.node(1).propose(payload(100)),
    (err: unknown) => err instanceof RaftError && err.code === "TOO_MANY_UNCOMMITTED",
  );
  net.heal();
  net.stabilize();
  net.tick(1);
  assert.doesNotThrow(() => net.node(1).propose(payload(100)));
});

test("a single proposal larger than maxUncommittedBytes is admitted when nothing is pending", () => {
  const net = new Network([1, 2, 3], { maxUncommittedBytes: 100 });
  net.elect(1);
  assert.doesNotThrow(() => net.node(1).propose(payload(500)));
});

test("proposals without a known leader fail with PROPOSAL_DROPPED", () => {
  const net = new Network([1, 2, 3]);
  assert.throws(
    () => net.node(2).propose(payload(1)),
    (err: unknown) => err instanceof RaftError && err.code === "PROPOSAL_DROPPED",
  );
});

test("reportUnreachable moves a replicating follower back to probe", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  assert.equal(net.node(1).status().progress.get(2)?.state, "replicate");
  net.node(1).reportUnreachable(2);
  assert.equal(net.node(1).status().progress.get(2)?.state, "probe");
});

test("a lost append is repaired: the follower rejects the gap and the leader resends", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  let dropped = 0;
  net.dropIf = (m) => m.type === "append" && m.to === 2 && m.entries.length > 0 && dropped++ === 0;
  net.node(1).propose(payload(1));
  net.stabilize();
  net.node(1).propose(payload(2));
  net.stabilize();
  net.tick(2);
  assert.equal(dropped > 0, true);
  assert.equal(net.node(2).status().lastIndex, net.node(1).status().lastIndex);
  assert.equal(net.node(2).status().commit, net.node(1).status().commit);
});
