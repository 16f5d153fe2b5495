import assert from "node:assert/strict";
import { test } from "node:test";
import { type Entry, MemoryStorage, RaftError } from "../../src/raft/index.ts";

const isCode = (code: string) => (err: unknown) => err instanceof RaftError && err.code === code;
const entry = (index: number, term: number, size = 1): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array(size),
});

function storageWith(n: number): MemoryStorage {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  s.append(Array.from({ length: n }, (_, i) => entry(i + 1, 1, 10)));
  s.setHardState({ term: 1, vote: 1, commit: n });
  return s;
}

test("append replaces a conflicting suffix", () => {
  const s = storageWith(5);
  s.append([entry(3, 2), entry(4, 2)]);
  assert.equal(s.lastIndex(), 4);
  assert.equal(s.term(3), 2);
  assert.equal(s.term(2), 1);
});

test("append refuses a gap with UNAVAILABLE", () => {
  const s = storageWith(2);
  assert.throws(() => s.append([entry(5, 1)]), isCode("UNAVAILABLE"));
});

test("entries respects maxBytes but returns at least one entry", () => {
  const s = storageWith(5);
  assert.equal(s.entries(1, 6, 25).length, 2);
  assert.equal(s.entries(1, 6, 1).length, 1);
  assert.equal(s.entries(1, 6, Infinity).length, 5);
});

test("createSnapshot + compact: compacted ranges fail with COMPACTED, future ones with UNAVAILABLE", () => {
  const s = storageWith(5);
  s.createSnapshot(3, undefined, new Uint8Array([9]));
  s.compact(3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(3), 1, "the snapshot's last term stays known");
  assert.throws(() => s.entries(2, 4, Infinity), isCode("COMPACTED"));
  assert.throws(() => s.term(2), isCode("COMPACTED"));
  assert.throws(() => s.term(6), isCode("UNAVAILABLE"));
  assert.throws(() => s.entries(4, 7, Infinity), isCode("UNAVAILABLE"));
  assert.deepEqual(s.snapshot().metadata, {
    index: 3,
    term: 1,
    confState: { voters: [1], learners: [] },
  });
});

test("compact cannot pass the latest snapshot; createSnapshot cannot pass the commit index", () => {
  const s = storageWith(5);
  assert.throws(() => s.compact(2), isCode("UNAVAILABLE"));
  s.setHardState({ term: 1, vote: 1, commit: 3 });
  assert.throws(() => s.createSnapshot(4, undefined, new Uint8Array(0)), isCode("UNAVAILABLE"));
});

test("applySnapshot replaces the whole log", () => {
  const s = storageWith(5);
  s.applySnapshot({
    metadata: { index: 10, term: 3, confState: { voters: [1, 2], learners: [] } },
    data: new Uint8Array(0),
  });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(10), 3);
  assert.deepEqual(s.initialState().confState, { voters: [1, 2], learners: [] });
});

test("hard state and conf state read back", () => {
  const s = storageWith(2);
  assert.deepEqual(s.hardState(), { term: 1, vote: 1, commit: 2 });
  assert.deepEqual(s.confState(), { voters: [1], learners: [] });
  assert.deepEqual(s.initialState().hardState, s.hardState());
});
