// Leader election (Raft §5.2), pre-vote (diss. §9.6) and check-quorum / leader lease (diss. §6.2).

import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage, RaftNode } from "../../src/raft/index.ts";
import { Network, seededRandom } from "./helpers/network.ts";

test("a follower that hears nothing for its election timeout becomes leader of a fresh cluster", () => {
  const net = new Network([1, 2, 3]);
  net.tick(25);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  for (const id of [1, 2, 3]) assert.equal(net.node(id).status().leaderId, leaders[0]);
});

test("election timeouts are drawn from [electionTimeout, 2 * electionTimeout) by config.random", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 60; seed++) {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
    const node = new RaftNode({
      id: 1,
      storage,
      random: seededRandom(seed),
      electionTimeoutTicks: 10,
    });
    let ticks = 0;
    while (node.status().role === "follower") {
      node.tick();
      ticks++;
      assert.ok(ticks < 20, `seed ${seed}: no campaign within 2 * electionTimeout`);
    }
    assert.ok(
      ticks >= 10,
      `seed ${seed}: campaigned after ${ticks} ticks, before the election timeout`,
    );
    seen.add(ticks);
  }
  assert.ok(seen.size >= 5, `timeouts should be randomized, saw only ${[...seen].join(",")}`);
});

test("the same seed gives the same election: the core is deterministic", () => {
  const run = (): number[] => {
    const net = new Network([1, 2, 3, 4, 5], {}, 42);
    net.tick(30);
    return [...net.members.keys()].map(
      (id) => net.node(id).status().term * 10 + (net.leaders()[0] ?? 0),
    );
  };
  assert.deepEqual(run(), run());
});

test("a pre-candidate does not bump its term", () => {
  const net = new Network([1, 2, 3]);
  net.isolate(1);
  const before = net.node(1).status().term;
  net.node(1).campaign();
  net.stabilize();
  assert.equal(net.node(1).status().role, "pre-candidate");
  assert.equal(net.node(1).status().term, before);
});

test("a node cannot win an election without a majority of votes", () => {
  const net = new Network([1, 2, 3, 4, 5], { preVote: false });
  net.partition([1, 2], [3, 4, 5]);
  net.elect(1);
  assert.equal(net.node(1).status().role, "candidate");
  assert.deepEqual(net.leaders(), []);
});

test("each node votes for at most one candidate in a term", () => {
  const net = new Network([1, 2, 3], { preVote: false });
  net.isolate(3);
  net.elect(1); // 1 and 2 vote for 1 in term 1
  assert.deepEqual(net.leaders(), [1]);
  const voteOf2 = net.node(2).status().vote;
  assert.equal(voteOf2, 1);
  // A vote request from 3 in the same term is refused: 2 already voted.
  net.node(2).step({
    type: "vote",
    from: 3,
    to: 2,
    term: 1,
    logTerm: 1,
    index: 1,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  net.stabilize();
  assert.equal(net.node(2).status().vote, 1);
});

test("a vote is refused to a candidate whose log is less up to date (election restriction)", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.elect(1);
  net.node(1).propose(new Uint8Array([1]));
  net.stabilize();
  // Node 3 with a shorter log asks node 2 for a vote in a higher term.
  net.node(2).step({
    type: "vote",
    from: 3,
    to: 2,
    term: 5,
    logTerm: 1,
    index: 1,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  const rd = net.node(2).ready();
  const resp = rd.messages.find((m) => m.type === "vote-response");
  assert.ok(resp);
  assert.equal(resp.reject, true);
  net.node(2).advance();
});

test("a pre-vote is granted only for an up-to-date log and a term >= ours", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.elect(1);
  const term = net.node(2).status().term;
  const lastIndex = net.node(2).status().lastIndex;
  const ask = (t: number, logTerm: number, index: number): boolean => {
    net.node(2).step({
      type: "pre-vote",
      from: 3,
      to: 2,
      term: t,
      logTerm,
      index,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
    });
    const rd = net.node(2).ready();
    net.node(2).advance();
    const resp = rd.messages.find((m) => m.type === "pre-vote-response");
    assert.ok(resp);
    return !resp.reject;
  };
  assert.equal(ask(term + 1, term, lastIndex), true);
  assert.equal(ask(term + 1, term, lastIndex - 1), false, "log behind");
  assert.equal(ask(term - 1 < 0 ? 0 : term, term, lastIndex), false, "same term, 2 knows a leader");
  assert.equal(net.node(2).status().term, term, "a pre-vote never changes the voter's term");
});

test("check-quorum: a leader that hears from no quorum for an election timeout steps down", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  net.tick(9);
  assert.equal(net.node(1).status().role, "leader", "still within the election timeout");
  net.tick(1);
  assert.notEqual(net.node(1).status().role, "leader");
});

test("without check-quorum an isolated leader keeps believing it leads", () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.elect(1);
  net.isolate(1);
  net.tick(30);
  assert.equal(net.node(1).status().role, "leader");
});

test("a node rejoining from a partition cannot depose a healthy leader (pre-vote + lease)", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const term = net.node(1).status().term;
  net.isolate(3);
  net.tick(50); // 3 times out again and again, pre-voting alone
  assert.equal(net.node(3).status().term, term, "pre-vote keeps the partitioned node's term");
  net.heal();
  net.tick(5);
  assert.deepEqual(net.leaders(), [1]);
  assert.equal(net.node(1).status().term, term);
  assert.equal(net.node(3).status().leaderId, 1);
});

test("leader lease: with check-quorum, a follower that hears from the leader ignores vote requests", () => {
  const net = new Network([1, 2, 3], { preVote: false });
  net.elect(1);
  const term = net.node(2).status().term;
  net.node(2).step({
    type: "vote",
    from: 3,
    to: 2,
    term: term + 5,
    logTerm: 99,
    index: 99,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  assert.equal(net.node(2).status().term, term, "the vote request did not bump the term");
  assert.equal(net.node(2).hasReady(), false, "no answer at all");
  // Once the election timeout has passed without hearing from the leader, it votes.
  net.isolate(2);
  net.tickNode(2, 10);
  net.node(2).step({
    type: "vote",
    from: 3,
    to: 2,
    term: term + 5,
    logTerm: 99,
    index: 99,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  });
  assert.equal(net.node(2).status().term, term + 5);
  assert.equal(net.node(2).status().vote, 3);
});

test("a partitioned minority leader is replaced and steps down on hearing the new term", () => {
  const net = new Network([1, 2, 3, 4, 5]);
  net.elect(1);
  net.partition([1, 2], [3, 4, 5]);
  net.tick(40);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.ok([3, 4, 5].includes(leaders[0]!));
  net.heal();
  net.tick(5);
  assert.deepEqual(net.leaders(), leaders);
  assert.equal(net.node(1).status().leaderId, leaders[0]);
});

test("split votes are resolved by randomized timeouts", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const net = new Network([1, 2, 3, 4, 5], { preVote: false }, seed);
    net.tick(60);
    assert.equal(net.leaders().length, 1, `seed ${seed}`);
  }
});

test("a learner never campaigns", () => {
  const net = new Network([1, 2, 3], {}, 1, [4]);
  net.isolate(4);
  net.tick(100);
  assert.equal(net.node(4).status().role, "follower");
  assert.equal(net.node(4).status().term, 0);
});

test("a single-voter cluster elects itself at once", () => {
  const net = new Network([1]);
  net.elect(1);
  assert.deepEqual(net.leaders(), [1]);
  assert.equal(net.node(1).status().commit, 1, "the no-op commits without anyone else");
});
