// The log: persisted entries (RaftStorage) with the unstable part on top.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Entry, MemoryStorage } from "../../src/raft/index.ts";
import { RaftLog } from "../../src/raft/raft-log.ts";
import { bytes, Network } from "./helpers/network.ts";

const entry = (index: number, term: number, size = 10): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array(size),
});

function logWith(stored: number, unstable: number): RaftLog {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  storage.append(Array.from({ length: stored }, (_, i) => entry(i + 1, 1)));
  const log = new RaftLog(storage);
  log.append(Array.from({ length: unstable }, (_, i) => entry(stored + i + 1, 2)));
  return log;
}

test("slice spans the persisted and the unstable part, within the byte limit", () => {
  const log = logWith(5, 5);
  assert.deepEqual(
    log.slice(3, 9, Infinity).map((e) => e.index),
    [3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(
    log.slice(4, 11, 35).map((e) => e.index),
    [4, 5, 6],
    "35 bytes hold three 10-byte entries",
  );
  assert.deepEqual(
    log.slice(7, 11, 1).map((e) => e.index),
    [7],
    "at least one entry",
  );
});

test("terms come from the unstable part first, then the storage", () => {
  const log = logWith(3, 2);
  assert.equal(log.term(3), 1);
  assert.equal(log.term(4), 2);
  assert.equal(log.lastIndex(), 5);
  assert.equal(log.termOrNegative(6), -1);
});

test("a conflicting append replaces the unstable suffix and shadows persisted entries", () => {
  const log = logWith(5, 0);
  const r = log.maybeAppend(2, 1, [entry(3, 3), entry(4, 3)]);
  assert.equal(r.last, 4);
  assert.equal(r.appendedFrom, 3);
  assert.equal(log.lastIndex(), 4);
  assert.equal(log.term(3), 3);
  assert.equal(log.term(2), 1);
});

test("an append that matches what is there changes nothing (no truncation by a stale message)", () => {
  const log = logWith(5, 0);
  const r = log.maybeAppend(1, 1, [entry(2, 1)]);
  assert.equal(r.last, 2);
  assert.equal(r.appendedFrom, 0);
  assert.equal(log.lastIndex(), 5);
});

test("findConflictByTerm returns the last index of a term no newer than the hint", () => {
  const log = logWith(5, 5);
  assert.deepEqual(log.findConflictByTerm(10, 1), { index: 5, term: 1 });
  assert.deepEqual(log.findConflictByTerm(10, 2), { index: 10, term: 2 });
  assert.deepEqual(log.findConflictByTerm(3, 5), { index: 3, term: 1 });
});

test("committed entries are handed out at most maxCommittedBytesPerReady at a time", () => {
  const net = new Network([1], { maxCommittedBytesPerReady: 25 });
  net.elect(1);
  for (let i = 0; i < 5; i++) net.node(1).propose(new Uint8Array(10));
  const sizes: number[] = [];
  while (net.node(1).hasReady()) {
    const rd = net.node(1).ready();
    net.member(1).storage.append(rd.entries);
    if (rd.hardState !== undefined) net.member(1).storage.setHardState(rd.hardState);
    sizes.push(rd.committedEntries.length);
    net.node(1).advance();
  }
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.equal(net.node(1).status().applied, 6);
  net.node(1).propose(bytes("x"));
});
