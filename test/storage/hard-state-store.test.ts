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
