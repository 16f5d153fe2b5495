// Small whole-file records replaced atomically: write a temporary file, fsync it, rename it over
// the old one, fsync the directory. A reader sees either the old or the new content, never a mix;
// a CRC32C over the body catches bit rot (the rename protects only against torn writes).
//
// Format: magic "HHAF0001" (8 bytes) | body length u32 LE | body CRC32C u32 LE | body (UTF-8 JSON).

import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32c } from "./crc32c.ts";
import { StorageError, systemErrorCode, writeFailure } from "./errors.ts";

const MAGIC = Buffer.from("HHAF0001", "latin1");
const HEADER_BYTES = 16;
/** These files hold hard state, membership and log bounds: kilobytes. A larger one is a bug. */
export const ATOMIC_FILE_MAX_BYTES = 16 * 1024 * 1024;

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** fsync a directory so a rename, create or unlink inside it survives a crash. */
export function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Encodes `value` in the checksummed format (exported for tests that forge files). */
export function encodeAtomicFile(value: JsonValue): Buffer {
  const body = Buffer.from(JSON.stringify(value), "utf8");
  if (body.length > ATOMIC_FILE_MAX_BYTES) {
    throw new StorageError(
      "STORAGE_LIMIT",
      `state record of ${body.length} bytes exceeds ${ATOMIC_FILE_MAX_BYTES}; keep membership and metadata small`,
    );
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(body.length, 8);
  header.writeUInt32LE(crc32c(body), 12);
  return Buffer.concat([header, body]);
}

/**
 * Durably replaces `path` with `value`. Synchronous on purpose: these writes are rare (a term
 * change, a vote, a compaction) and a handful of syscalls long, and doing them inline keeps the
 * ordering "durable before the vote leaves" trivially true for the caller.
 */
export function writeAtomicFileSync(path: string, value: JsonValue): void {
  const bytes = encodeAtomicFile(value);
  const temporary = `${path}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(temporary, "w", 0o600);
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
    fsyncDirectory(dirname(path));
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // The temporary file may not exist (open failed) or the rename already consumed it.
    }
    throw writeFailure(error, path, "replacing a state file");
  }
}

/** `writeAtomicFileSync` off the event loop: the same steps through the libuv thread pool. */
export async function writeAtomicFile(path: string, value: JsonValue): Promise<void> {
  const bytes = encodeAtomicFile(value);
  const temporary = `${path}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, "w", 0o600);
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
    const directory = await open(dirname(path), "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => {});
    await unlink(temporary).catch(() => {});
    throw writeFailure(error, path, "replacing a state file");
  }
}

/** Reads and verifies `path`; `undefined` if it does not exist. Stale `.tmp` files are ignored. */
export function readAtomicFileSync(path: string): JsonValue | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return undefined;
    throw writeFailure(error, path, "reading a state file");
  }
  const corrupt = (why: string): StorageError =>
    new StorageError(
      "STORAGE_CORRUPT_FILE",
      `${path} is corrupt (${why}); restore it from a backup or rebuild this node from its peers`,
      { file: path, offset: 0 },
    );
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) {
    throw corrupt("bad header");
  }
  const length = bytes.readUInt32LE(8);
  if (length !== bytes.length - HEADER_BYTES) throw corrupt("length mismatch");
  const body = bytes.subarray(HEADER_BYTES);
  if (crc32c(body) !== bytes.readUInt32LE(12)) throw corrupt("checksum mismatch");
  try {
    return JSON.parse(body.toString("utf8")) as JsonValue;
  } catch {
    throw corrupt("body is not JSON");
  }
}
