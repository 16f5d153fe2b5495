// Zero-filled space ahead of the active segment (LogStoreOptions.preallocateBytes): appends land
// inside it without growing the file, the zeros never reach a closed segment or outlive a clean
// close, and a crash that leaves them behind recovers like a torn tail.
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isStorageError, LogStore } from "../../src/storage/index.ts";
import { type LogIo, nodeLogIo } from "../../src/storage/log-io.ts";
import { entries, entry, payloadFor, temporaryDirectory } from "./helpers.ts";

const SEGMENT_HEADER_BYTES = 8;
const RECORD_HEADER_BYTES = 25;

function segmentFiles(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(".seg"))
    .sort()
    .map((name) => join(directory, name));
}

/** Bytes the records of `from..from+count-1` (helpers' default payloads) take in a segment. */
function recordBytes(from: number, count: number): number {
  let bytes = 0;
  for (let index = from; index < from + count; index++)
    bytes += RECORD_HEADER_BYTES + payloadFor(index).length;
  return bytes;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("appends land in the zeros ahead without growing the file; a clean close cuts the zeros", async () => {
  const dir = temporaryDirectory("prealloc");
  try {
    const log = await LogStore.open({ directory: dir.path, preallocateBytes: 256 * 1024 });
    await log.append(entries(1, 10, 1));
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    const end = SEGMENT_HEADER_BYTES + recordBytes(1, 10);
    await until(() => statSync(file).size > end, "the zero fill");
    const filled = statSync(file).size;
    // A segment that holds little gets the smallest fill, 64 KiB.
    assert.equal(filled, end + 64 * 1024);
    const image = readFileSync(file);
    assert.ok(
      image.subarray(end).every((byte) => byte === 0),
      "the space ahead holds only zeros",
    );
    // A few more appends fit in the space ahead: the file does not grow.
    for (let index = 11; index <= 40; index++) await log.append([entry(index, 1)]);
    assert.equal(statSync(file).size, filled, "an append inside the zeros grew the file");
    assert.deepEqual(log.entries(1, 41), entries(1, 40, 1));
    await log.close();
    assert.equal(
      statSync(file).size,
      SEGMENT_HEADER_BYTES + recordBytes(1, 40),
      "a clean close leaves only whole records",
    );
    const reopened = await LogStore.open({ directory: dir.path, preallocateBytes: 0 });
    assert.deepEqual(reopened.entries(1, 41), entries(1, 40, 1));
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("a crash that leaves the zeros behind recovers every durable entry and cuts the zeros", async () => {
  const dir = temporaryDirectory("prealloc-crash");
  const copy = temporaryDirectory("prealloc-crash-copy");
  try {
    const log = await LogStore.open({ directory: dir.path, preallocateBytes: 512 * 1024 });
    await log.append(entries(1, 25, 3));
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    const end = SEGMENT_HEADER_BYTES + recordBytes(1, 25);
    await until(() => statSync(file).size > end, "the zero fill");
    // What a crash leaves: the files as they are while the store is open.
    cpSync(dir.path, copy.path, { recursive: true });
    await log.close();

    const recovered = await LogStore.open({ directory: copy.path });
    assert.equal(recovered.lastIndex(), 25);
    assert.deepEqual(recovered.entries(1, 26), entries(1, 25, 3));
    const [copied] = segmentFiles(copy.path);
    assert.ok(copied !== undefined);
    assert.equal(statSync(copied).size, end, "recovery cuts the zeros like a torn tail");
    await recovered.append(entries(26, 5, 3));
    assert.deepEqual(recovered.entries(1, 31), entries(1, 30, 3));
    await recovered.close();
  } finally {
    dir.remove();
    copy.remove();
  }
});

test("closed segments end at their last record; the log survives a crash at any point of the rolls", async () => {
  const dir = temporaryDirectory("prealloc-roll");
  const copy = temporaryDirectory("prealloc-roll-copy");
  try {
    const log = await LogStore.open({
      directory: dir.path,
      maxSegmentBytes: 16 * 1024,
      preallocateBytes: 8 * 1024,
    });
    let next = 1;
    for (let batch = 0; batch < 240; batch++) {
      // Groups of one to eleven entries, some written while a fill is in flight.
      const count = 1 + (batch % 11);
      await log.append(entries(next, count, 1));
      next += count;
      if (batch % 13 === 3) {
        cpSync(dir.path, copy.path, { recursive: true });
        const recovered = await LogStore.open({ directory: copy.path });
        assert.equal(recovered.lastIndex(), next - 1, `copy after batch ${batch}`);
        assert.deepEqual(recovered.entries(1, next), entries(1, next - 1, 1));
        await recovered.close();
        copy.remove();
      }
    }
    const files = segmentFiles(dir.path);
    assert.ok(files.length >= 5, `only ${files.length} segments`);
    let first = 1;
    for (const file of files.slice(0, -1)) {
      const image = readFileSync(file);
      // Walk the records: the file must end exactly where the last one does.
      let offset = SEGMENT_HEADER_BYTES;
      while (offset < image.length) {
        const length = image.readUInt32LE(offset + 4);
        assert.ok(length > 0, `${file}: zeros at offset ${offset} of a closed segment`);
        offset += RECORD_HEADER_BYTES + length;
        first++;
      }
      assert.equal(offset, image.length, `${file} does not end at a record boundary`);
    }
    assert.ok(first > 1);
    assert.deepEqual(log.entries(1, next), entries(1, next - 1, 1));
    await log.close();
  } finally {
    dir.remove();
    copy.remove();
  }
});

test("a truncated suffix and the appends that replace it read back intact with fills in between", async () => {
  const dir = temporaryDirectory("prealloc-truncate");
  try {
    const log = await LogStore.open({
      directory: dir.path,
      maxSegmentBytes: 32 * 1024,
      preallocateBytes: 16 * 1024,
    });
    await log.append(entries(1, 300, 1));
    // Replace the last 120 entries (they span the newest segments) with entries of term 2.
    void log.truncate(181);
    await log.append(entries(181, 200, 2));
    const expected = [...entries(1, 180, 1), ...entries(181, 200, 2)];
    assert.deepEqual(log.entries(1, 381), expected);
    await log.close();
    const reopened = await LogStore.open({ directory: dir.path });
    assert.deepEqual(reopened.entries(1, 381), expected);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("preallocateBytes 0 keeps the file at its records; a negative value is refused", async () => {
  const dir = temporaryDirectory("prealloc-off");
  try {
    const log = await LogStore.open({ directory: dir.path, preallocateBytes: 0 });
    await log.append(entries(1, 10, 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    assert.equal(statSync(file).size, SEGMENT_HEADER_BYTES + recordBytes(1, 10));
    await log.close();
    await assert.rejects(
      LogStore.open({ directory: dir.path, preallocateBytes: -1 }),
      (error: unknown) =>
        isStorageError(error, "STORAGE_INVALID_ARGUMENT") &&
        /preallocateBytes must be a non-negative integer/.test((error as Error).message),
    );
  } finally {
    dir.remove();
  }
});

/** Real file operations; every zero fill waits until the test releases (or fails) it. */
class HeldFillIo implements LogIo {
  readonly events: string[] = [];
  readonly fills: Array<{ start: number; end: number; run(error?: Error): void }> = [];

  writev(
    fd: number,
    buffers: readonly Buffer[],
    position: number,
    callback: (error: Error | null, written: number) => void,
  ): void {
    this.events.push(`write@${position}`);
    nodeLogIo.writev(fd, buffers, position, callback);
  }

  fdatasync(fd: number, callback: (error: Error | null) => void): void {
    nodeLogIo.fdatasync(fd, callback);
  }

  writeZeros(path: string, start: number, end: number, callback: (error: Error | null) => void) {
    this.events.push(`zeros@${start}-${end}`);
    this.fills.push({
      start,
      end,
      run: (error) => {
        if (error !== undefined) setImmediate(() => callback(error));
        else nodeLogIo.writeZeros?.(path, start, end, callback);
      },
    });
  }
}

test("records are never written over a range whose zeros are still being written", async () => {
  const dir = temporaryDirectory("prealloc-overlap");
  try {
    const io = new HeldFillIo();
    const log = await LogStore.open({ directory: dir.path, preallocateBytes: 64 * 1024 }, io);
    await log.append([entry(1, 1)]);
    await until(() => io.fills.length === 1, "the first zero fill");
    const fill = io.fills[0];
    assert.ok(fill !== undefined);
    const end = SEGMENT_HEADER_BYTES + recordBytes(1, 1);
    assert.deepEqual([fill.start, fill.end], [end, end + 64 * 1024]);
    // The next group would be written inside the range being filled: it waits for the fill.
    const big = entry(2, 1, payloadFor(2, 40 * 1024));
    let resolved = false;
    const appended = log.append([big]).then(() => {
      resolved = true;
    });
    for (let k = 0; k < 20; k++) await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(resolved, false);
    assert.deepEqual(io.events, ["write@8", `zeros@${end}-${end + 64 * 1024}`]);
    fill.run();
    await appended;
    assert.equal(io.events[2], `write@${end}`);
    assert.deepEqual(log.entries(1, 3), [entry(1, 1), big]);
    await log.close();
    const reopened = await LogStore.open({ directory: dir.path });
    assert.deepEqual(reopened.entries(1, 3), [entry(1, 1), big]);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test("a failed zero fill stops the fills of that segment and fails no append", async () => {
  const dir = temporaryDirectory("prealloc-fail");
  try {
    const io = new HeldFillIo();
    const log = await LogStore.open(
      { directory: dir.path, maxSegmentBytes: 8 * 1024, preallocateBytes: 4 * 1024 },
      io,
    );
    await log.append([entry(1, 1)]);
    await until(() => io.fills.length === 1, "the first zero fill");
    const enospc = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    io.fills[0]?.run(enospc);
    let next = 2;
    const [first] = segmentFiles(dir.path);
    assert.ok(first !== undefined);
    // The rest of this segment: appends grow the file, no other fill starts for it.
    while (segmentFiles(dir.path).length === 1) {
      assert.equal(io.fills.length, 1, "a fill was tried again on the segment whose fill failed");
      await log.append([entry(next, 1)]);
      next++;
    }
    assert.ok(next > 20, `the first segment took only ${next - 1} entries`);
    // The next segment fills again.
    await until(() => io.fills.length === 2, "the new segment's fill");
    io.fills[1]?.run();
    await log.append(entries(next, 20, 1));
    next += 20;
    assert.deepEqual(log.entries(1, next), entries(1, next - 1, 1));
    await log.close();
  } finally {
    dir.remove();
  }
});

test("the space ahead grows with the segment, up to preallocateBytes", async () => {
  const dir = temporaryDirectory("prealloc-ramp");
  try {
    const log = await LogStore.open({ directory: dir.path, preallocateBytes: 256 * 1024 });
    await log.append([entry(1, 1)]);
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    let end = SEGMENT_HEADER_BYTES + recordBytes(1, 1);
    await until(() => statSync(file).size === end + 64 * 1024, "the first fill");
    let index = 2;
    for (let k = 0; k < 40; k++, index++) {
      const big = entry(index, 1, payloadFor(index, 10 * 1024));
      await log.append([big]);
      end += RECORD_HEADER_BYTES + big.data.length;
    }
    // About 400 KiB of records: the zeros reach 256 KiB (not more) past the last record, and
    // never less than half of that once the fill in flight is done.
    await until(() => statSync(file).size - end >= 128 * 1024, "a fill of the grown segment");
    const ahead = statSync(file).size - end;
    assert.ok(ahead <= 256 * 1024, `${ahead} bytes of zeros ahead, more than preallocateBytes`);
    assert.equal(log.lastIndex(), index - 1);
    await log.close();
    assert.equal(statSync(file).size, end);
  } finally {
    dir.remove();
  }
});
