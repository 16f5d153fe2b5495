// The log's write pipeline: groups are written while an earlier group's fdatasync is in flight,
// but an append resolves only after an fdatasync that started after its write completed, groups
// resolve in order, and a failed write or sync fails everything not yet durable and stops the log.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isStorageError, LogStore } from "../../src/storage/index.ts";
import { type LogIo, nodeLogIo } from "../../src/storage/log-io.ts";
import { entries, entry, temporaryDirectory } from "./helpers.ts";

/** Real file operations, with every fdatasync held until the test releases (or fails) it. */
class GatedIo implements LogIo {
  readonly events: string[] = [];
  readonly heldSyncs: Array<(error?: Error) => void> = [];
  /** Fails the write that starts at this file offset. */
  failWriteAt: number | undefined;
  /** While set, writes wait in `heldWrites` until the test runs them. */
  holdWrites = false;
  readonly heldWrites: Array<() => void> = [];

  writev(
    fd: number,
    buffers: readonly Buffer[],
    position: number,
    callback: (error: Error | null, written: number) => void,
  ): void {
    this.events.push(`write@${position}`);
    if (position === this.failWriteAt) {
      const error = Object.assign(new Error("EIO: injected write failure"), { code: "EIO" });
      setImmediate(() => callback(error, 0));
      return;
    }
    const write = () =>
      nodeLogIo.writev(fd, buffers, position, (error, written) => {
        this.events.push(`written@${position}`);
        callback(error, written);
      });
    if (this.holdWrites) this.heldWrites.push(write);
    else write();
  }

  fdatasync(fd: number, callback: (error: Error | null) => void): void {
    const number = this.heldSyncs.length + 1;
    this.events.push(`sync${number}`);
    this.heldSyncs.push((error) => {
      if (error !== undefined) {
        this.events.push(`sync${number} failed`);
        setImmediate(() => callback(error));
      } else {
        nodeLogIo.fdatasync(fd, (syncError) => {
          this.events.push(`sync${number} done`);
          callback(syncError);
        });
      }
    });
  }

  release(number: number, error?: Error): void {
    const release = this.heldSyncs[number - 1];
    assert.ok(release !== undefined, `no fdatasync number ${number} was started`);
    release(error);
  }
}

/** Follows a promise's outcome without awaiting it. */
function track(promise: Promise<void>): {
  state: "pending" | "resolved" | "rejected";
  error?: unknown;
} {
  const tracked: { state: "pending" | "resolved" | "rejected"; error?: unknown } = {
    state: "pending",
  };
  promise.then(
    () => {
      tracked.state = "resolved";
    },
    (error: unknown) => {
      tracked.state = "rejected";
      tracked.error = error;
    },
  );
  return tracked;
}

/** Waits (bounded) until `condition` holds, letting I/O callbacks run. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets a few turns of the event loop pass (for asserting that something did not happen). */
async function settleTurns(): Promise<void> {
  for (let k = 0; k < 20; k++) await new Promise((resolve) => setTimeout(resolve, 1));
}

// bulkGroupBytes: 1 sends every group through writev + fdatasync (the O_DSYNC path needs no
// separate sync, so it has nothing to hold).
const PIPELINED = { bulkGroupBytes: 1 } as const;

test("an append resolves only after the fdatasync covering it returns", async () => {
  const dir = temporaryDirectory("pipeline-order");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const first = track(log.append(entries(1, 3, 1)));
    await until(() => io.heldSyncs.length === 1, "the first fdatasync");
    assert.deepEqual(io.events, ["write@8", "written@8", "sync1"]);
    await settleTurns();
    assert.equal(first.state, "pending", "resolved before its fdatasync returned");
    assert.equal(log.lastIndex(), 0, "entries became readable before they were durable");
    io.release(1);
    await until(() => first.state !== "pending", "the first append");
    assert.equal(first.state, "resolved");
    assert.deepEqual(log.entries(1, 4), entries(1, 3, 1));
    await log.close();
  } finally {
    dir.remove();
  }
});

