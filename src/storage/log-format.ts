// On-disk format of the log's segment files, and the recovery scan that tells a torn tail (an
// interrupted, never-acknowledged write: truncate it) from corruption in the middle of the log
// (possibly committed data: refuse to start).
//
// Segment file: name `<first index, 20 digits>.seg`; 8-byte magic "HHLOG001", then records.
// Record:  crc32c u32 LE | data length u32 LE | index u64 LE | term u64 LE | type u8 | data
//          the CRC covers everything after itself (length, index, term, type, data), so a
//          damaged length field is caught as surely as damaged data.

import { crc32c } from "./crc32c.ts";

export const SEGMENT_MAGIC = Buffer.from("HHLOG001", "latin1");
export const SEGMENT_HEADER_BYTES = SEGMENT_MAGIC.length;
export const RECORD_HEADER_BYTES = 25;
const TWO_POW_32 = 0x1_0000_0000;

/** One log entry as the storage layer sees it. `type`: 0 normal, 1 configuration change. */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly type: number;
  readonly data: Uint8Array;
}

export const ENTRY_TYPE_NORMAL = 0;
export const ENTRY_TYPE_CONF_CHANGE = 1;

export function segmentFileName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, "0")}.seg`;
}

/** The first index encoded in a segment file name, or undefined if the name is not a segment. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = /^(\d{20})\.seg$/.exec(name);
  if (match === null) return undefined;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : undefined;
}

function writeUint64(target: Buffer, value: number, offset: number): void {
  target.writeUInt32LE(value % TWO_POW_32, offset);
  target.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

function readUint64(source: Uint8Array, offset: number): number {
  const view = source as Buffer;
  return view.readUInt32LE(offset) + view.readUInt32LE(offset + 4) * TWO_POW_32;
}

export function recordBytes(entry: LogEntry): number {
  return RECORD_HEADER_BYTES + entry.data.length;
}

/** Encodes `entry` into `target` at `offset`; returns the offset after it. */
export function encodeRecord(entry: LogEntry, target: Buffer, offset: number): number {
  target.writeUInt32LE(entry.data.length, offset + 4);
  writeUint64(target, entry.index, offset + 8);
  writeUint64(target, entry.term, offset + 16);
  target[offset + 24] = entry.type;
  target.set(entry.data, offset + RECORD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + entry.data.length;
  target.writeUInt32LE(crc32c(target, 0, offset + 4, end), offset);
  return end;
}

export type RecordCheck =
  | { readonly ok: true; readonly index: number; readonly term: number; readonly end: number }
  /** `incomplete`: the record runs past the end of the buffer. `checksum`: it is all there but wrong. */
  | { readonly ok: false; readonly reason: "incomplete" | "checksum" };

/** Checks the record at `offset` of `buffer` (whose valid bytes end at `limit`). */
export function checkRecord(buffer: Buffer, offset: number, limit: number): RecordCheck {
  if (limit - offset < RECORD_HEADER_BYTES) return { ok: false, reason: "incomplete" };
  const length = buffer.readUInt32LE(offset + 4);
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > limit) return { ok: false, reason: "incomplete" };
  if (crc32c(buffer, 0, offset + 4, end) !== buffer.readUInt32LE(offset)) {
    return { ok: false, reason: "checksum" };
  }
  return {
    ok: true,
    index: readUint64(buffer, offset + 8),
    term: readUint64(buffer, offset + 16),
    end,
  };
}

/** Decodes a record already verified by `checkRecord` (or read back from a verified range). */
export function decodeRecord(buffer: Buffer, offset: number): LogEntry {
  const length = buffer.readUInt32LE(offset + 4);
  const start = offset + RECORD_HEADER_BYTES;
  // A plain copy, so the caller may keep the entry without pinning the whole read buffer.
  const data = new Uint8Array(length);
  data.set(buffer.subarray(start, start + length));
  return {
    index: readUint64(buffer, offset + 8),
    term: readUint64(buffer, offset + 16),
    type: buffer[offset + 24] as number,
    data,
  };
}

export interface SegmentScan {
  /** Byte offset of each whole, verified record, in order. */
  readonly offsets: number[];
  readonly terms: number[];
  /** End of the last whole record (where the next append goes). */
  readonly validEnd: number;
  /**
   * Why the scan stopped before the end of the file, if it did:
   * `torn`: nothing valid follows the first bad byte, so it is the remains of an interrupted write;
   * `corrupt`: a valid record of the log follows the damage (or the records are out of sequence),
   * so data in the middle of the log is damaged.
   */
  readonly stop?: {
    readonly kind: "torn" | "corrupt";
    readonly offset: number;
    readonly why: string;
  };
}

/**
 * Scans a whole segment image. Records must carry consecutive indexes starting at `firstIndex`
 * and non-decreasing terms. At the first bad record the rest of the file is searched for any
 * valid record carrying the next expected index: finding one means the damage is not a torn tail.
 */
export function scanSegment(image: Buffer, firstIndex: number): SegmentScan {
  const offsets: number[] = [];
  const terms: number[] = [];
  if (image.length < SEGMENT_HEADER_BYTES) {
    return { offsets, terms, validEnd: 0, stop: { kind: "torn", offset: 0, why: "short header" } };
  }
  if (!image.subarray(0, SEGMENT_HEADER_BYTES).equals(SEGMENT_MAGIC)) {
    return { offsets, terms, validEnd: 0, stop: { kind: "corrupt", offset: 0, why: "bad magic" } };
  }
  let offset = SEGMENT_HEADER_BYTES;
  let expectedIndex = firstIndex;
  let lastTerm = 0;
  while (offset < image.length) {
    const check = checkRecord(image, offset, image.length);
    if (!check.ok) {
      const why = check.reason === "incomplete" ? "incomplete record" : "checksum mismatch";
      const kind = validRecordAfter(image, offset + 1, expectedIndex) ? "corrupt" : "torn";
      return { offsets, terms, validEnd: offset, stop: { kind, offset, why } };
    }
    if (check.index !== expectedIndex || check.term < lastTerm) {
      const why = `record carries index ${check.index} term ${check.term}, expected index ${expectedIndex} and term >= ${lastTerm}`;
      return { offsets, terms, validEnd: offset, stop: { kind: "corrupt", offset, why } };
    }
    offsets.push(offset);
    terms.push(check.term);
    lastTerm = check.term;
    expectedIndex++;
    offset = check.end;
  }
  return { offsets, terms, validEnd: offset };
}

/** Whether some byte offset >= `from` holds a verified record with index `expectedIndex` or `expectedIndex + 1`. */
function validRecordAfter(image: Buffer, from: number, expectedIndex: number): boolean {
  const last = image.length - RECORD_HEADER_BYTES;
  for (let offset = from; offset <= last; offset++) {
    // Cheap filter first: the index field must be one of the two candidates.
    const index = readUint64(image, offset + 8);
    if (index !== expectedIndex && index !== expectedIndex + 1) continue;
    const check = checkRecord(image, offset, image.length);
    if (check.ok) return true;
  }
  return false;
}
