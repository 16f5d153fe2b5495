// Leadership transfer (diss. §3.10): catch the target up, then "timeout-now".

import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../../src/raft/index.ts";
import { bytes, Network } from "./helpers/network.ts";

const isCode = (code: string) => (err: unknown) => err instanceof RaftError && err.code === code;

test("an up-to-date target is sent timeout-now and wins the next term at once, despite the lease", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const term = net.node(1).status().term;
  const first = net.sent.length;
  net.node(1).transferLeadership(2);
  net.stabilize();
  assert.deepEqual(net.leaders(), [2]);
  assert.equal(net.node(2).status().term, term + 1);
  const sent = net.sent.slice(first);
  assert.ok(sent.some((m) => m.type === "timeout-now" && m.to === 2));
  assert.ok(!sent.some((m) => m.type === "pre-vote"), "the target skips pre-vote");
  assert.equal(net.node(1).status().leaderId, 2);
});

test("a lagging target is caught up before timeout-now", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.crash(3);
  for (let i = 0; i < 10; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  net.restart(3);
  net.up(3);
  net.node(1).transferLeadership(3);
  assert.equal(net.node(1).status().leadTransferee, 3);
  net.stabilize();
  assert.deepEqual(net.leaders(), [3]);
  assert.deepEqual(net.appliedData(3).length, 10);
});

test("proposals are refused while a transfer runs", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.node(1).transferLeadership(3);
  assert.throws(() => net.node(1).propose(bytes("x")), isCode("PROPOSAL_DROPPED"));
});

test("a transfer that does not finish within an election timeout is aborted", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.node(1).transferLeadership(3);
  net.tick(10);
  assert.deepEqual(net.leaders(), [1]);
  assert.equal(net.node(1).status().leadTransferee, 0);
  assert.doesNotThrow(() => net.node(1).propose(bytes("x")));
});

test("transfer to self, to an unknown node or to a learner fails with TRANSFER_INVALID", () => {
  const net = new Network([1, 2, 3], {}, 1, [4]);
  net.elect(1);
  assert.throws(() => net.node(1).transferLeadership(1), isCode("TRANSFER_INVALID"));
  assert.throws(() => net.node(1).transferLeadership(9), isCode("TRANSFER_INVALID"));
  assert.throws(() => net.node(1).transferLeadership(4), isCode("TRANSFER_INVALID"));
});

test("transfer on a follower fails with NOT_LEADER", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  assert.throws(() => net.node(2).transferLeadership(3), isCode("NOT_LEADER"));
});

test("committed entries survive a transfer", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("before"));
  net.stabilize();
  net.node(1).transferLeadership(2);
  net.stabilize();
  net.node(2).propose(bytes("after"));
  net.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["before", "after"]);
});
