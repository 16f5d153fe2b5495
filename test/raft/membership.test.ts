// Single-server membership changes (diss. §4.1) and learners (§4.2.1).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeConfChange,
  encodeConfChange,
  MemoryStorage,
  RaftError,
} from "../../src/raft/index.ts";
import { bytes, Network } from "./helpers/network.ts";

const isCode = (code: string) => (err: unknown) => err instanceof RaftError && err.code === code;

function withJoiner(id: number, options = {}): Network {
  const net = new Network([1, 2, 3], options);
  // A joiner starts from the cluster's bootstrap configuration, in which it is not a member.
  net.addMember(id, new MemoryStorage({ voters: [1, 2, 3], learners: [] }));
  net.elect(1);
  return net;
}

test("a learner added to the cluster receives the whole log", () => {
  const net = withJoiner(4);
  net.node(1).propose(bytes("a"));
  net.stabilize();
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  net.node(1).propose(bytes("b"));
  net.stabilize();
  assert.deepEqual(net.appliedData(4), ["a", "b"]);
  assert.deepEqual(net.node(4).status().confState, { voters: [1, 2, 3], learners: [4] });
  assert.equal(net.node(1).status().progress.get(4)?.isLearner, true);
});

test("a learner's acknowledgement never counts toward commitment", () => {
  const net = withJoiner(4);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  net.partition([1, 4], [2, 3]);
  const commit = net.node(1).status().commit;
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.equal(net.node(4).status().lastIndex, commit + 1, "the learner has it");
  assert.equal(net.node(1).status().commit, commit, "1 of 3 voters is no quorum");
});

test("promote-learner is refused until the learner is within promotionMaxLagEntries", () => {
  const net = withJoiner(4, { promotionMaxLagEntries: 5 });
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  net.isolate(4);
  for (let i = 0; i < 10; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 }),
    isCode("LEARNER_NOT_CAUGHT_UP"),
  );
  net.heal();
  net.tick(2);
  net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 });
  net.stabilize();
  for (const id of [1, 2, 3, 4]) {
    assert.deepEqual(net.node(id).status().confState, { voters: [1, 2, 3, 4], learners: [] });
  }
});

test("a learner that has not answered cannot be promoted, however short the log", () => {
  // Regression: with fewer entries than promotionMaxLagEntries, a learner that never started
  // (match 0) passed the lag check and became a voter that could not vote.
  const net = withJoiner(4);
  net.isolate(4);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  assert.ok(net.node(1).status().lastIndex < 1000, "the log is shorter than the lag limit");
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 }),
    isCode("LEARNER_NOT_CAUGHT_UP"),
  );
  net.heal();
  net.tick(2);
  net.stabilize();
  net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 });
  net.stabilize();
  assert.deepEqual(net.node(1).status().confState, { voters: [1, 2, 3, 4], learners: [] });
});

test("a promoted learner votes and counts: a 4-voter cluster needs 3 for a quorum", () => {
  const net = withJoiner(4);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 });
  net.stabilize();
  net.partition([1, 4], [2, 3]);
  const commit = net.node(1).status().commit;
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.equal(net.node(1).status().commit, commit, "2 of 4 is no quorum");
  net.heal();
  net.partition([1, 2, 4], [3]);
  net.tick(1);
  assert.equal(net.node(1).status().commit, commit + 1, "3 of 4 is");
});

test("a change takes effect as soon as its entry is appended, before it commits", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  assert.deepEqual(net.node(1).status().confState.learners, [4]);
  assert.ok(net.node(1).status().progress.has(4));
  assert.ok(net.node(1).status().commit < net.node(1).status().lastIndex);
});

test("a change in a truncated entry is undone", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  assert.deepEqual(net.node(1).status().confState.learners, [4]);
  // 2 and 3 elect a new leader whose log replaces the uncommitted change on node 1.
  net.tick(25);
  const leader = net.leaders().find((id) => id !== 1);
  assert.ok(leader !== undefined);
  net.node(leader).propose(bytes("new"));
  net.stabilize();
  net.heal();
  net.tick(3);
  assert.equal(net.node(1).status().leaderId, leader);
  assert.deepEqual(net.node(1).status().confState, { voters: [1, 2, 3], learners: [] });
});

test("remove-node: the cluster continues with the remaining voters", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).proposeConfChange({ type: "remove-node", nodeId: 3 });
  net.stabilize();
  assert.deepEqual(net.node(1).status().confState.voters, [1, 2]);
  net.crash(3);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.deepEqual(net.appliedData(2), ["x"]);
  assert.ok(!net.node(1).status().progress.has(3));
});

test("a leader removed from the configuration steps down once the removal is committed", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.dropIf = (m) => m.type === "append-response";
  net.node(1).proposeConfChange({ type: "remove-node", nodeId: 1 });
  net.stabilize();
  assert.equal(net.node(1).status().role, "leader", "still leads while the removal is uncommitted");
  net.dropIf = () => false;
  net.tick(1);
  assert.equal(net.node(1).status().role, "follower");
  net.tick(30);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.ok([2, 3].includes(leaders[0]!));
  net.node(leaders[0]!).propose(bytes("after"));
  net.stabilize();
  assert.deepEqual(net.appliedData(leaders[0] === 2 ? 3 : 2), ["after"]);
});

test("a second change while the first is uncommitted fails with CONF_CHANGE_PENDING", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "add-learner", nodeId: 5 }),
    isCode("CONF_CHANGE_PENDING"),
  );
});

test("a leader that has not committed an entry of its term refuses changes (CONF_CHANGE_PENDING)", () => {
  const net = new Network([1, 2, 3]);
  net.dropIf = (m) => m.type === "append-response";
  net.elect(1);
  assert.equal(net.node(1).status().role, "leader");
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 }),
    isCode("CONF_CHANGE_PENDING"),
  );
});

