import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  crc32c,
  isStorageError,
  type SnapshotReader,
  SnapshotStore,
} from "../../src/storage/index.ts";
import { temporaryDirectory } from "./helpers.ts";

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, k) => (k * 31 + seed) & 0xff);
}

async function readAll(reader: SnapshotReader, chunkBytes = 1000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const { data } of reader.chunks(chunkBytes)) parts.push(data);
  await reader.close();
  return new Uint8Array(Buffer.concat(parts));
}

test("a snapshot written as a stream reads back with its metadata, and the last K are kept", async () => {
  const dir = temporaryDirectory("snap-basic");
  try {
    let store = SnapshotStore.open({ directory: dir.path, keep: 2 });
    assert.equal(store.latest(), undefined);
    for (const index of [10, 20, 30]) {
      const data = bytes(5000 + index, index);
      const info = await store.save({ index, term: 2, membership: { voters: [1, 2], index } }, [
        data.subarray(0, 1234),
        data.subarray(1234),
      ]);
      assert.equal(info.dataBytes, data.length);
      assert.equal(info.dataCrc, crc32c(data));
    }
    assert.deepEqual(
      store.list().map((s) => s.index),
      [20, 30],
    );
    store = SnapshotStore.open({ directory: dir.path, keep: 2 });
    const latest = store.latest();
    assert.deepEqual(
      [latest?.index, latest?.term, latest?.membership],
      [30, 2, { voters: [1, 2], index: 30 }],
    );
    assert.deepEqual(await readAll(await store.openReader()), bytes(5030, 30));
    assert.deepEqual(await readAll(await store.openReader(20), 7), bytes(5020, 20));
    await assert.rejects(store.openReader(10), (error) =>
      isStorageError(error, "STORAGE_NOT_FOUND"),
    );
    assert.equal(readdirSync(dir.path).length, 2);
  } finally {
    dir.remove();
  }
});

test("a snapshot streamed to a peer in chunks installs there only after its checksum verifies", async () => {
  const source = temporaryDirectory("snap-source");
  const target = temporaryDirectory("snap-target");
  try {
    const sender = SnapshotStore.open({ directory: source.path });
    const data = bytes(100_000, 3);
    await sender.save({ index: 77, term: 4, membership: ["a", "b"] }, [data]);
    const reader = await sender.openReader();
    const receiver = SnapshotStore.open({ directory: target.path });
    const installer = await receiver.beginInstall(reader.offer());
    for await (const { offset, data: chunk } of reader.chunks(8192)) {
      await installer.writeChunk(offset, chunk);
      if (offset === 8192) await installer.writeChunk(0, await reader.readChunk(0, 8192)); // a resend is ignored
      if (offset === 16384) {
        // A resend overlapping the end of what arrived contributes only its new bytes.
        await installer.writeChunk(offset + 4096, await reader.readChunk(offset + 4096, 8192));
      }
      assert.equal(receiver.latest(), undefined, "nothing is visible before the commit");
    }
    await reader.close();
    const info = await installer.commit();
    assert.deepEqual([info.index, info.term, info.membership], [77, 4, ["a", "b"]]);
    assert.deepEqual(
      await readAll(await SnapshotStore.open({ directory: target.path }).openReader()),
      data,
    );
  } finally {
    source.remove();
    target.remove();
  }
});

test("a transfer with a gap, extra bytes or a wrong checksum is refused and leaves nothing behind", async () => {
  const dir = temporaryDirectory("snap-mismatch");
  try {
    const store = SnapshotStore.open({ directory: dir.path });
    const data = bytes(3000, 5);
    const meta = { index: 5, term: 1, membership: null };
    const mismatch = (error: unknown) => isStorageError(error, "STORAGE_SNAPSHOT_MISMATCH");

    const gap = await store.beginInstall({ meta, dataBytes: data.length, dataCrc: crc32c(data) });
    await gap.writeChunk(0, data.subarray(0, 1000));
    await assert.rejects(gap.writeChunk(2000, data.subarray(2000)), mismatch);
    await gap.abort();

    const extra = await store.beginInstall({
      meta,
      dataBytes: 100,
      dataCrc: crc32c(data.subarray(0, 100)),
    });
    await assert.rejects(extra.writeChunk(0, data.subarray(0, 101)), mismatch);

    const wrong = await store.beginInstall({
      meta,
      dataBytes: data.length,
      dataCrc: crc32c(data) ^ 1,
    });
    await wrong.writeChunk(0, data);
    await assert.rejects(wrong.commit(), mismatch);

    assert.equal(store.latest(), undefined);
    assert.deepEqual(readdirSync(dir.path), []);
  } finally {
    dir.remove();
  }
});

test("an interrupted snapshot write (kill -9 mid-stream) leaves the previous snapshot usable", {
  timeout: 60_000,
}, async () => {
  const dir = temporaryDirectory("snap-interrupted");
  try {
    const previous = bytes(20_000, 11);
    await SnapshotStore.open({ directory: dir.path }).save(
      { index: 100, term: 3, membership: { voters: [1] } },
      [previous],
    );
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(import.meta.dirname, "fixtures", "snapshot-writer-child.ts"),
        dir.path,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("WRITING")) child.kill("SIGKILL");
      });
      child.on("exit", (_code, signal) =>
        signal === "SIGKILL"
          ? resolve()
          : reject(new Error("the writer finished before it was killed")),
      );
    });
    assert.ok(
      readdirSync(dir.path).some((name) => name.includes(".tmp")),
      "the partial snapshot is on disk",
    );
    const store = SnapshotStore.open({ directory: dir.path });
    assert.deepEqual(
      readdirSync(dir.path),
      ["snapshot-00000000000000000100-00000000000000000003.snap"],
      "the partial file is removed",
    );
    assert.equal(store.latest()?.index, 100);
    assert.deepEqual(await readAll(await store.openReader()), previous);
  } finally {
    dir.remove();
  }
});

test("damaged snapshots are reported, not trusted", async () => {
  const dir = temporaryDirectory("snap-corrupt");
  try {
    const store = SnapshotStore.open({ directory: dir.path });
    const info = await store.save({ index: 1, term: 1, membership: 0 }, [bytes(4096, 1)]);
    const original = readFileSync(info.file);
    // Damaged data: found while streaming, after the last chunk.
    const damagedData = Buffer.from(original);
    damagedData[100] = (damagedData[100] as number) ^ 1;
    writeFileSync(info.file, damagedData);
    const reader = await SnapshotStore.open({ directory: dir.path }).openReader();
    await assert.rejects(
      readAll(reader),
      (error) => isStorageError(error, "STORAGE_CORRUPT_FILE") && error.file === info.file,
    );
    // Damaged metadata or trailer: refused at open, naming the file.
    for (const offset of [4096 + 2, original.length - 5]) {
      const damaged = Buffer.from(original);
      damaged[offset] = (damaged[offset] as number) ^ 1;
      writeFileSync(info.file, damaged);
      assert.throws(
        () => SnapshotStore.open({ directory: dir.path }),
        (error) => isStorageError(error, "STORAGE_CORRUPT_FILE") && error.file === info.file,
      );
    }
  } finally {
    dir.remove();
  }
});
