import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_RAFT_CONFIG, MemoryStorage, RaftError, RaftNode } from "../../src/raft/index.ts";
import { RaftLog } from "../../src/raft/raft-log.ts";
import { bytes, Network } from "./helpers/network.ts";

const isCode = (code: string) => (err: unknown) => err instanceof RaftError && err.code === code;

test("status reports role, leader, term, indexes, membership and per-member progress on the leader", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("x"));
  net.stabilize();
  net.tick(1);
  const s = net.node(1).status();
  assert.equal(s.role, "leader");
  assert.equal(s.leaderId, 1);
  assert.equal(s.commit, 2);
  assert.equal(s.applied, 2);
  assert.equal(s.lastIndex, 2);
  assert.deepEqual(s.confState, { voters: [1, 2, 3], learners: [] });
  for (const id of [1, 2, 3]) {
    const p = s.progress.get(id);
    assert.ok(p);
    assert.equal(p.match, 2);
    assert.equal(p.next, 3);
    assert.equal(p.state, "replicate");
    assert.equal(p.inflightMessages, 0);
    assert.ok(p.lastContactTicks <= 1);
  }
  const f = net.node(2).status();
  assert.equal(f.role, "follower");
  assert.equal(f.leaderId, 1);
  assert.equal(f.progress.size, 0, "progress is only known on the leader");
});

test("lastContactTicks grows while a member is silent", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.tick(5);
  assert.equal(net.node(1).status().progress.get(3)?.lastContactTicks, 5);
  assert.equal(net.node(1).status().progress.get(3)?.recentActive, true);
});

test("Ready: hard state and entries are handed out once; mustSync for term, vote and entries", () => {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  const node = new RaftNode({ id: 1, storage, random: () => 0 });
  assert.equal(node.hasReady(), false);
  node.campaign();
  const rd = node.ready();
  assert.equal(rd.mustSync, true);
  assert.equal(rd.softState?.role, "leader");
  assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 1 });
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.committedEntries.length, 1);
  storage.append(rd.entries);
  storage.setHardState(rd.hardState!);
  node.advance();
  assert.equal(node.hasReady(), false);
  assert.equal(node.status().applied, 1);
});

test("ready() twice without advance() is a caller bug (INVARIANT)", () => {
  const node = new RaftNode({
    id: 1,
    storage: new MemoryStorage({ voters: [1], learners: [] }),
    random: () => 0,
  });
  node.campaign();
  node.ready();
  assert.throws(() => node.ready(), isCode("INVARIANT"));
});

test("a persisted commit index beyond the persisted log is a broken invariant", () => {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  storage.setHardState({ term: 1, vote: 1, commit: 5 });
  assert.throws(() => new RaftNode({ id: 1, storage, random: () => 0 }), isCode("INVARIANT"));
});

test("the log refuses to rewrite a committed entry or apply beyond the commit index (INVARIANT)", () => {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  storage.append(
    [1, 2, 3].map((index) => ({ index, term: 1, type: "normal" as const, data: bytes("e") })),
  );
  const log = new RaftLog(storage);
  log.commitTo(3);
  assert.throws(
    () => log.maybeAppend(1, 1, [{ index: 2, term: 5, type: "normal", data: bytes("x") }]),
    isCode("INVARIANT"),
  );
  assert.throws(
    () => log.append([{ index: 2, term: 5, type: "normal", data: bytes("x") }]),
    isCode("INVARIANT"),
  );
  assert.throws(() => log.commitTo(9), isCode("INVARIANT"));
  assert.throws(() => log.appliedTo(4), isCode("INVARIANT"));
  log.appliedTo(2);
  assert.throws(() => log.appliedTo(1), isCode("INVARIANT"), "applied index going backwards");
});

test("invalid configuration fails with INVALID_CONFIG", () => {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  assert.throws(() => new RaftNode({ id: 0, storage, random: () => 0 }), isCode("INVALID_CONFIG"));
  assert.throws(
    () =>
      new RaftNode({
        id: 1,
        storage,
        random: () => 0,
        heartbeatIntervalTicks: 10,
        electionTimeoutTicks: 10,
      }),
    isCode("INVALID_CONFIG"),
  );
  assert.throws(
    () => new RaftNode({ id: 1, storage, random: () => 0, maxInflightMessages: 0 }),
    isCode("INVALID_CONFIG"),
  );
  assert.throws(
    () => new RaftNode({ id: 1, storage, random: () => 0, appliedIndex: 3 }),
    isCode("INVALID_CONFIG"),
  );
});

test("documented defaults", () => {
  assert.equal(DEFAULT_RAFT_CONFIG.electionTimeoutTicks, 10);
  assert.equal(DEFAULT_RAFT_CONFIG.heartbeatIntervalTicks, 1);
  assert.equal(DEFAULT_RAFT_CONFIG.preVote, true);
  assert.equal(DEFAULT_RAFT_CONFIG.checkQuorum, true);
  assert.equal(DEFAULT_RAFT_CONFIG.readOnlyOption, "safe");
});

test("messages to another node or from a stale term are dropped safely", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const before = net.node(2).status();
  net.node(2).step({
    type: "append",
    from: 1,
    to: 3,
    term: before.term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  assert.equal(net.node(2).hasReady(), false);
  net.node(2).step({
    type: "vote-response",
    from: 3,
    to: 2,
    term: before.term - 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  assert.deepEqual(net.node(2).status().term, before.term);
});
