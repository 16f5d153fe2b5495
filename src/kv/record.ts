// Storage layout of the KV state machine inside the state-machine store.
//
//   [0x00] "revision"      -> u64 store revision (absent = 0)
//   [0x01] <UTF-8 key>     -> record: u8 layout version (1) | u64 createRevision
//                                     | u64 modRevision | u64 version | value bytes
// All integers big-endian. A fixed binary layout (rather than msgpack) keeps the stored bytes
// identical on every node and cheap to decode.

import { KvError } from "./errors.ts";

export const USER_KEY_PREFIX = 0x01;
export const REVISION_KEY: Uint8Array = Buffer.concat([
  Buffer.from([0x00]),
  Buffer.from("revision"),
]);
const RECORD_LAYOUT_VERSION = 1;
const RECORD_HEADER_SIZE_BYTES = 1 + 8 * 3;

export interface StoredRecord {
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

// The encoders below take their buffers from Node.js' shared pool (Buffer.allocUnsafe, small
// sizes) and write every byte: a put runs them on every node, and a buffer of its own each time
// (an allocation outside the JavaScript heap, freed by the garbage collector) cost more than the
// encoding.

/** The storage key of a user key given as text (UTF-8, after the prefix byte). */
export function storageKey(key: string): Buffer {
  const bytes = Buffer.allocUnsafe(1 + Buffer.byteLength(key, "utf8"));
  bytes[0] = USER_KEY_PREFIX;
  bytes.write(key, 1, "utf8");
  return bytes;
}

export function keyFromStorage(storage: Uint8Array): string {
  if (storage[0] !== USER_KEY_PREFIX) {
    throw new KvError(
      "STATE_CORRUPT",
      "a stored key lacks the user-key prefix; the data directory is damaged",
    );
  }
  return utf8Decoder.decode(storage.subarray(1));
}

function writeUint64(target: Buffer, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new KvError("STATE_CORRUPT", `counter ${value} left the safe integer range`);
  }
  target.writeUInt32BE(Math.floor(value / 2 ** 32), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

function readUint64(source: Buffer, offset: number): number {
  return source.readUInt32BE(offset) * 2 ** 32 + source.readUInt32BE(offset + 4);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function encodeRecord(record: StoredRecord): Buffer {
  const bytes = Buffer.allocUnsafe(RECORD_HEADER_SIZE_BYTES + record.value.length);
  bytes[0] = RECORD_LAYOUT_VERSION;
  writeUint64(bytes, 1, record.createRevision);
  writeUint64(bytes, 9, record.modRevision);
  writeUint64(bytes, 17, record.version);
  bytes.set(record.value, RECORD_HEADER_SIZE_BYTES);
  return bytes;
}

export function decodeRecord(stored: Uint8Array): StoredRecord {
  const bytes = asBuffer(stored);
  if (bytes.length < RECORD_HEADER_SIZE_BYTES || bytes[0] !== RECORD_LAYOUT_VERSION) {
    throw new KvError(
      "STATE_CORRUPT",
      "a stored KV record does not decode; the data directory is damaged",
    );
  }
  const record = {
    createRevision: readUint64(bytes, 1),
    modRevision: readUint64(bytes, 9),
    version: readUint64(bytes, 17),
    value: bytes.subarray(RECORD_HEADER_SIZE_BYTES),
  };
  if (
    record.createRevision < 1 ||
    record.modRevision < record.createRevision ||
    record.version < 1
  ) {
    throw new KvError(
      "STATE_CORRUPT",
      "a stored KV record has impossible revisions; the data directory is damaged",
    );
  }
  return record;
}

export function encodeRevision(revision: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  writeUint64(bytes, 0, revision);
  return bytes;
}

export function decodeRevision(stored: Uint8Array | undefined): number {
  if (stored === undefined) return 0;
  if (stored.length !== 8) {
    throw new KvError(
      "STATE_CORRUPT",
      "the stored revision does not decode; the data directory is damaged",
    );
  }
  return readUint64(asBuffer(stored), 0);
}
