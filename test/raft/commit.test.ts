// Commitment (Raft §5.3, §5.4.2): by quorum only, and only of an entry of the leader's own term.

import assert from "node:assert/strict";
import { test } from "node:test";
import { bytes, Network } from "./helpers/network.ts";

const manual = { preVote: false, checkQuorum: false };

test("a new leader appends an empty no-op entry of its term", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const entry = net.member(1).applied[0];
  assert.ok(entry);
  assert.equal(entry.type, "normal");
  assert.equal(entry.data.byteLength, 0);
  assert.equal(entry.term, net.node(1).status().term);
});

test("an entry stored on a minority is not committed", () => {
  const net = new Network([1, 2, 3, 4, 5]);
  net.elect(1);
  const commit = net.node(1).status().commit;
  net.partition([1, 2], [3, 4, 5]);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.equal(net.node(1).status().commit, commit);
  assert.equal(net.node(2).status().lastIndex, commit + 1, "stored on 2");
});

test("an entry stored on a majority is committed and followers learn the commit index", () => {
  const net = new Network([1, 2, 3, 4, 5]);
  net.elect(1);
  net.partition([1, 2, 3], [4, 5]);
  const { index } = net.node(1).propose(bytes("x")) as { index: number };
  net.stabilize();
  assert.equal(net.node(1).status().commit, index);
  net.tick(1);
  assert.equal(net.node(2).status().commit, index);
  assert.equal(net.node(3).status().commit, index);
});

test("figure 8: a leader does not commit an entry of an earlier term by counting replicas", () => {
  const net = new Network([1, 2, 3, 4, 5], manual);
  // (a) S1 leads term 1 and replicates index 2 (term 1) to S2 only.
  net.elect(1);
  net.partition([1, 2], [3], [4], [5]);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.equal(net.node(2).status().lastIndex, 2);
  // (b) S1 crashes; S5 wins term 2 with S3 and S4 and appends index 2 (term 2) only locally.
  net.crash(1);
  net.heal();
  net.partition([1], [2], [3, 4, 5]);
  net.dropIf = (m) => m.from === 5 && m.type === "append";
  net.elect(5);
  assert.equal(net.node(5).status().role, "leader");
  assert.equal(net.node(5).status().term, 2);
  net.crash(5);
  // (c) S1 restarts and wins term 3 with S2 and S3; it replicates index 2 (term 1) to S3,
  // but its own no-op at index 3 (term 3) does not get there.
  net.heal();
  net.restart(1);
  net.up(1);
  net.crash(5);
  net.isolate(4);
  net.isolate(5);
  net.dropIf = (m) =>
    m.from === 1 && m.to === 3 && m.type === "append" && m.entries.some((e) => e.index >= 3);
  net.elect(1); // term 2: S3 already voted for S5 in term 2, so this campaign fails
  net.elect(1); // term 3
  assert.equal(net.node(1).status().role, "leader");
  assert.equal(net.node(1).status().term, 3);
  const entry2 = net.member(1).storage.entries(2, 3, Infinity)[0]!;
  assert.equal(entry2.term, 1);
  net.node(3).step({
    type: "append",
    from: 1,
    to: 3,
    term: 3,
    logTerm: 1,
    index: 1,
    entries: [entry2],
    commit: 1,
    reject: false,
    rejectHint: 0,
  });
  net.stabilize();
  const leaderStatus = net.node(1).status();
  assert.equal(leaderStatus.progress.get(3)?.match, 2, "index 2 is on S1, S2 and S3: a majority");
  assert.equal(leaderStatus.commit, 1, "but it is of term 1, so S1 (term 3) must not commit it");
  // (d) Why: S5 can still win term 4 (with S3 and S4) and overwrite index 2.
  net.crash(1);
  net.heal();
  net.restart(5);
  net.up(5);
  net.isolate(1);
  net.isolate(2);
  net.dropIf = () => false;
  net.elect(5); // term 3: S3 voted for S1 in term 3
  net.elect(5); // term 4
  assert.equal(net.node(5).status().term, 4);
  assert.equal(net.node(5).status().role, "leader");
  assert.equal(net.member(3).storage.term(2), 2, "index 2 was replaced on S3 by the term-2 entry");
});

test("figure 8 (e): once an entry of the leader's term is on a majority, earlier entries commit with it", () => {
  const net = new Network([1, 2, 3, 4, 5], manual);
  net.elect(1);
  net.partition([1, 2], [3], [4], [5]);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  net.crash(1);
  net.heal();
  net.restart(1);
  net.up(1);
  net.isolate(4);
  net.isolate(5);
  net.elect(1); // term 2, no-op at index 3 reaches S2 and S3
  assert.equal(net.node(1).status().commit, 3);
  assert.deepEqual(net.appliedData(3), ["x"]);
});

test("lazyCommitPropagation: a new commit index travels with the next append, not in one of its own", () => {
  const net = new Network([1, 2, 3], { lazyCommitPropagation: true });
  net.elect(1);
  net.tick(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  const committed = net.node(1).status().commit;
  assert.equal(net.node(1).status().lastIndex, committed, "x is committed on the leader");
  for (const id of [2, 3])
    assert.equal(net.node(id).status().commit, committed - 1, `${id} was not told yet`);
  const appendsBefore = net.sent.filter((m) => m.type === "append").length;
  net.node(1).propose(bytes("y"));
  net.stabilize();
  const appends = net.sent.filter((m) => m.type === "append").slice(appendsBefore);
  assert.ok(
    appends.every((m) => m.entries.length > 0),
    "no append was sent only for a commit index",
  );
  for (const id of [2, 3])
    assert.ok(net.node(id).status().commit >= committed, `${id} learned x's commit with y`);
});

test("lazyCommitPropagation: with no append to carry it, followers learn the commit index within a tick", () => {
  // Heartbeats (which carry the commit index too) only every 5 ticks: the tick itself must tell.
  const net = new Network([1, 2, 3], {
    lazyCommitPropagation: true,
    heartbeatIntervalTicks: 5,
    electionTimeoutTicks: 20,
  });
  net.elect(1);
  net.tick(5);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  const committed = net.node(1).status().commit;
  assert.equal(net.node(2).status().commit, committed - 1);
  net.tick(1);
  for (const id of [2, 3]) {
    assert.equal(net.node(id).status().commit, committed, `${id} knows x is committed`);
    assert.deepEqual(net.appliedData(id), ["x"]);
  }
});

test("without lazyCommitPropagation the leader tells the followers at once", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  const committed = net.node(1).status().commit;
  for (const id of [2, 3]) assert.equal(net.node(id).status().commit, committed);
});
