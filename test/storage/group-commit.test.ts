import assert from "node:assert/strict";
import { test } from "node:test";
import { LogStore } from "../../src/storage/index.ts";
import { entry, temporaryDirectory } from "./helpers.ts";

test("concurrent appends share fsyncs, and each resolves only once durable", async () => {
  const dir = temporaryDirectory("group-commit");
  try {
    const log = await LogStore.open({ directory: dir.path });
    const writers = 32;
    const perWriter = 20;
    const resolvedAt: number[] = [];
    async function writer(): Promise<void> {
      for (let k = 0; k < perWriter; k++) {
        const index = log.nextIndex();
        await log.append([entry(index, 1)]);
        // When an append resolves, its entry is readable as a durable entry.
        assert.ok(log.lastIndex() >= index);
        assert.deepEqual(log.entries(index, index + 1), [entry(index, 1)]);
        resolvedAt.push(index);
      }
    }
    await Promise.all(Array.from({ length: writers }, writer));
    const stats = log.stats();
    assert.equal(stats.appendCalls, writers * perWriter);
    assert.equal(stats.appendedEntries, writers * perWriter);
    assert.equal(resolvedAt.length, writers * perWriter);
    assert.ok(
      stats.syncCount < stats.appendCalls / 4,
      `expected far fewer fsyncs than appends, got ${stats.syncCount} for ${stats.appendCalls}`,
    );
    await log.close();
  } finally {
    dir.remove();
  }
});

test("a single writer gets one fsync per append", async () => {
  const dir = temporaryDirectory("group-commit-single");
  try {
    const log = await LogStore.open({ directory: dir.path });
    for (let index = 1; index <= 10; index++) await log.append([entry(index, 1)]);
    assert.equal(log.stats().syncCount, 10);
    await log.close();
  } finally {
    dir.remove();
  }
});
