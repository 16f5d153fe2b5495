// inputs (step, propose, readIndex, tick) are legal while a Ready is being handled, i.e.
// between ready() and advance(); their effects go into the next Ready. The node layer persists
// Readies asynchronously (group commit) and keeps feeding the node meanwhile.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Message, RaftError, type Ready } from "../../src/raft/index.ts";
import { bytes, Network, seededRandom } from "./helpers/network.ts";

test("hasReady() is false and ready() refuses while a Ready awaits advance()", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  assert.equal(net.node(1).hasReady(), true);
  const first = net.node(1).ready();
  net.node(1).propose(bytes("y"));
  assert.equal(first.entries.length, 1, "a Ready being handled does not change under the caller");
  assert.equal(net.node(1).hasReady(), false);
  assert.throws(
    () => net.node(1).ready(),
    (e: unknown) => e instanceof RaftError && e.code === "INVARIANT",
  );
  net.member(1).storage.append(first.entries);
  net.node(1).advance();
  assert.equal(net.node(1).hasReady(), true, "the proposal made meanwhile is in the next Ready");
  const rd = net.node(1).ready();
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.entries[0]?.index, first.entries[0]!.index + 1);
  net.member(1).storage.append(rd.entries);
  net.node(1).advance();
});

test("advance() without persisting Ready.entries is a caller bug (INVARIANT)", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.node(1).ready();
  assert.throws(
    () => net.node(1).advance(),
    (e: unknown) => e instanceof RaftError && e.code === "INVARIANT",
  );
});

test("a cluster whose nodes handle Readies asynchronously, with inputs in between, stays consistent", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = seededRandom(seed);
    const net = new Network([1, 2, 3], {}, seed);
    const pending = new Map<number, Ready>();
    const inflight: Message[] = [];
    const ids = [1, 2, 3];
    let proposed = 0;
    /** Finishes the outstanding Ready of `id`: persist, then send, then apply, then advance. */
    const complete = (id: number): void => {
      const rd = pending.get(id);
      if (rd === undefined) return;
      pending.delete(id);
      const m = net.member(id);
      if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
      m.storage.append(rd.entries);
      if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
      inflight.push(...rd.messages);
      for (const e of rd.committedEntries) {
        assert.equal(e.index, m.appliedIndex + 1);
        m.applied.push(e);
        m.appliedIndex = e.index;
      }
      m.node.advance();
    };
    for (let step = 0; step < 3000; step++) {
      const id = ids[Math.floor(random() * 3)]!;
      const node = net.node(id);
      const action = random();
      if (action < 0.25) {
        if (!pending.has(id) && node.hasReady()) pending.set(id, node.ready());
      } else if (action < 0.5) {
        complete(id);
      } else if (action < 0.8) {
        // Deliver a random in-flight message (reordering), even to a node with a pending Ready.
        if (inflight.length > 0) {
          const at = Math.floor(random() * inflight.length);
          const [msg] = inflight.splice(at, 1);
          if (msg !== undefined && random() > 0.05) net.node(msg.to).step(msg);
        }
      } else if (action < 0.9) {
        node.tick();
      } else if (node.status().role === "leader") {
        try {
          node.propose(bytes(`s${seed}-${proposed}`));
          proposed++;
        } catch (err) {
          if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
        }
      }
    }
    // Quiesce: finish everything, deliver everything, let the cluster settle.
    for (let round = 0; round < 200; round++) {
      for (const id of ids) complete(id);
      for (const msg of inflight.splice(0)) net.node(msg.to).step(msg);
      for (const id of ids) if (net.node(id).hasReady()) pending.set(id, net.node(id).ready());
      if (round % 4 === 0) for (const id of ids) net.node(id).tick();
    }
    for (const id of ids) complete(id);
    net.stabilize();
    net.tick(30);
    // Safety: every node applied the same entries at the same indexes.
    const logs = ids.map((id) =>
      net.member(id).applied.map((e) => `${e.index}:${e.term}:${e.data.length}`),
    );
    const shortest = Math.min(...logs.map((l) => l.length));
    for (const log of logs)
      assert.deepEqual(log.slice(0, shortest), logs[0]!.slice(0, shortest), `seed ${seed}`);
    assert.equal(net.leaders().length, 1, `seed ${seed}: a leader after healing`);
    const commits = new Set(ids.map((id) => net.node(id).status().commit));
    assert.equal(commits.size, 1, `seed ${seed}: all nodes converge`);
  }
});

test("Q-2: a leader that sends appends before persisting reveals no commit before its entries are durable", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const leader = net.node(1);
  const before = leader.status().commit;
  leader.propose(bytes("x"));
  const rd = leader.ready();
  assert.equal(rd.hardState, undefined, "no term or vote change: early sending is allowed");
  // Send first, persist later: the followers store and acknowledge the entry at once.
  for (const m of rd.messages) net.node(m.to).step(m);
  for (const id of [2, 3]) net.handleReady(id);
  for (const m of net.queue.splice(0)) if (m.to === 1) leader.step(m);
  // The leader now knows a quorum holds the entry, but nothing of it can leave yet.
  assert.equal(leader.hasReady(), false);
  assert.throws(
    () => leader.ready(),
    (e: unknown) => e instanceof RaftError && e.code === "INVARIANT",
  );
  // Its own write lands; only now does the commit leave (messages, committed entries).
  net.member(1).storage.append(rd.entries);
  leader.advance();
  const next = leader.ready();
  assert.equal(next.hardState?.commit, before + 1);
  assert.equal(next.committedEntries.at(-1)?.index, before + 1);
  leader.advance();
});
