// Linearizable reads by ReadIndex (diss. §6.4) and lease reads (§6.4.1).

import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../../src/raft/index.ts";
import { bytes, Network, text } from "./helpers/network.ts";

test("the leader answers a ReadIndex with its commit index after a quorum answers a heartbeat", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  const commit = net.node(1).status().commit;
  net.node(1).readIndex(bytes("r1"));
  net.handleReady(1);
  assert.deepEqual(net.member(1).readStates, [], "not before the heartbeat round");
  assert.ok(
    net.queue.some(
      (m) => m.type === "heartbeat" && m.context !== undefined && text(m.context) === "r1",
    ),
  );
  net.stabilize();
  assert.deepEqual(
    net.member(1).readStates.map((r) => [r.index, text(r.context)]),
    [[commit, "r1"]],
  );
});

test("a leader cut off from the quorum never answers a ReadIndex", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.elect(1);
  net.isolate(1);
  net.node(1).readIndex(bytes("r"));
  net.tick(5);
  assert.deepEqual(net.member(1).readStates, []);
});

test("a ReadIndex on a follower is forwarded to the leader and answered back", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  net.node(3).readIndex(bytes("from-3"));
  net.stabilize();
  const states = net.member(3).readStates;
  assert.equal(states.length, 1);
  assert.equal(text(states[0]!.context), "from-3");
  assert.equal(states[0]!.index, net.node(1).status().commit);
  assert.ok(net.sent.some((m) => m.type === "read-index" && m.from === 3));
  assert.ok(net.sent.some((m) => m.type === "read-index-response" && m.to === 3));
});

test("read requests are held until the leader has committed an entry of its own term", () => {
  const net = new Network([1, 2, 3], { preVote: false, checkQuorum: false });
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  // Node 2 wins a new term, but no acknowledgement of its no-op gets back to it yet.
  net.dropIf = (m) => m.type === "append-response";
  net.elect(2);
  assert.equal(net.node(2).status().role, "leader");
  const status = net.node(2).status();
  assert.notEqual(net.member(2).storage.term(status.commit), status.term);
  net.node(2).readIndex(bytes("early"));
  net.tick(2);
  assert.deepEqual(net.member(2).readStates, [], "held: no entry of its term is committed");
  net.dropIf = () => false;
  net.tick(2);
  const states = net.member(2).readStates;
  assert.equal(states.length, 1);
  assert.equal(states[0]!.index, net.node(2).status().commit);
  assert.equal(net.member(2).storage.term(states[0]!.index), status.term);
});

test("a single-voter cluster answers a ReadIndex at once", () => {
  const net = new Network([1]);
  net.elect(1);
  net.node(1).readIndex(bytes("solo"));
  net.handleReady(1);
  assert.equal(net.member(1).readStates.length, 1);
  assert.equal(net.member(1).readStates[0]!.index, 1);
});

test("lease reads answer without a heartbeat round (needs checkQuorum)", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease" });
  net.elect(1);
  net.node(1).readIndex(bytes("lease"));
  net.handleReady(1);
  assert.equal(net.member(1).readStates.length, 1);
});

test("lease reads without checkQuorum are refused with INVALID_CONFIG", () => {
  assert.throws(
    () => new Network([1, 2, 3], { readOnlyOption: "lease", checkQuorum: false }),
    (err: unknown) => err instanceof RaftError && err.code === "INVALID_CONFIG",
  );
});

test("a ReadIndex with no known leader fails with PROPOSAL_DROPPED", () => {
  const net = new Network([1, 2, 3]);
  assert.throws(
    () => net.node(1).readIndex(bytes("r")),
    (err: unknown) => err instanceof RaftError && err.code === "PROPOSAL_DROPPED",
  );
});

test("pending reads are bounded by maxPendingReadIndex (TOO_MANY_PENDING_READS)", () => {
  const net = new Network([1, 2, 3], { maxPendingReadIndex: 3, checkQuorum: false });
  net.elect(1);
  net.isolate(1);
  for (let i = 0; i < 3; i++) net.node(1).readIndex(bytes(`r${i}`));
  assert.throws(
    () => net.node(1).readIndex(bytes("r3")),
    (err: unknown) => err instanceof RaftError && err.code === "TOO_MANY_PENDING_READS",
  );
});

test("one heartbeat quorum confirms every earlier pending read", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.dropIf = (m) => m.type === "heartbeat-response";
  net.node(1).readIndex(bytes("a"));
  net.node(1).readIndex(bytes("b"));
  net.stabilize();
  net.dropIf = () => false;
  net.tick(1); // the periodic heartbeat carries the newest context "b"
  assert.deepEqual(
    net.member(1).readStates.map((r) => text(r.context)),
    ["a", "b"],
  );
});

test("during a leadership transfer lease reads take the safe path (the target wins inside the lease)", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease" });
  net.elect(1);
  net.isolate(3);
  net.node(1).transferLeadership(3);
  net.node(1).readIndex(bytes("during-transfer"));
  net.handleReady(1);
  assert.deepEqual(net.member(1).readStates, [], "no immediate lease answer");
  assert.ok(net.queue.some((m) => m.type === "heartbeat" && m.context !== undefined));
  net.stabilize();
  assert.equal(net.member(1).readStates.length, 1, "answered after a heartbeat quorum (1 and 2)");
});

test("after a timeout-now, even an abandoned transfer suspends lease reads for two election timeouts", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease" });
  net.elect(1);
  net.dropIf = (m) => m.type === "timeout-now";
  net.node(1).transferLeadership(2);
  net.stabilize();
  net.tick(10); // the transfer is abandoned
  assert.equal(net.node(1).status().leadTransferee, 0);
  net.node(1).readIndex(bytes("soon-after"));
  net.handleReady(1);
  assert.deepEqual(net.member(1).readStates, [], "not from the lease");
  net.stabilize();
  assert.equal(net.member(1).readStates.length, 1, "by a heartbeat round");
  net.tick(10);
  net.node(1).readIndex(bytes("later"));
  net.handleReady(1);
  assert.equal(net.member(1).readStates.length, 2, "the lease is back");
});

test("lease reads need a quorum heard from within the election timeout minus a margin", () => {
  const net = new Network([1, 2, 3], { readOnlyOption: "lease", electionTimeoutTicks: 10 });
  net.elect(1);
  net.isolate(1);
  net.tick(7); // last contact 7 ticks ago: inside the 8-tick lease window
  net.node(1).readIndex(bytes("a"));
  net.handleReady(1);
  assert.equal(net.member(1).readStates.length, 1);
  net.tick(1); // 8 ticks: outside the window, though check-quorum has not stepped down yet
  assert.equal(net.node(1).status().role, "leader");
  net.node(1).readIndex(bytes("b"));
  net.handleReady(1);
  assert.equal(net.member(1).readStates.length, 1, "no lease answer: the read waits for a quorum");
});
