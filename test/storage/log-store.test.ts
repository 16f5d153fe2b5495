import assert from "node:assert/strict";
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isStorageError, LogStore } from "../../src/storage/index.ts";
import { entries, entry, temporaryDirectory } from "./helpers.ts";

test("appended entries read back after reopen, across segments", async () => {
  const dir = temporaryDirectory("log-basic");
  try {
    let log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 1024 });
    assert.equal(log.firstIndex(), 1);
    assert.equal(log.lastIndex(), 0);
    assert.equal(log.term(0), 0);
    for (let from = 1; from <= 91; from += 10)
      await log.append(entries(from, 10, from <= 50 ? 1 : 2));
    assert.equal(log.lastIndex(), 100);
    assert.ok(log.stats().segmentCount > 3, "small segments roll over");
    await log.close();
    log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 1024 });
    assert.equal(log.lastIndex(), 100);
    assert.deepEqual(log.entries(1, 101), [...entries(1, 50, 1), ...entries(51, 50, 2)]);
    assert.equal(log.term(50), 1);
    assert.equal(log.term(51), 2);
    await log.close();
  } finally {
    dir.remove();
  }
});

test("entries() honours maxBytes but always returns at least one entry", async () => {
  const dir = temporaryDirectory("log-maxbytes");
  try {
    const log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 600 });
    const big = Array.from({ length: 20 }, (_, k) => entry(k + 1, 1, new Uint8Array(100).fill(k)));
    await log.append(big);
    assert.equal(log.entries(1, 21, 0).length, 1);
    assert.equal(log.entries(1, 21, 100).length, 1);
    assert.equal(log.entries(1, 21, 250).length, 2);
    assert.equal(log.entries(3, 21, 1000).length, 10);
    assert.deepEqual(log.entries(5, 21), big.slice(4));
    assert.deepEqual(log.entries(7, 7), []);
    await log.close();
  } finally {
    dir.remove();
  }
});

test("truncate, compact and reset keep the log contiguous and durable", async () => {
  const dir = temporaryDirectory("log-ops");
  try {
    let log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 512 });
    await log.append(entries(1, 40, 1));
    // Truncate without awaiting, then append the replacement suffix: the queue orders them.
    const truncated = log.truncate(31);
    assert.equal(log.nextIndex(), 31);
    await Promise.all([truncated, log.append(entries(31, 5, 3))]);
    assert.equal(log.lastIndex(), 35);
    assert.equal(log.term(31), 3);
    await log.compact(20);
    assert.equal(log.firstIndex(), 21);
    assert.equal(log.term(20), 1);
    assert.throws(
      () => log.entries(20, 22),
      (error) => isStorageError(error, "STORAGE_COMPACTED"),
    );
    assert.throws(
      () => log.entries(30, 37),
      (error) => isStorageError(error, "STORAGE_UNAVAILABLE"),
    );
    await log.close();
    log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 512 });
    assert.equal(log.firstIndex(), 21);
    assert.equal(log.lastIndex(), 35);
    assert.deepEqual(log.entries(21, 36), [...entries(21, 10, 1), ...entries(31, 5, 3)]);
    await log.reset(100, 7);
    assert.equal(log.firstIndex(), 101);
    assert.equal(log.lastIndex(), 100);
    assert.equal(log.term(100), 7);
    await log.append(entries(101, 3, 7));
    await log.close();
    log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 512 });
    assert.equal(log.firstIndex(), 101);
    assert.deepEqual(log.entries(101, 104), entries(101, 3, 7));
    await log.close();
  } finally {
    dir.remove();
  }
});

test("alignToSnapshot compacts a matching log and resets a conflicting one", async () => {
  const dir = temporaryDirectory("log-align");
  try {
    const log = await LogStore.open({ directory: dir.path });
    await log.append(entries(1, 10, 2));
    await log.alignToSnapshot(5, 2);
    assert.equal(log.firstIndex(), 6);
    assert.equal(log.lastIndex(), 10, "the matching suffix is kept");
    await log.alignToSnapshot(8, 3);
    assert.equal(log.firstIndex(), 9);
    assert.equal(log.lastIndex(), 8, "a conflicting log is discarded");
    assert.equal(log.term(8), 3);
    await log.close();
  } finally {
    dir.remove();
  }
});

