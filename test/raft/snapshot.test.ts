// Log compaction and snapshot transfer (Raft §7).

import assert from "node:assert/strict";
import { test } from "node:test";
import { bytes, Network, text } from "./helpers/network.ts";

/** The application snapshots its state at its applied index and compacts the log there. */
function compact(net: Network, id: number): number {
  const m = net.member(id);
  const state = net.appliedData(id).join(",");
  m.storage.createSnapshot(m.appliedIndex, undefined, bytes(state));
  m.storage.compact(m.appliedIndex);
  return m.appliedIndex;
}

function laggingFollowerScenario(): Network {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.crash(3);
  for (let i = 0; i < 20; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  compact(net, 1);
  compact(net, 2);
  net.restart(3);
  net.up(3);
  return net;
}

test("a follower behind the compaction point is sent the leader's snapshot and then continues from the log", () => {
  const net = laggingFollowerScenario();
  const first = net.sent.length;
  net.tick(3);
  const snaps = net.sent.slice(first).filter((m) => m.type === "snapshot" && m.to === 3);
  assert.equal(snaps.length, 1);
  const snapIndex = net.member(1).storage.snapshot().metadata.index;
  assert.equal(snaps[0]!.snapshot?.metadata.index, snapIndex);
  assert.equal(
    net.member(3).storage.snapshot().metadata.index,
    snapIndex,
    "installed via Ready.snapshot",
  );
  assert.equal(net.member(3).appliedIndex, snapIndex);
  assert.equal(text(net.member(3).storage.snapshot().data).split(",").length, 20);
  net.node(1).propose(bytes("after"));
  net.stabilize();
  assert.deepEqual(net.appliedData(3), ["after"], "continues from the log after the snapshot");
  assert.equal(net.node(3).status().commit, net.node(1).status().commit);
});

test("the snapshot carries the membership as of its index", () => {
  const net = laggingFollowerScenario();
  net.tick(3);
  assert.deepEqual(net.member(3).storage.confState(), { voters: [1, 2, 3], learners: [] });
});

test("while a snapshot is in transfer no appends are sent; reportSnapshot(failed) returns to probe", () => {
  const net = laggingFollowerScenario();
  net.dropIf = (m) => m.type === "snapshot";
  net.tick(2);
  assert.equal(net.node(1).status().progress.get(3)?.state, "snapshot");
  const first = net.sent.length;
  net.node(1).propose(bytes("x"));
  net.stabilize();
  assert.equal(net.sent.slice(first).filter((m) => m.type === "append" && m.to === 3).length, 0);
  net.node(1).reportSnapshot(3, false);
  assert.equal(net.node(1).status().progress.get(3)?.state, "probe");
  net.dropIf = () => false;
  net.tick(3);
  assert.equal(
    net.node(3).status().commit,
    net.node(1).status().commit,
    "a retried snapshot succeeds",
  );
});

test("reportSnapshot(succeeded) moves the progress to probe past the snapshot", () => {
  const net = laggingFollowerScenario();
  net.dropIf = (m) => m.type === "snapshot";
  net.tick(2);
  const snapIndex = net.member(1).storage.snapshot().metadata.index;
  net.node(1).reportSnapshot(3, true);
  const pr = net.node(1).status().progress.get(3);
  assert.equal(pr?.state, "probe");
  assert.equal(pr?.next, snapIndex + 1);
});

test("a restarted node recovers from its snapshot plus the log after it", () => {
  const net = laggingFollowerScenario();
  net.tick(3);
  net.node(1).propose(bytes("after"));
  net.stabilize();
  net.restart(3);
  const status = net.node(3).status();
  assert.equal(status.commit, net.node(1).status().commit);
  assert.deepEqual(status.confState.voters, [1, 2, 3]);
  assert.equal(status.applied, net.member(3).appliedIndex);
});

test("a stale snapshot (at or below the follower's commit) is ignored", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 5; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  const index = compact(net, 1);
  const snapshot = net.member(1).storage.snapshot();
  const before = net.node(2).status();
  net.node(2).step({
    type: "snapshot",
    from: 1,
    to: 2,
    term: before.term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot,
  });
  const rd = net.node(2).ready();
  assert.equal(rd.snapshot, undefined);
  const resp = rd.messages.find((m) => m.type === "append-response");
  assert.equal(resp?.index, index);
  net.node(2).advance();
});

