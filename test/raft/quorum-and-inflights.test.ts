import assert from "node:assert/strict";
import { test } from "node:test";
import { Inflights } from "../../src/raft/inflights.ts";
import { committedIndex, isQuorum, majority, voteResult } from "../../src/raft/quorum.ts";

test("majority of n voters", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(majority), [1, 2, 2, 3, 3, 4, 4]);
});

test("committed index is the highest index a majority has matched", () => {
  const match = new Map([
    [1, 10],
    [2, 7],
    [3, 3],
    [4, 9],
    [5, 1],
  ]);
  assert.equal(
    committedIndex([1, 2, 3, 4, 5], (id) => match.get(id)!, []),
    7,
  );
  assert.equal(
    committedIndex([1, 2, 3], (id) => match.get(id)!, []),
    7,
  );
  assert.equal(
    committedIndex([1, 3], (id) => match.get(id)!, []),
    3,
  );
  assert.equal(
    committedIndex([1], (id) => match.get(id)!, []),
    10,
  );
});

test("vote results: won, lost, pending", () => {
  const voters = [1, 2, 3, 4, 5];
  assert.equal(
    voteResult(
      voters,
      new Map([
        [1, true],
        [2, true],
      ]),
    ),
    "pending",
  );
  assert.equal(
    voteResult(
      voters,
      new Map([
        [1, true],
        [2, true],
        [3, true],
      ]),
    ),
    "won",
  );
  assert.equal(
    voteResult(
      voters,
      new Map([
        [1, true],
        [2, false],
        [3, false],
        [4, false],
      ]),
    ),
    "lost",
  );
  assert.equal(
    voteResult(
      voters,
      new Map([
        [9, true],
        [8, true],
        [1, true],
      ]),
    ),
    "pending",
    "non-voters do not count",
  );
});

test("isQuorum counts only voters", () => {
  assert.equal(
    isQuorum([1, 2, 3], (id) => id !== 3),
    true,
  );
  assert.equal(
    isQuorum([1, 2, 3], (id) => id === 1),
    false,
  );
});

test("inflights fill by count and by bytes, and free acknowledged messages", () => {
  const byCount = new Inflights(3, 1_000_000);
  byCount.add(5, 10);
  byCount.add(8, 10);
  assert.equal(byCount.full(), false);
  byCount.add(9, 10);
  assert.equal(byCount.full(), true);
  byCount.freeLE(8);
  assert.equal(byCount.count, 1);
  assert.equal(byCount.bytes, 10);
  byCount.add(12, 5);
  byCount.add(15, 5);
  byCount.freeFirstOne();
  assert.equal(byCount.count, 2);

  const byBytes = new Inflights(100, 25);
  byBytes.add(1, 10);
  byBytes.add(2, 10);
  assert.equal(byBytes.full(), false);
  byBytes.add(3, 10);
  assert.equal(byBytes.full(), true);
  byBytes.freeLE(1);
  assert.equal(byBytes.full(), false);
});
