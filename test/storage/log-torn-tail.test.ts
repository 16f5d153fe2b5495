import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isStorageError, type LogEntry, LogStore } from "../../src/storage/index.ts";
import { entry, temporaryDirectory } from "./helpers.ts";

const SEGMENT_HEADER_BYTES = 8;
const RECORD_HEADER_BYTES = 25;

/** Writes `records` one append at a time; returns the segment files and each record's start offset. */
async function writeLog(
  directory: string,
  records: LogEntry[],
  maxSegmentBytes?: number,
): Promise<void> {
  const log = await LogStore.open({
    directory,
    ...(maxSegmentBytes === undefined ? {} : { maxSegmentBytes }),
  });
  for (const record of records) await log.append([record]);
  await log.close();
}

function segmentFiles(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith(".seg"))
    .sort()
    .map((name) => join(directory, name));
}

function recordStarts(records: LogEntry[]): number[] {
  const starts: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  for (const record of records) {
    starts.push(offset);
    offset += RECORD_HEADER_BYTES + record.data.length;
  }
  starts.push(offset);
  return starts;
}

const RECORDS = [1, 2, 3, 4, 5, 6].map((index) =>
  entry(index, index < 4 ? 1 : 2, new Uint8Array(20 + index * 3).fill(index)),
);

test("a tail cut at every byte offset of the last record recovers exactly the whole records before it", async () => {
  const dir = temporaryDirectory("torn-cut");
  try {
    await writeLog(dir.path, RECORDS);
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    const pristine = readFileSync(file);
    const starts = recordStarts(RECORDS);
    const lastStart = starts[RECORDS.length - 1] as number;
    assert.equal(pristine.length, starts[RECORDS.length]);
    for (let cut = lastStart; cut < pristine.length; cut++) {
      writeFileSync(file, pristine.subarray(0, cut));
      const log = await LogStore.open({ directory: dir.path });
      assert.equal(log.lastIndex(), RECORDS.length - 1, `cut at ${cut}`);
      assert.deepEqual(log.entries(1, RECORDS.length), RECORDS.slice(0, -1));
      assert.equal(statSync(file).size, lastStart, "the torn bytes are cut off");
      // The log continues normally after recovery.
      await log.append([RECORDS[RECORDS.length - 1] as LogEntry]);
      assert.deepEqual(log.entries(1, RECORDS.length + 1), RECORDS);
      await log.close();
    }
  } finally {
    dir.remove();
  }
});

test("a last record corrupted at any byte offset is dropped, and only it", async () => {
  const dir = temporaryDirectory("torn-flip");
  try {
    await writeLog(dir.path, RECORDS);
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    const pristine = readFileSync(file);
    const lastStart = recordStarts(RECORDS)[RECORDS.length - 1] as number;
    for (let offset = lastStart; offset < pristine.length; offset++) {
      const damaged = Buffer.from(pristine);
      damaged[offset] = (damaged[offset] as number) ^ 0x5a;
      writeFileSync(file, damaged);
      const log = await LogStore.open({ directory: dir.path });
      assert.equal(log.lastIndex(), RECORDS.length - 1, `flip at ${offset}`);
      assert.deepEqual(log.entries(1, RECORDS.length), RECORDS.slice(0, -1));
      await log.close();
    }
  } finally {
    dir.remove();
  }
});

test("a record corrupted in the middle of the log refuses to open, naming file and offset", async () => {
  const dir = temporaryDirectory("mid-log");
  try {
    await writeLog(dir.path, RECORDS);
    const [file] = segmentFiles(dir.path);
    assert.ok(file !== undefined);
    const pristine = readFileSync(file);
    const starts = recordStarts(RECORDS);
    for (const victim of [0, 2, 4]) {
      const start = starts[victim] as number;
      const end = starts[victim + 1] as number;
      for (let offset = start; offset < end; offset++) {
        const damaged = Buffer.from(pristine);
        damaged[offset] = (damaged[offset] as number) ^ 0x01;
        writeFileSync(file, damaged);
        await assert.rejects(
          LogStore.open({ directory: dir.path }),
          (error) =>
            isStorageError(error, "STORAGE_CORRUPT_RECORD") &&
            error.file === file &&
            error.offset === start &&
            error.message.includes(file) &&
            error.message.includes(String(start)),
          `flip at ${offset} in record ${victim + 1}`,
        );
        assert.deepEqual(
          readFileSync(file),
          damaged,
          "a refused log is left untouched for inspection",
        );
      }
    }
  } finally {
    dir.remove();
  }
});

test("damage at the end of an earlier segment is not a torn tail", async () => {
  const dir = temporaryDirectory("mid-segment");
  try {
    const records = Array.from({ length: 12 }, (_, k) =>
      entry(k + 1, 1, new Uint8Array(40).fill(k)),
    );
    await writeLog(dir.path, records, 150);
    const files = segmentFiles(dir.path);
    assert.ok(files.length >= 3, `expected several segments, got ${files.length}`);
    const first = files[0] as string;
    const bytes = readFileSync(first);
    const damaged = Buffer.from(bytes);
    damaged[bytes.length - 1] = (damaged[bytes.length - 1] as number) ^ 0xff;
    writeFileSync(first, damaged);
    await assert.rejects(
      LogStore.open({ directory: dir.path }),
      (error) => isStorageError(error, "STORAGE_CORRUPT_RECORD") && error.file === first,
    );
    // A cut (a whole missing tail) of an earlier segment is refused too.
    writeFileSync(first, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(
      LogStore.open({ directory: dir.path }),
      (error) => isStorageError(error, "STORAGE_CORRUPT_RECORD") && error.file === first,
    );
    writeFileSync(first, bytes);
    const log = await LogStore.open({ directory: dir.path });
    assert.deepEqual(log.entries(1, 13), records);
    await log.close();
  } finally {
    dir.remove();
  }
});