test("nonsense changes fail with INVALID_CONF_CHANGE", () => {
  const single = new Network([1]);
  single.elect(1);
  assert.throws(
    () => single.node(1).proposeConfChange({ type: "remove-node", nodeId: 1 }),
    isCode("INVALID_CONF_CHANGE"),
  );
  const net = new Network([1, 2, 3]);
  net.elect(1);
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "add-voter", nodeId: 2 }),
    isCode("INVALID_CONF_CHANGE"),
  );
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "add-learner", nodeId: 3 }),
    isCode("INVALID_CONF_CHANGE"),
  );
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 2 }),
    isCode("INVALID_CONF_CHANGE"),
  );
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "remove-node", nodeId: 9 }),
    isCode("INVALID_CONF_CHANGE"),
  );
  assert.throws(
    () => net.node(1).proposeConfChange({ type: "add-voter", nodeId: 0 }),
    isCode("INVALID_CONF_CHANGE"),
  );
});

test("add-voter directly: the new voter catches up and counts", () => {
  const net = withJoiner(4);
  net.node(1).propose(bytes("a"));
  net.stabilize();
  net.node(1).proposeConfChange({ type: "add-voter", nodeId: 4 });
  net.stabilize();
  assert.deepEqual(net.node(4).status().confState.voters, [1, 2, 3, 4]);
  assert.deepEqual(net.appliedData(4), ["a"]);
});

test("a change proposed on a follower is forwarded to the leader", () => {
  const net = withJoiner(4);
  assert.deepEqual(net.node(2).proposeConfChange({ type: "add-learner", nodeId: 4 }), {
    forwarded: true,
  });
  net.stabilize();
  assert.deepEqual(net.node(1).status().confState.learners, [4]);
});

test("a restarted node rebuilds its configuration from the snapshot plus the log", () => {
  const net = withJoiner(4);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.stabilize();
  net.node(1).proposeConfChange({ type: "promote-learner", nodeId: 4 });
  net.stabilize();
  net.restart(2);
  assert.deepEqual(net.node(2).status().confState, { voters: [1, 2, 3, 4], learners: [] });
});

test("a node without the cluster's bootstrap configuration refuses to apply changes from the log", () => {
  const net = new Network([1, 2, 3]);
  net.addMember(4, new MemoryStorage());
  net.elect(1);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  assert.throws(() => net.stabilize(), isCode("INVALID_CONF_CHANGE"));
});

test("a node joining with an empty storage catches up from a snapshot", () => {
  const net = new Network([1, 2, 3]);
  net.addMember(4, new MemoryStorage());
  net.elect(1);
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4 });
  net.isolate(4);
  net.node(1).propose(bytes("a"));
  net.stabilize();
  const m = net.member(1);
  m.storage.createSnapshot(m.appliedIndex, undefined, bytes("state"));
  m.storage.compact(m.appliedIndex);
  net.heal();
  net.tick(3);
  assert.deepEqual(net.node(4).status().confState, { voters: [1, 2, 3], learners: [4] });
  assert.equal(net.node(4).status().commit, net.node(1).status().commit);
});

test("conf changes encode and decode; garbage fails with INVALID_CONF_CHANGE", () => {
  for (const change of [
    { type: "add-learner", nodeId: 7 },
    { type: "add-voter", nodeId: 1 },
    { type: "promote-learner", nodeId: 2 ** 40 },
    { type: "remove-node", nodeId: 3 },
  ] as const) {
    assert.deepEqual(decodeConfChange(encodeConfChange(change)), change);
  }
  assert.throws(() => decodeConfChange(new Uint8Array([1, 2, 3])), isCode("INVALID_CONF_CHANGE"));
  assert.throws(
    () =>
      decodeConfChange(
        new Uint8Array([...encodeConfChange({ type: "add-voter", nodeId: 1 }), 0, 0]),
      ),
    isCode("INVALID_CONF_CHANGE"),
  );
  assert.throws(() => decodeConfChange(new Uint8Array(10)), isCode("INVALID_CONF_CHANGE"));
});

test("REQ-1: a conf change carries an opaque context unchanged; absent stays absent", () => {
  const context = bytes('{"peer":"10.0.0.4:7000","api":"10.0.0.4:8080"}');
  const change = { type: "add-learner", nodeId: 4, context } as const;
  const decoded = decodeConfChange(encodeConfChange(change));
  assert.deepEqual(decoded, change);
  assert.ok(!("context" in decodeConfChange(encodeConfChange({ type: "add-learner", nodeId: 4 }))));
  assert.deepEqual(
    decodeConfChange(
      encodeConfChange({ type: "remove-node", nodeId: 2, context: new Uint8Array(0) }),
    ),
    {
      type: "remove-node",
      nodeId: 2,
      context: new Uint8Array(0),
    },
  );
  assert.throws(
    () =>
      encodeConfChange({ type: "add-voter", nodeId: 4, context: new Uint8Array(64 * 1024 + 1) }),
    isCode("INVALID_CONF_CHANGE"),
  );
});

test("REQ-1: the context reaches every member in the committed conf-change entry", () => {
  const net = withJoiner(4);
  const context = bytes("addresses of 4");
  net.node(1).proposeConfChange({ type: "add-learner", nodeId: 4, context });
  net.stabilize();
  for (const id of [1, 2, 3, 4]) {
    const entry = net.member(id).applied.find((e) => e.type === "conf-change");
    assert.ok(entry, `node ${id} applied the change`);
    assert.deepEqual(decodeConfChange(entry.data), { type: "add-learner", nodeId: 4, context });
  }
});