test("a snapshot whose last entry the follower already has only fast-forwards the commit index", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 5; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  const snapIndex = compact(net, 1);
  const snapshot = net.member(1).storage.snapshot();
  // Node 2 holds entries up to snapIndex and two more of a term the leader never had.
  const term = net.node(2).status().term;
  net.node(2).step({
    type: "heartbeat",
    from: 1,
    to: 2,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  const s2 = net.member(2);
  net.handleReady(2);
  // Roll node 2's commit back by restarting it over a storage whose hard state says commit 1.
  s2.storage.setHardState({ ...s2.storage.hardState(), commit: 1 });
  s2.appliedIndex = 1;
  net.restart(2);
  net.node(2).step({
    type: "append",
    from: 1,
    to: 2,
    term,
    logTerm: term,
    index: snapIndex,
    entries: [
      { index: snapIndex + 1, term, type: "normal", data: bytes("extra1") },
      { index: snapIndex + 2, term, type: "normal", data: bytes("extra2") },
    ],
    commit: 1,
    reject: false,
    rejectHint: 0,
  });
  net.handleReady(2);
  net.queue = [];
  net.node(2).step({
    type: "snapshot",
    from: 1,
    to: 2,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot,
  });
  const rd = net.node(2).ready();
  net.node(2).advance();
  assert.equal(rd.snapshot, undefined, "no need to install it");
  const resp = rd.messages.find((m) => m.type === "append-response");
  assert.equal(
    resp?.index,
    snapIndex,
    "acknowledges only the snapshot's index, not the unverified tail",
  );
  assert.equal(net.node(2).status().commit, snapIndex);
});

test("a lost snapshot message is sent again after snapshotRetryTicks while the follower answers heartbeats", () => {
  const net = new Network([1, 2, 3], { snapshotRetryTicks: 20 });
  net.elect(1);
  net.crash(3);
  for (let i = 0; i < 20; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  compact(net, 1);
  net.restart(3);
  net.up(3);
  let dropped = 0;
  net.dropIf = (m) => m.type === "snapshot" && dropped++ === 0;
  net.tick(5);
  assert.equal(dropped, 1);
  assert.equal(
    net.node(1).status().progress.get(3)?.state,
    "snapshot",
    "waiting for the lost snapshot",
  );
  net.tick(20);
  assert.equal(
    net.node(3).status().commit,
    net.node(1).status().commit,
    "sent again and installed",
  );
});

test("a lost acknowledgement of an installed snapshot is repaired by the next heartbeat response", () => {
  const net = laggingFollowerScenario();
  const snapIndex = net.member(1).storage.snapshot().metadata.index;
  let dropped = 0;
  net.dropIf = (m) =>
    m.type === "append-response" &&
    m.from === 3 &&
    !m.reject &&
    m.index === snapIndex &&
    ++dropped > 0;
  net.tick(2);
  assert.equal(dropped, 1);
  assert.equal(net.member(3).storage.snapshot().metadata.index, snapIndex, "installed");
  net.dropIf = () => false;
  net.tick(2);
  const pr = net.node(1).status().progress.get(3);
  assert.equal(pr?.state, "probe", "out of the snapshot state");
  assert.equal(pr?.match, snapIndex);
  net.node(1).propose(bytes("after"));
  net.stabilize();
  assert.equal(net.node(1).status().progress.get(3)?.state, "replicate");
  assert.deepEqual(net.appliedData(3), ["after"]);
});