test("appends that break the contract are refused with STORAGE_INVALID_ARGUMENT", async () => {
  const dir = temporaryDirectory("log-invalid");
  try {
    const log = await LogStore.open({ directory: dir.path, maxEntryBytes: 64 });
    await log.append(entries(1, 3, 2));
    const invalid = (error: unknown) => isStorageError(error, "STORAGE_INVALID_ARGUMENT");
    await assert.rejects(log.append([entry(5, 2)]), invalid);
    await assert.rejects(log.append([entry(4, 1)]), invalid);
    await assert.rejects(log.truncate(0), invalid);
    await assert.rejects(log.compact(4), invalid);
    await assert.rejects(log.append([entry(4, 2, new Uint8Array(65))]), (error) =>
      isStorageError(error, "STORAGE_LIMIT"),
    );
    await log.append([entry(4, 2)]);
    assert.equal(log.lastIndex(), 4);
    await log.close();
    await assert.rejects(log.append([entry(5, 2)]), (error) =>
      isStorageError(error, "STORAGE_CLOSED"),
    );
  } finally {
    dir.remove();
  }
});

test("a crash between recording a compaction and deleting its segments is finished on open", async () => {
  const dir = temporaryDirectory("log-interrupted-compaction");
  try {
    const options = { directory: dir.path, maxSegmentBytes: 256 };
    let log = await LogStore.open(options);
    for (let from = 1; from <= 60; from += 4) await log.append(entries(from, 4, 1));
    const before = new Map(
      readdirSync(dir.path).map((name) => [name, readFileSync(join(dir.path, name))]),
    );
    await log.compact(40);
    await log.close();
    // Put the deleted segments back, as if the process died right after the new bounds were written.
    for (const [name, bytes] of before)
      if (name.endsWith(".seg") && !existsSync(join(dir.path, name)))
        writeFileSync(join(dir.path, name), bytes);
    log = await LogStore.open(options);
    assert.equal(log.firstIndex(), 41);
    assert.deepEqual(log.entries(41, 61), entries(41, 20, 1));
    assert.ok(readdirSync(dir.path).length < before.size, "the stale segments are deleted");
    await log.close();
  } finally {
    dir.remove();
  }
});

test("a crash inside reset (new segment created, bounds not yet written) leaves a consistent log", async () => {
  const dir = temporaryDirectory("log-interrupted-reset");
  try {
    let log = await LogStore.open({ directory: dir.path });
    await log.append(entries(1, 10, 1));
    await log.compact(5);
    await log.close();
    // The reset to (100, 4) deleted the old segments and created the new one, then died.
    for (const name of readdirSync(dir.path))
      if (name.endsWith(".seg")) rmSync(join(dir.path, name));
    writeFileSync(
      join(dir.path, `${"101".padStart(20, "0")}.seg`),
      Buffer.from("HHLOG001", "latin1"),
    );
    log = await LogStore.open({ directory: dir.path });
    assert.equal(log.firstIndex(), 6, "the old bounds still rule");
    assert.equal(log.lastIndex(), 5);
    assert.equal(log.term(5), 1);
    // The node repairs it against its durable snapshot at startup.
    await log.alignToSnapshot(100, 4);
    assert.equal(log.firstIndex(), 101);
    await log.append(entries(101, 2, 4));
    await log.close();
  } finally {
    dir.remove();
  }
});

test("limits: queued bytes beyond maxPendingBytes are refused; reads work with few cached descriptors", async () => {
  const dir = temporaryDirectory("log-limits");
  try {
    const log = await LogStore.open({
      directory: dir.path,
      maxPendingBytes: 1000,
      maxSegmentBytes: 200,
      maxOpenSegments: 2,
    });
    const big = (index: number) => entry(index, 1, new Uint8Array(400).fill(index));
    const first = log.append([big(1)]);
    const second = log.append([big(2)]);
    // 2 x 425 bytes are queued; a third would pass 1000.
    await assert.rejects(log.append([big(3)]), (error) => isStorageError(error, "STORAGE_LIMIT"));
    await Promise.all([first, second]);
    for (let index = 3; index <= 12; index++) await log.append([big(index)]);
    assert.ok(log.stats().segmentCount >= 10);
    for (let round = 0; round < 2; round++) {
      for (let index = 1; index <= 12; index++)
        assert.deepEqual(log.entries(index, index + 1), [big(index)]);
    }
    assert.deepEqual(
      log.entries(1, 13),
      Array.from({ length: 12 }, (_, k) => big(k + 1)),
    );
    if (existsSync("/proc/self/fd")) {
      const open = readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir.path);
        } catch {
          return false; // closed while listing
        }
      });
      assert.ok(
        open.length <= 3,
        `${open.length} descriptors open on the log: 2 cached + the active segment at most`,
      );
    }
    await log.close();
  } finally {
    dir.remove();
  }
});
