import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  HardStateStore,
  isStorageError,
  LogStore,
  SnapshotStore,
} from "../../src/storage/index.ts";
import { payloadFor, temporaryDirectory } from "./helpers.ts";

const ENTRY_BYTES = 3000;
const diskFull = (error: unknown) => isStorageError(error, "STORAGE_DISK_FULL");

/** Mounts a 1 MiB tmpfs on a fresh directory; returns undefined (with the reason) when it cannot. */
function mountSmallTmpfs(): { path: string; cleanup(): void } | string {
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return "mounting a tmpfs needs root";
  const dir = temporaryDirectory("enospc");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.path], { stdio: "pipe" });
  } catch (error) {
    dir.remove();
    return `mount -t tmpfs failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return {
    path: dir.path,
    cleanup() {
      execFileSync("umount", [dir.path], { stdio: "pipe" });
      dir.remove();
    },
  };
}

/** Fills the rest of the volume so every later write needs space that is not there. */
function fillVolume(path: string): void {
  const fd = openSync(join(path, "filler"), "w");
  const block = Buffer.alloc(4096, 1);
  try {
    for (let k = 0; k < 1024; k++) writeSync(fd, block);
  } catch (error) {
    assert.ok(diskFull(error) || (error as { code?: string }).code === "ENOSPC");
  } finally {
    closeSync(fd);
  }
}

test("ENOSPC: typed error, writes stop, reads go on, nothing acknowledged is lost or corrupted", async (t) => {
  const volume = mountSmallTmpfs();
  if (typeof volume === "string") {
    t.skip(`cannot run the disk-full test: ${volume}`);
    return;
  }
  try {
    const logDir = join(volume.path, "log");
    const stateDir = join(volume.path, "state");
    const snapshotDir = join(volume.path, "snapshots");
    mkdirSync(stateDir);
    mkdirSync(snapshotDir);
    const hardState = HardStateStore.open(stateDir);
    hardState.save({ hardState: { term: 2, vote: 1, commit: 0 }, membership: { voters: [1] } });
    const snapshots = SnapshotStore.open({ directory: snapshotDir });
    await snapshots.save({ index: 0, term: 0, membership: null }, [new Uint8Array(1000).fill(9)]);

    // Groups of 3+ entries take the writev + fdatasync path, smaller ones the O_DSYNC path.
    const log = await LogStore.open({
      directory: logDir,
      maxSegmentBytes: 128 * 1024,
      bulkGroupBytes: 8 * 1024,
    });
    let acked = 0;
    let failure: unknown;
    // Four concurrent writers until the disk fills: failures must reach every waiting writer.
    async function writer(): Promise<void> {
      for (let k = 0; k < 2000 && failure === undefined; k++) {
        const index = log.nextIndex();
        try {
          await log.append([{ index, term: 1, type: 0, data: payloadFor(index, ENTRY_BYTES) }]);
          acked = Math.max(acked, index);
        } catch (error) {
          failure ??= error;
          return;
        }
      }
    }
    await Promise.all([writer(), writer(), writer(), writer()]);
    assert.ok(diskFull(failure), `expected STORAGE_DISK_FULL, got ${String(failure)}`);
    assert.match((failure as Error).message, /free space/);
    assert.ok(acked > 100, `only ${acked} entries fit`);

    // The store stays readable and refuses further writes with the same typed error.
    await assert.rejects(
      log.append([{ index: log.nextIndex(), term: 1, type: 0, data: new Uint8Array(1) }]),
      diskFull,
    );
    assert.ok(log.lastIndex() >= acked);
    assert.equal(log.entries(1, acked + 1, Number.MAX_SAFE_INTEGER).length, acked);
    await log.close();

    // Hard state and snapshots on the full disk: typed errors, previous content intact.
    fillVolume(volume.path);
    assert.throws(() => hardState.save({ hardState: { term: 3, vote: 0, commit: 0 } }), diskFull);
    await assert.rejects(
      hardState.saveAsync({ hardState: { term: 3, vote: 0, commit: 0 } }),
      diskFull,
    );
    assert.deepEqual(HardStateStore.open(stateDir).current().hardState, {
      term: 2,
      vote: 1,
      commit: 0,
    });
    await assert.rejects(
      snapshots.save({ index: 50, term: 1, membership: null }, [new Uint8Array(64 * 1024)]),
      diskFull,
    );
    assert.deepEqual(
      readdirSync(snapshotDir),
      ["snapshot-00000000000000000000-00000000000000000000.snap"],
      "no partial snapshot is left behind",
    );
    assert.equal(SnapshotStore.open({ directory: snapshotDir }).latest()?.index, 0);

    // Reopening on the still-full disk recovers every acknowledged entry, checksums verified.
    const reopened = await LogStore.open({ directory: logDir, maxSegmentBytes: 128 * 1024 });
    assert.ok(reopened.lastIndex() >= acked);
    const read = reopened.entries(1, acked + 1);
    assert.equal(read.length, acked);
    for (const entry of read) assert.deepEqual(entry.data, payloadFor(entry.index, ENTRY_BYTES));
    await reopened.close();
  } finally {
    volume.cleanup();
  }
});