test("a group written during an earlier group's fdatasync waits for a later fdatasync", async () => {
  const dir = temporaryDirectory("pipeline-overlap");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const first = track(log.append(entries(1, 2, 1)));
    await until(() => io.heldSyncs.length === 1, "the first fdatasync");
    // Written to the file while sync1 is in flight, but not covered by it.
    const second = track(log.append(entries(3, 2, 1)));
    const third = track(log.append(entries(5, 1, 2)));
    await until(() => io.events.filter((e) => e.startsWith("written")).length === 2, "write 2");
    await settleTurns();
    assert.equal(io.heldSyncs.length, 1, "a second fdatasync started while one was in flight");
    assert.equal(second.state, "pending");
    io.release(1);
    await until(() => first.state === "resolved", "the first append");
    assert.equal(log.lastIndex(), 2);
    // sync2 starts when sync1 returns and covers everything written meanwhile.
    await until(() => io.heldSyncs.length === 2, "the second fdatasync");
    await settleTurns();
    assert.equal(second.state, "pending", "resolved by an fdatasync that began before its write");
    assert.equal(third.state, "pending");
    assert.equal(log.lastIndex(), 2);
    // Every write completed before sync2 began.
    const sync2At = io.events.indexOf("sync2");
    io.events.forEach((event, at) => {
      if (event.startsWith("written@")) assert.ok(at < sync2At, `${event} after sync2`);
    });
    io.release(2);
    await until(() => third.state === "resolved", "the third append");
    assert.equal(second.state, "resolved");
    assert.equal(log.lastIndex(), 5);
    assert.deepEqual(log.entries(1, 6), [...entries(1, 4, 1), entry(5, 2)]);
    // Order on the way out: sync1's result before sync2 even started.
    const order = io.events.filter((e) => e.startsWith("sync"));
    assert.deepEqual(order, ["sync1", "sync1 done", "sync2", "sync2 done"]);
    await log.close();
    const reopened = await LogStore.open({ directory: dir.path });
    assert.deepEqual(reopened.entries(1, 6), [...entries(1, 4, 1), entry(5, 2)]);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("an fdatasync never covers a write still in flight", async () => {
  const dir = temporaryDirectory("pipeline-write-in-flight");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const first = track(log.append(entries(1, 2, 1)));
    await until(() => io.heldSyncs.length === 1, "sync1");
    io.holdWrites = true;
    const second = track(log.append(entries(3, 2, 1)));
    await until(() => io.heldWrites.length === 1, "the second write");
    io.release(1); // sync1 returns while the second write is still in flight
    await until(() => first.state === "resolved", "the first append");
    await settleTurns();
    assert.equal(io.heldSyncs.length, 1, "an fdatasync started before the write it covers ended");
    assert.equal(second.state, "pending");
    io.holdWrites = false;
    io.heldWrites[0]?.();
    await until(() => io.heldSyncs.length === 2, "sync2");
    assert.ok(
      io.events.lastIndexOf("sync2") > io.events.findLastIndex((e) => e.startsWith("written@")),
    );
    io.release(2);
    await until(() => second.state === "resolved", "the second append");
    assert.deepEqual(log.entries(1, 5), entries(1, 4, 1));
    await log.close();
  } finally {
    dir.remove();
  }
});

test("the pieces of a burst are all written before one fdatasync covers them, up to maxGroupBytes", async () => {
  const dir = temporaryDirectory("pipeline-burst");
  try {
    const io = new GatedIo();
    // Each 1,025-byte record closes its group (eagerGroupBytes 1000); a sync waits for further
    // ready groups only while less than 2,500 bytes are unsynced.
    const log = await LogStore.open(
      { directory: dir.path, bulkGroupBytes: 1, eagerGroupBytes: 1000, maxGroupBytes: 2500 },
      io,
    );
    const data = new Uint8Array(1000).fill(7);
    const appends = [1, 2, 3, 4, 5].map((index) => track(log.append([entry(index, 1, data)])));
    await until(() => io.events.filter((e) => e.startsWith("written@")).length === 5, "writes");
    await settleTurns();
    const at = (offset: number) => io.events.indexOf(`written@${offset}`);
    const offsets = [0, 1, 2, 3, 4].map((k) => 8 + k * 1025);
    // Three groups (3,075 bytes) before sync1; the last two written while it runs.
    assert.deepEqual(io.heldSyncs.length, 1);
    const sync1 = io.events.indexOf("sync1");
    assert.ok(
      at(offsets[2] as number) < sync1 && sync1 < at(offsets[3] as number),
      io.events.join(" "),
    );
    assert.ok(appends.every((append) => append.state === "pending"));
    io.release(1);
    await until(() => io.heldSyncs.length === 2, "sync2");
    await settleTurns();
    assert.deepEqual(
      appends.map((append) => append.state),
      ["resolved", "resolved", "resolved", "pending", "pending"],
    );
    io.release(2);
    await until(() => appends.every((append) => append.state === "resolved"), "all appends");
    assert.equal(log.stats().syncCount, 2);
    assert.equal(log.lastIndex(), 5);
    await log.close();
  } finally {
    dir.remove();
  }
});

test("a failed fdatasync fails every append it covered and everything after, and stops the log", async () => {
  const dir = temporaryDirectory("pipeline-sync-failure");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const durable = track(log.append(entries(1, 2, 1)));
    await until(() => io.heldSyncs.length === 1, "sync1");
    io.release(1);
    await until(() => durable.state === "resolved", "the durable append");

    const covered = track(log.append(entries(3, 2, 1)));
    await until(() => io.heldSyncs.length === 2, "sync2");
    const written = track(log.append(entries(5, 2, 1))); // written during sync2, not covered by it
    const writtenCount = () => io.events.filter((event) => event.startsWith("written@")).length;
    await until(() => writtenCount() === 3, "the write during sync2");
    io.release(2, Object.assign(new Error("EIO: injected fdatasync failure"), { code: "EIO" }));
    await until(() => covered.state !== "pending" && written.state !== "pending", "rejections");
    assert.equal(covered.state, "rejected");
    assert.ok(isStorageError(covered.error, "STORAGE_IO"), String(covered.error));
    assert.equal(written.state, "rejected");
    assert.equal(log.lastIndex(), 2, "entries of a failed sync became readable");
    await assert.rejects(log.append(entries(7, 1, 1)), (error) =>
      isStorageError(error, "STORAGE_WRITES_STOPPED"),
    );
    await assert.rejects(log.truncate(2), (error) =>
      isStorageError(error, "STORAGE_WRITES_STOPPED"),
    );
    assert.deepEqual(log.entries(1, 3), entries(1, 2, 1), "reads go on");
    await log.close();
    // The non-durable tail was cut: reopening finds exactly the acknowledged entries.
    const reopened = await LogStore.open({ directory: dir.path });
    assert.equal(reopened.lastIndex(), 2);
    await reopened.append(entries(3, 1, 3));
    assert.deepEqual(reopened.entries(1, 4), [...entries(1, 2, 1), entry(3, 3)]);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("a failed write during a sync: the synced group still resolves, the rest fail", async () => {
  const dir = temporaryDirectory("pipeline-write-failure");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const first = track(log.append(entries(1, 2, 1)));
    await until(() => io.heldSyncs.length === 1, "sync1");
    io.failWriteAt = 8 + entries(1, 2, 1).reduce((sum, e) => sum + 25 + e.data.length, 0);
    const second = track(log.append(entries(3, 2, 1)));
    await until(() => io.events.includes(`write@${io.failWriteAt}`), "the failing write");
    await settleTurns();
    // The failure must not cut or reject the group whose sync is still running.
    assert.equal(first.state, "pending");
    io.release(1);
    await until(() => first.state !== "pending" && second.state !== "pending", "both appends");
    assert.equal(first.state, "resolved");
    assert.equal(second.state, "rejected");
    assert.ok(isStorageError(second.error, "STORAGE_IO"), String(second.error));
    assert.equal(io.heldSyncs.length, 1, "a sync started after the failure");
    await assert.rejects(log.append(entries(3, 1, 1)), (error) =>
      isStorageError(error, "STORAGE_WRITES_STOPPED"),
    );
    await log.close();
    const reopened = await LogStore.open({ directory: dir.path });
    assert.deepEqual(reopened.entries(1, 3), entries(1, 2, 1));
    assert.equal(reopened.lastIndex(), 2);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("truncate waits for every pipelined group to be durable, then applies in call order", async () => {
  const dir = temporaryDirectory("pipeline-truncate");
  try {
    const io = new GatedIo();
    const log = await LogStore.open({ directory: dir.path, ...PIPELINED }, io);
    const first = track(log.append(entries(1, 4, 1)));
    await until(() => io.heldSyncs.length === 1, "sync1");
    const second = track(log.append(entries(5, 2, 1)));
    const truncated = track(log.truncate(3));
    const replaced = track(log.append(entries(3, 2, 2)));
    await settleTurns();
    assert.equal(truncated.state, "pending");
    io.release(1);
    await until(() => io.heldSyncs.length === 2, "sync2");
    await settleTurns();
    assert.equal(first.state, "resolved");
    assert.equal(truncated.state, "pending", "truncate ran before the group ahead was durable");
    io.release(2);
    await until(() => io.heldSyncs.length === 3, "sync3");
    io.release(3);
    await until(() => replaced.state === "resolved", "the replacing append");
    assert.equal(second.state, "resolved");
    assert.equal(truncated.state, "resolved");
    assert.deepEqual(log.entries(1, 5), [...entries(1, 2, 1), ...entries(3, 2, 2)]);
    assert.equal(log.lastIndex(), 4);
    await log.close();
  } finally {
    dir.remove();
  }
});

test("many writers with large groups and segment roll-over keep the log contiguous", async () => {
  const dir = temporaryDirectory("pipeline-stress");
  try {
    // Small eager and segment sizes: groups are cut mid-burst and pipelined, segments roll often.
    const log = await LogStore.open({
      directory: dir.path,
      eagerGroupBytes: 2048,
      bulkGroupBytes: 1024,
      maxSegmentBytes: 32 * 1024,
    });
    const writers = 16;
    const perWriter = 40;
    let resolvedUpTo = 0;
    async function writer(): Promise<void> {
      for (let k = 0; k < perWriter; k++) {
        const index = log.nextIndex();
        await log.append([entry(index, 1, new Uint8Array(300 + (index % 200)).fill(index & 0xff))]);
        // In-order resolution: everything before a resolved append is durable too.
        assert.ok(log.lastIndex() >= index);
        resolvedUpTo = Math.max(resolvedUpTo, index);
      }
    }
    await Promise.all(Array.from({ length: writers }, writer));
    assert.equal(resolvedUpTo, writers * perWriter);
    assert.ok(log.stats().segmentCount > 3, `only ${log.stats().segmentCount} segments`);
    await log.close();
    const reopened = await LogStore.open({ directory: dir.path });
    const all = reopened.entries(1, writers * perWriter + 1);
    assert.equal(all.length, writers * perWriter);
    for (const [k, got] of all.entries()) {
      const index = k + 1;
      assert.equal(got.index, index);
      assert.equal(got.data.length, 300 + (index % 200));
      assert.equal(got.data[0], index & 0xff);
    }
    await reopened.close();
  } finally {
    dir.remove();
  }
});
