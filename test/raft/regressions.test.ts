// Regression tests for bugs found by the randomized simulator (see the ids).

import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeConfChange, MemoryStorage, RaftNode } from "../../src/raft/index.ts";
import { bytes, Network } from "./helpers/network.ts";

test("SIM-1: restart does not replay conf changes that the snapshot already covers", () => {
  const s = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
  s.append([
    { index: 1, term: 1, type: "normal", data: new Uint8Array(0) },
    {
      index: 2,
      term: 1,
      type: "conf-change",
      data: encodeConfChange({ type: "add-learner", nodeId: 4 }),
    },
    { index: 3, term: 1, type: "normal", data: new Uint8Array(0) },
  ]);
  s.setHardState({ term: 1, vote: 1, commit: 3 });
  s.createSnapshot(3, undefined, new Uint8Array(0));
  s.compact(1); // compaction lags the snapshot: entries 2..3 are still in the log
  const node = new RaftNode({ id: 1, storage: s, random: () => 0.5, appliedIndex: 3 });
  assert.deepEqual(node.status().confState, { voters: [1, 2, 3], learners: [4] });
});

test("SIM-2: a Ready's messages do not grow when inputs arrive before advance()", () => {
  // A follower with a read state to hand out and no message: the Ready used to hand out the
  // live (empty) message array, so an acknowledgement produced before advance() joined the
  // Ready being persisted, and went out before its entry was durable.
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const term = net.node(2).status().term;
  const last = net.node(2).status().lastIndex;
  net.node(2).step({
    type: "read-index-response",
    from: 1,
    to: 2,
    term,
    logTerm: 0,
    index: last,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: bytes("r"),
  });
  const rd = net.node(2).ready();
  assert.equal(rd.messages.length, 0);
  assert.equal(rd.readStates.length, 1);
  net.node(2).step({
    type: "append",
    from: 1,
    to: 2,
    term,
    logTerm: term,
    index: last,
    entries: [{ index: last + 1, term, type: "normal", data: bytes("x") }],
    commit: last,
    reject: false,
    rejectHint: 0,
  });
  assert.equal(rd.messages.length, 0, "the acknowledgement waits for the next Ready");
  net.node(2).advance();
  const next = net.node(2).ready();
  assert.equal(next.entries.length, 1);
  assert.equal(next.messages.length, 1, "with the entry it acknowledges");
  net.member(2).storage.append(next.entries);
  net.node(2).advance();
});

test("SIM-2: a Ready's read states do not grow when inputs arrive before advance()", () => {
  const net = new Network([1]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  const rd = net.node(1).ready();
  assert.equal(rd.readStates.length, 0);
  net.node(1).readIndex(bytes("r")); // a single voter answers at once
  assert.equal(rd.readStates.length, 0);
  net.member(1).storage.append(rd.entries);
  if (rd.hardState !== undefined) net.member(1).storage.setHardState(rd.hardState);
  net.node(1).advance();
  assert.equal(net.node(1).ready().readStates.length, 1);
});

test("SIM-3: with lease reads, campaign() inside a leader's lease is ignored (its own vote would break the lease)", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease" });
  net.elect(1);
  const term = net.node(1).status().term;
  net.isolate(2); // out of the lease after a timeout
  net.tickNode(2, 25);
  net.heal();
  net.partition([1], [2, 3]);
  net.node(3).campaign(); // 3 heard from 1 just now
  net.stabilize();
  assert.equal(net.node(3).status().role, "follower");
  assert.equal(net.node(3).status().term, term);
  assert.deepEqual(net.leaders(), [1]);
  // Once 3's lease has run out too, the partitioned majority elects normally.
  net.tick(25);
  assert.ok(net.leaders().some((id) => id !== 1));
});

test("SIM-3: with safe reads, campaign() inside a lease still starts a (pre-)election", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "safe", preVote: false });
  net.elect(1);
  net.node(3).campaign();
  assert.equal(net.node(3).status().role, "candidate");
});
