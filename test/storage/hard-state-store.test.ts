import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { HardStateStore, isStorageError } from "../../src/storage/index.ts";
import { temporaryDirectory } from "./helpers.ts";

test("hard state and membership survive reopen; a fresh node starts at zero", () => {
  const dir = temporaryDirectory("hard-state");
  try {
    const store = HardStateStore.open(dir.path);
    assert.deepEqual(store.current(), {
      hardState: { term: 0, vote: 0, commit: 0 },
      membership: null,
    });
    store.save({
      hardState: { term: 3, vote: 2, commit: 10 },
      membership: { voters: [1, 2, 3], learners: [] },
    });
    store.save({ hardState: { term: 3, vote: 2, commit: 12 } });
    assert.deepEqual(HardStateStore.open(dir.path).current(), {
      hardState: { term: 3, vote: 2, commit: 12 },
      membership: { voters: [1, 2, 3], learners: [] },
    });
    assert.equal(store.saves(), 2);
  } finally {
    dir.remove();
  }
});

test("saves that would break consensus invariants are refused and change nothing", () => {
  const dir = temporaryDirectory("hard-state-invalid");
  try {
    const store = HardStateStore.open(dir.path);
    store.save({ hardState: { term: 5, vote: 1, commit: 7 } });
    const invalid = (error: unknown) => isStorageError(error, "STORAGE_INVALID_ARGUMENT");
    assert.throws(() => store.save({ hardState: { term: 4, vote: 1, commit: 7 } }), invalid);
    assert.throws(() => store.save({ hardState: { term: 5, vote: 2, commit: 7 } }), invalid);
    assert.throws(() => store.save({ hardState: { term: 5, vote: 1, commit: 6 } }), invalid);
    assert.throws(() => store.save({ hardState: { term: 5.5, vote: 1, commit: 7 } }), invalid);
    store.save({ hardState: { term: 6, vote: 0, commit: 7 } });
    assert.deepEqual(HardStateStore.open(dir.path).current().hardState, {
      term: 6,
      vote: 0,
      commit: 7,
    });
  } finally {
    dir.remove();
  }
});

test("a damaged state file is refused with STORAGE_CORRUPT_FILE naming it", () => {
  const dir = temporaryDirectory("hard-state-corrupt");
  try {
    const store = HardStateStore.open(dir.path);
    store.save({ hardState: { term: 1, vote: 1, commit: 0 } });
    const bytes = readFileSync(store.file);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x10;
    writeFileSync(store.file, bytes);
    assert.throws(
      () => HardStateStore.open(dir.path),
      (error) => isStorageError(error, "STORAGE_CORRUPT_FILE") && error.file === store.file,
    );
  } finally {
    dir.remove();
  }
});

test("saveAsync writes in call order, validates against the previous call, shows only durable state", async () => {
  const dir = temporaryDirectory("hard-state-async");
  try {
    const store = HardStateStore.open(dir.path);
    const first = store.saveAsync({ hardState: { term: 1, vote: 3, commit: 0 } });
    // Checked against the accepted (not yet durable) term-1 vote for 3.
    await assert.rejects(store.saveAsync({ hardState: { term: 1, vote: 2, commit: 0 } }), (error) =>
      isStorageError(error, "STORAGE_INVALID_ARGUMENT"),
    );
    const second = store.saveAsync({
      hardState: { term: 2, vote: 0, commit: 4 },
      membership: [1, 2],
    });
    assert.throws(
      () => store.save({ hardState: { term: 3, vote: 0, commit: 4 } }),
      (error) => isStorageError(error, "STORAGE_INVALID_ARGUMENT"),
      "a synchronous save may not overtake pending asynchronous ones",
    );
    await first;
    await second;
    assert.deepEqual(store.current(), {
      hardState: { term: 2, vote: 0, commit: 4 },
      membership: [1, 2],
    });
    assert.deepEqual(HardStateStore.open(dir.path).current(), store.current());
    store.save({ hardState: { term: 3, vote: 1, commit: 4 } });
    assert.equal(store.saves(), 3);
  } finally {
    dir.remove();
  }
});
