// Snapshots of the state machine: written as a stream into a temporary file and made visible by
// an atomic rename (temp file, fsync, rename, fsync directory), so a crash mid-write leaves the
// previous snapshot untouched. The last `keep` snapshots are retained.
//
// File `snapshot-<index, 20 digits>-<term, 20 digits>.snap`:
//   data bytes | metadata (UTF-8 JSON: index, term, membership) | trailer (32 bytes)
// Trailer: magic "HHSNAP01" | data length u64 LE | data CRC32C u32 | metadata length u32 |
//          metadata CRC32C u32 | CRC32C of the preceding 28 trailer bytes u32.
// The trailer goes last because the data checksum is known only after the data has streamed by.

import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { type FileHandle, open as openFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDirectory, type JsonValue } from "./atomic-file.ts";
import { crc32c } from "./crc32c.ts";
import { StorageError, writeFailure } from "./errors.ts";

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`, opaque to storage. */
  readonly membership: JsonValue;
}

export interface SnapshotInfo extends SnapshotMeta {
  readonly dataBytes: number;
  readonly dataCrc: number;
  readonly file: string;
}

/** What a sender announces before streaming a snapshot, so the receiver can verify it. */
export interface SnapshotOffer {
  readonly meta: SnapshotMeta;
  readonly dataBytes: number;
  readonly dataCrc: number;
}

export interface SnapshotStoreOptions {
  readonly directory: string;
  /** Snapshots retained; older ones are deleted after each new one. At least 1. Default 2. */
  readonly keep?: number;
  /** Largest snapshot accepted from a peer or a writer. Default 64 GiB. */
  readonly maxSnapshotBytes?: number;
}

const TRAILER_BYTES = 32;
const MAGIC = Buffer.from("HHSNAP01", "latin1");
const MAX_META_BYTES = 16 * 1024 * 1024;
/** Largest chunk `readChunk` returns, whatever was asked for. */
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
const TWO_POW_32 = 0x1_0000_0000;

function snapshotFileName(index: number, term: number): string {
  return `snapshot-${String(index).padStart(20, "0")}-${String(term).padStart(20, "0")}.snap`;
}

function validateMeta(meta: SnapshotMeta): void {
  if (
    !Number.isSafeInteger(meta.index) ||
    meta.index < 0 ||
    !Number.isSafeInteger(meta.term) ||
    meta.term < 0
  ) {
    throw new StorageError(
      "STORAGE_INVALID_ARGUMENT",
      `snapshot index ${meta.index} and term ${meta.term} must be non-negative integers`,
    );
  }
}

function encodeTrailer(dataBytes: number, dataCrc: number, metaBytes: Buffer): Buffer {
  const trailer = Buffer.alloc(TRAILER_BYTES);
  MAGIC.copy(trailer, 0);
  trailer.writeUInt32LE(dataBytes % TWO_POW_32, 8);
  trailer.writeUInt32LE(Math.floor(dataBytes / TWO_POW_32), 12);
  trailer.writeUInt32LE(dataCrc, 16);
  trailer.writeUInt32LE(metaBytes.length, 20);
  trailer.writeUInt32LE(crc32c(metaBytes), 24);
  trailer.writeUInt32LE(crc32c(trailer, 0, 0, 28), 28);
  return trailer;
}

/** Reads and checks the trailer and metadata of a committed snapshot file (not the data). */
function readSnapshotInfo(file: string): SnapshotInfo {
  const corrupt = (why: string): StorageError =>
    new StorageError(
      "STORAGE_CORRUPT_FILE",
      `snapshot ${file} is corrupt (${why}); delete it if an older snapshot and the log cover the data, or rebuild this node from its peers`,
      { file },
    );
  const size = statSync(file).size;
  if (size < TRAILER_BYTES) throw corrupt("shorter than its trailer");
  const fd = openSync(file, "r");
  try {
    const trailer = Buffer.alloc(TRAILER_BYTES);
    readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (!trailer.subarray(0, 8).equals(MAGIC)) throw corrupt("bad trailer magic");
    if (crc32c(trailer, 0, 0, 28) !== trailer.readUInt32LE(28))
      throw corrupt("trailer checksum mismatch");
    const dataBytes = trailer.readUInt32LE(8) + trailer.readUInt32LE(12) * TWO_POW_32;
    const metaLength = trailer.readUInt32LE(20);
    if (metaLength > MAX_META_BYTES || dataBytes + metaLength + TRAILER_BYTES !== size)
      throw corrupt("lengths do not add up to the file size");
    const metaBytes = Buffer.alloc(metaLength);
    readSync(fd, metaBytes, 0, metaLength, dataBytes);
    if (crc32c(metaBytes) !== trailer.readUInt32LE(24)) throw corrupt("metadata checksum mismatch");
    const meta = JSON.parse(metaBytes.toString("utf8")) as SnapshotMeta;
    validateMeta(meta);
    return {
      index: meta.index,
      term: meta.term,
      membership: meta.membership,
      dataBytes,
      dataCrc: trailer.readUInt32LE(16),
      file,
    };
  } finally {
    closeSync(fd);
  }
}

/** A snapshot being written: data in, then `commit` (or `abort`). */
export class SnapshotWriter {
  private dataBytes = 0;
  private dataCrc = 0;
  private finished = false;

  constructor(
    private readonly store: SnapshotStore,
    private readonly handle: FileHandle,
    readonly temporaryFile: string,
    readonly meta: SnapshotMeta,
    private readonly expected: { readonly dataBytes: number; readonly dataCrc: number } | undefined,
    private readonly maxSnapshotBytes: number,
  ) {}

  /** Bytes of data written so far: the offset the next chunk of a transfer must carry. */
  bytesWritten(): number {
    return this.dataBytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.checkOpen();
    const limit = this.expected?.dataBytes ?? this.maxSnapshotBytes;
    if (this.dataBytes + chunk.length > limit) {
      await this.abort();
      const code = this.expected === undefined ? "STORAGE_LIMIT" : "STORAGE_SNAPSHOT_MISMATCH";
      throw new StorageError(
        code,
        `snapshot ${this.meta.index}/${this.meta.term} grew past ${limit} bytes; ${this.expected === undefined ? "raise maxSnapshotBytes" : "the sender announced fewer bytes: restart the transfer"}`,
      );
    }
    try {
      let written = 0;
      while (written < chunk.length)
        written += (
          await this.handle.write(chunk, written, chunk.length - written, this.dataBytes + written)
        ).bytesWritten;
    } catch (error) {
      await this.abort();
      throw writeFailure(error, this.temporaryFile, "writing a snapshot");
    }
    this.dataCrc = crc32c(chunk, this.dataCrc);
    this.dataBytes += chunk.length;
  }

  /**
   * For a snapshot received from a peer: accepts the chunk at `offset`, which must continue where
   * the previous one ended (a resent chunk that was already written is ignored).
   */
  async writeChunk(offset: number, chunk: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new StorageError(
        "STORAGE_SNAPSHOT_MISMATCH",
        `snapshot chunk offset ${offset} is not a byte offset; resend from offset ${this.dataBytes}`,
      );
    }
    if (offset + chunk.length <= this.dataBytes) return; // a resent chunk, already written
    if (offset < this.dataBytes) {
      // A resend overlapping the end of what arrived: keep only the new part. The checksum at
      // commit verifies the whole.
      chunk = chunk.subarray(this.dataBytes - offset);
      offset = this.dataBytes;
    }
    if (offset !== this.dataBytes) {
      throw new StorageError(
        "STORAGE_SNAPSHOT_MISMATCH",
        `snapshot chunk at offset ${offset} does not continue the ${this.dataBytes} bytes received; resend from offset ${this.dataBytes}`,
      );
    }
    await this.write(chunk);
  }

  /** Makes the snapshot durable and visible; returns its description. */
  async commit(): Promise<SnapshotInfo> {
    this.checkOpen();
    if (
      this.expected !== undefined &&
      (this.expected.dataBytes !== this.dataBytes || this.expected.dataCrc !== this.dataCrc)
    ) {
      await this.abort();
      throw new StorageError(
        "STORAGE_SNAPSHOT_MISMATCH",
        `received snapshot ${this.meta.index}/${this.meta.term} has ${this.dataBytes} bytes with CRC32C ${this.dataCrc}, the sender announced ${this.expected.dataBytes} bytes with ${this.expected.dataCrc}; it was discarded, request it again`,
      );
    }
    const metaBytes = Buffer.from(
      JSON.stringify({
        index: this.meta.index,
        term: this.meta.term,
        membership: this.meta.membership,
      }),
      "utf8",
    );
    const file = join(this.store.directory, snapshotFileName(this.meta.index, this.meta.term));
    try {
      const tail = Buffer.concat([
        metaBytes,
        encodeTrailer(this.dataBytes, this.dataCrc, metaBytes),
      ]);
      await this.handle.write(tail, 0, tail.length, this.dataBytes);
      await this.handle.sync();
      await this.handle.close();
      this.finished = true;
      await rename(this.temporaryFile, file);
      fsyncDirectory(this.store.directory);
    } catch (error) {
      await this.abort();
      throw writeFailure(error, this.temporaryFile, "committing a snapshot");
    }
    const info: SnapshotInfo = {
      ...this.meta,
      dataBytes: this.dataBytes,
      dataCrc: this.dataCrc,
      file,
    };
    this.store.added(info);
    return info;
  }

  /** Discards the partial snapshot. Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      await this.handle.close().catch(() => {});
    }
    await unlink(this.temporaryFile).catch(() => {});
  }

  private checkOpen(): void {
    if (this.finished)
      throw new StorageError(
        "STORAGE_CLOSED",
        `snapshot writer for ${this.meta.index}/${this.meta.term} is already committed or aborted; start a new one`,
      );
  }
}

/** A committed snapshot opened for reading, for example to stream it to a peer in chunks. */
export class SnapshotReader {
  private closed = false;

  constructor(
    readonly info: SnapshotInfo,
    private readonly handle: FileHandle,
  ) {}

  /** What to announce to the receiver before the chunks. */
  offer(): SnapshotOffer {
    const { index, term, membership, dataBytes, dataCrc } = this.info;
    return { meta: { index, term, membership }, dataBytes, dataCrc };
  }

  /** Up to `maxBytes` of data from `offset` (empty at the end): random access for resends. */
  async readChunk(offset: number, maxBytes: number): Promise<Uint8Array> {
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isSafeInteger(maxBytes) ||
      maxBytes < 1
    ) {
      throw new StorageError(
        "STORAGE_INVALID_ARGUMENT",
        `readChunk(${offset}, ${maxBytes}): offset must be a byte offset and maxBytes positive`,
      );
    }
    // Bounded so a caller's typo cannot allocate the whole snapshot in one buffer.
    const length = Math.max(0, Math.min(maxBytes, MAX_CHUNK_BYTES, this.info.dataBytes - offset));
    const chunk = new Uint8Array(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await this.handle.read(chunk, read, length - read, offset + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return chunk.subarray(0, read);
  }

  /**
   * The data in chunks of `chunkBytes`. Checks the CRC32C on the way and throws
   * STORAGE_CORRUPT_FILE after the last chunk if the data does not match it.
   */
  async *chunks(chunkBytes = 1024 * 1024): AsyncGenerator<{ offset: number; data: Uint8Array }> {
    let offset = 0;
    let crc = 0;
    while (offset < this.info.dataBytes) {
      const data = await this.readChunk(offset, chunkBytes);
      if (data.length === 0) break;
      crc = crc32c(data, crc);
      yield { offset, data };
      offset += data.length;
    }
    if (offset !== this.info.dataBytes || crc !== this.info.dataCrc) {
      throw new StorageError(
        "STORAGE_CORRUPT_FILE",
        `snapshot ${this.info.file} data does not match its checksum; delete it and take or fetch a new snapshot`,
        { file: this.info.file },
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

export class SnapshotStore {
  readonly directory: string;
  private readonly keep: number;
  private readonly maxSnapshotBytes: number;
  /** Committed snapshots, oldest first. */
  private snapshots: SnapshotInfo[];
  private temporaryCounter = 0;

  private constructor(options: SnapshotStoreOptions, snapshots: SnapshotInfo[]) {
    this.directory = options.directory;
    this.keep = options.keep ?? 2;
    this.maxSnapshotBytes = options.maxSnapshotBytes ?? 64 * 1024 * 1024 * 1024;
    this.snapshots = snapshots;
  }

  /**
   * Opens the snapshot directory (created if missing): deletes leftovers of interrupted writes
   * and checks the trailer and metadata of every committed snapshot.
   */
  static open(options: SnapshotStoreOptions): SnapshotStore {
    if (!Number.isSafeInteger(options.keep ?? 2) || (options.keep ?? 2) < 1) {
      throw new StorageError(
        "STORAGE_INVALID_ARGUMENT",
        `keep must be a positive integer, got ${options.keep}`,
      );
    }
    mkdirSync(options.directory, { recursive: true });
    const snapshots: SnapshotInfo[] = [];
    for (const name of readdirSync(options.directory)) {
      const path = join(options.directory, name);
      if (name.startsWith("snapshot-") && name.includes(".tmp")) {
        unlinkSync(path); // an interrupted write; never visible, never acknowledged
      } else if (/^snapshot-\d{20}-\d{20}\.snap$/.test(name)) {
        const info = readSnapshotInfo(path);
        if (name !== snapshotFileName(info.index, info.term)) {
          throw new StorageError(
            "STORAGE_CORRUPT_FILE",
            `snapshot ${path} holds index ${info.index} term ${info.term}, which its name contradicts; delete it or rebuild this node`,
            { file: path },
          );
        }
        snapshots.push(info);
      }
    }
    snapshots.sort((a, b) => a.index - b.index || a.term - b.term);
    return new SnapshotStore(options, snapshots);
  }

  /** The newest committed snapshot, if any. */
  latest(): SnapshotInfo | undefined {
    return this.snapshots[this.snapshots.length - 1];
  }

  list(): readonly SnapshotInfo[] {
    return [...this.snapshots];
  }

  /** Starts writing a snapshot taken locally. */
  create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    return this.startWriter(meta, undefined);
  }

  /** Writes a whole snapshot from `source` and commits it. */
  async save(
    meta: SnapshotMeta,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<SnapshotInfo> {
    const writer = await this.create(meta);
    try {
      for await (const chunk of source) await writer.write(chunk);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer.commit();
  }

  /**
   * Starts receiving a snapshot a peer offers. Feed it with `writeChunk(offset, bytes)`;
   * `commit()` verifies size and checksum before the snapshot becomes visible.
   */
  beginInstall(offer: SnapshotOffer): Promise<SnapshotWriter> {
    if (
      !Number.isSafeInteger(offer.dataBytes) ||
      offer.dataBytes < 0 ||
      offer.dataBytes > this.maxSnapshotBytes
    ) {
      return Promise.reject(
        new StorageError(
          "STORAGE_LIMIT",
          `offered snapshot of ${offer.dataBytes} bytes is outside [0, maxSnapshotBytes ${this.maxSnapshotBytes}]; raise the limit or snapshot the sender more often`,
        ),
      );
    }
    return this.startWriter(offer.meta, {
      dataBytes: offer.dataBytes,
      dataCrc: offer.dataCrc >>> 0,
    });
  }

  /** Opens a committed snapshot (the newest by default) for reading. */
  async openReader(index?: number): Promise<SnapshotReader> {
    const info =
      index === undefined ? this.latest() : this.snapshots.find((s) => s.index === index);
    if (info === undefined) {
      throw new StorageError(
        "STORAGE_NOT_FOUND",
        index === undefined
          ? "no snapshot exists yet; take one first"
          : `no snapshot at index ${index}; use latest()`,
      );
    }
    return new SnapshotReader(info, await openFile(info.file, "r"));
  }

  /** Called by a writer after its rename: records the snapshot and deletes the oldest beyond `keep`. */
  added(info: SnapshotInfo): void {
    this.snapshots = this.snapshots.filter((s) => s.file !== info.file);
    this.snapshots.push(info);
    this.snapshots.sort((a, b) => a.index - b.index || a.term - b.term);
    let removed = false;
    while (this.snapshots.length > this.keep) {
      const oldest = this.snapshots.shift() as SnapshotInfo;
      try {
        unlinkSync(oldest.file); // open readers keep their descriptor and finish normally
        removed = true;
      } catch {
        // Retried by the next snapshot's pruning only if it is listed again; harmless leftover.
      }
    }
    if (removed) fsyncDirectory(this.directory);
  }

  private async startWriter(
    meta: SnapshotMeta,
    expected: { dataBytes: number; dataCrc: number } | undefined,
  ): Promise<SnapshotWriter> {
    validateMeta(meta);
    const temporaryFile = join(
      this.directory,
      `${snapshotFileName(meta.index, meta.term)}.tmp-${process.pid}-${this.temporaryCounter++}`,
    );
    let handle: FileHandle;
    try {
      handle = await openFile(temporaryFile, "w", 0o600);
    } catch (error) {
      throw writeFailure(error, temporaryFile, "creating a snapshot");
    }
    return new SnapshotWriter(this, handle, temporaryFile, meta, expected, this.maxSnapshotBytes);
  }
}
