// The durable consensus log: append-only segment files with a CRC32C per record, an in-memory
// index of record offsets and terms (never the payloads), synchronous reads of durable entries
// for the consensus core, and group-committed asynchronous appends.
//
// All mutations go through one queue and apply in call order. Consecutive appends are merged
// into one group, encoded into reusable buffers and written with a single writev. Writes are
// pipelined against syncs: while an fdatasync is in flight, the next groups are encoded and
// written to the file (one write at a time, in file order), and the next fdatasync, started only
// when the previous one has returned, covers all of them. A group is durable once an fdatasync
// that started after its write completed has returned (or once its O_DSYNC write returned), and
// groups resolve strictly in order. So under load the batch per sync grows with the number of
// concurrent writers, and the CPU work of encoding one group overlaps the disk's work on the
// previous one. Truncation, compaction and reset wait until every earlier group is durable.

import {
  closeSync,
  constants,
  fdatasyncSync,
  ftruncateSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { fsyncDirectory, writeAtomicFileSync } from "./atomic-file.ts";
import { StorageError, writeFailure } from "./errors.ts";
import {
  checkRecord,
  decodeRecord,
  encodeRecord,
  type LogEntry,
  RECORD_HEADER_BYTES,
  recordBytes,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  segmentFileName,
} from "./log-format.ts";
import { type LogIo, nodeLogIo, SlabPool, writeFully, writeZeros } from "./log-io.ts";
import { LOG_META_FILE, readLogDirectory, type Segment } from "./log-recovery.ts";

export interface LogStoreOptions {
  /** Directory owned by this log (created if missing). One process at a time. */
  readonly directory: string;
  /**
   * A segment is closed once it reaches this size; compaction deletes whole segments, so smaller
   * segments free disk sooner after a snapshot, larger ones mean fewer files. Default 64 MiB.
   */
  readonly maxSegmentBytes?: number;
  /** Largest payload of one entry. Default 16 MiB. */
  readonly maxEntryBytes?: number;
  /**
   * Most bytes written by one group commit. Bounds the latency of the writers in a group and the
   * size of one writev. Default 8 MiB (several fdatasync-latencies of bandwidth on an SSD).
   */
  readonly maxGroupBytes?: number;
  /**
   * Most bytes accepted but not yet durable. Appends beyond it are refused with STORAGE_LIMIT, so
   * a disk slower than the producers shows up as an error instead of unbounded memory. Default 256 MiB.
   */
  readonly maxPendingBytes?: number;
  /**
   * A group that reaches this size is closed and written at once (when no other write is in
   * flight) instead of at the next turn of the event loop; the appends that follow form the next
   * group, encoded while this one is copied to the file by the I/O thread. Groups ready to be
   * written are written before the next sync starts, so the pieces of a burst share one sync
   * (see maybeStartSync). The price is one more trip to the I/O thread per piece. Default 1 MiB.
   * For 64 writers of 4 KiB (263 KiB per burst) on the development disk, 128 KiB (two pieces)
   * measured 0% to 7% slower than 1 MiB (one piece) in eight alternating pairs at a load
   * average of 2 to 4, and 3% to 15% faster in two pairs at 5 to 9; without writing the pieces
   * before syncing, 128 KiB was 10% slower (two syncs per burst).
   */
  readonly eagerGroupBytes?: number;
  /**
   * Groups of at least this size are written with writev + fdatasync instead of one O_DSYNC
   * writev (see startWrite). Default 64 KiB.
   */
  readonly bulkGroupBytes?: number;
  /** Read file descriptors kept open for closed segments. Default 16. */
  readonly maxOpenSegments?: number;
  /**
   * Most zero-filled space kept ahead of the active segment's last record (0 turns it off). An
   * append inside space already written and synced changes neither the file's size nor its
   * block map, so its O_DSYNC write costs the data and a flush; an append that grows the file
   * also makes the kernel write the inode (on ext4 without a journal, a third synchronous device
   * write in series). The space ahead grows with the segment (as much as it holds, at least
   * 64 KiB) up to this; it is topped up off the append path, one range at a time, never where a
   * write of records is in flight and never past maxSegmentBytes. The zeros are cut before a
   * new segment starts and at a clean close; after a crash, recovery cuts them with the torn
   * tail. Default 8 MiB (docs/storage.md, "Zeros ahead").
   */
  readonly preallocateBytes?: number;
}

export interface LogStoreStats {
  /** Durable writes of appended entries (O_DSYNC writev, or writev + fdatasync): one per group commit. */
  readonly syncCount: number;
  readonly appendCalls: number;
  readonly appendedEntries: number;
  readonly bytesWritten: number;
  readonly segmentCount: number;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

interface AppendGroup {
  readonly kind: "append";
  readonly firstIndex: number;
  /** Buffers holding the encoded records, in order; the last one is being filled. */
  readonly slabs: Buffer[];
  /** Bytes used in each of `slabs`. */
  readonly slabUsed: number[];
  readonly terms: number[];
  readonly recordSizes: number[];
  bytes: number;
  /**
   * May be written as soon as the write slot is free: set at the turn of the event loop after
   * its first append (so every append of that turn joins it) or once it reaches eagerGroupBytes.
   */
  ready: boolean;
  /** Where in the active segment its write starts, once started. */
  fileOffset: number;
  /** Its write has completed. */
  written: boolean;
  /** An fdatasync that started after its write completed is in flight. */
  syncing: boolean;
  /** It is on stable storage (that fdatasync returned, or its O_DSYNC write did). */
  durable: boolean;
  /** One promise for every append in the group: settling it wakes them all. */
  readonly done: Promise<void>;
  readonly waiter: Waiter;
}

interface Barrier {
  readonly kind: "barrier";
  readonly run: () => void;
  readonly waiter: Waiter;
}

type Operation = AppendGroup | Barrier;

/** Size of the pooled buffers appends are encoded into (a larger record gets one of its own). */
const SLAB_BYTES = 1024 * 1024;
/**
 * Idle pooled buffers kept per log: enough for the groups of a pipelined steady state (one being
 * encoded, one being written), so only bursts beyond that allocate.
 */
const MAX_FREE_SLABS = 4;
/** Writes to the active segment are synchronous-data writes: see writeGroup. */
const WRITE_FLAGS = constants.O_RDWR | constants.O_DSYNC;
const DEFAULTS = {
  maxSegmentBytes: 64 * 1024 * 1024,
  maxEntryBytes: 16 * 1024 * 1024,
  maxGroupBytes: 8 * 1024 * 1024,
  maxPendingBytes: 256 * 1024 * 1024,
  maxOpenSegments: 16,
  eagerGroupBytes: 1024 * 1024,
  bulkGroupBytes: 64 * 1024,
  preallocateBytes: 8 * 1024 * 1024,
} as const;

/** The smallest range of zeros worth a write of its own. */
const MIN_FILL_BYTES = 64 * 1024;

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`log store invariant broken: ${message}`);
}

function invalid(message: string): StorageError {
  return new StorageError("STORAGE_INVALID_ARGUMENT", message);
}

function settleable(): { done: Promise<void>; waiter: Waiter } {
  let waiter: Waiter | undefined;
  const done = new Promise<void>((resolve, reject) => {
    waiter = { resolve, reject };
  });
  // Callers see a failure through the promise they were given; this handler only keeps a group
  // whose callers all dropped their promise from crashing the process as an unhandled rejection.
  done.catch(() => {});
  return { done, waiter: waiter as Waiter };
}

export class LogStore {
  readonly directory: string;
  private readonly limits: Required<Omit<LogStoreOptions, "directory" | "preallocateBytes">>;
  private segments: Segment[] = [];
  /** Entries up to and including this index were compacted away (live in a snapshot). */
  private compactedIndex = 0;
  private compactedTerm = 0;

  // What appends are validated against: includes accepted, not yet durable operations.
  private acceptedNextIndex = 1;
  private acceptedLastTerm = 0;
  private acceptedCompactedIndex = 0;
  private acceptedCompactedTerm = 0;
  private pendingBytes = 0;
  /** The plain write descriptor of the active segment, once a large group needed it. */
  private bulk: { readonly segment: Segment; readonly fd: number } | undefined;
  /**
   * Groups taken off the queue and not yet resolved, in log order: durable ones wait here only
   * for an earlier one. All of them belong to the active segment.
   */
  private readonly pipeline: AppendGroup[] = [];
  /** The group whose write is in flight (at most one, so the file grows strictly in order). */
  private writing: AppendGroup | undefined;
  /** An fdatasync is in flight (at most one: see maybeStartSync). */
  private syncing = false;
  private readonly io: LogIo;
  private readonly slabs = new SlabPool(SLAB_BYTES, MAX_FREE_SLABS);

  private readonly queue: Operation[] = [];
  private readonly preallocateBytes: number;
  /**
   * The active segment holds written and synced zeros from its last write's end up to here (no
   * larger than the file). Only a hint for where appends stay inside the file: the safety of the
   * zero fill rests on `filling` (see pump).
   */
  private zeroedEnd = 0;
  /** A range of zeros being written to the active segment (at most one). */
  private filling: { readonly start: number; readonly end: number } | undefined;
  /** The segment whose zero fill failed: no further fills for it (the disk may be full). */
  private fillRefused: Segment | undefined;
  private closing = false;
  /** A flush (marking queued groups ready) is scheduled for the next turn of the event loop. */
  private flushScheduled = false;
  private failure: StorageError | undefined;
  private closed = false;

  private syncCount = 0;
  private appendCalls = 0;
  private appendedEntries = 0;
  private bytesWritten = 0;

  private constructor(options: LogStoreOptions, io: LogIo) {
    this.directory = options.directory;
    this.io = io;
    this.limits = {
      maxSegmentBytes: options.maxSegmentBytes ?? DEFAULTS.maxSegmentBytes,
      maxEntryBytes: options.maxEntryBytes ?? DEFAULTS.maxEntryBytes,
      maxGroupBytes: options.maxGroupBytes ?? DEFAULTS.maxGroupBytes,
      maxPendingBytes: options.maxPendingBytes ?? DEFAULTS.maxPendingBytes,
      maxOpenSegments: options.maxOpenSegments ?? DEFAULTS.maxOpenSegments,
      eagerGroupBytes: options.eagerGroupBytes ?? DEFAULTS.eagerGroupBytes,
      bulkGroupBytes: options.bulkGroupBytes ?? DEFAULTS.bulkGroupBytes,
    };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(value) || value <= 0)
        throw invalid(`${name} must be a positive integer, got ${value}`);
    }
    this.preallocateBytes = options.preallocateBytes ?? DEFAULTS.preallocateBytes;
    if (!Number.isSafeInteger(this.preallocateBytes) || this.preallocateBytes < 0)
      throw invalid(
        `preallocateBytes must be a non-negative integer (0 turns it off), got ${this.preallocateBytes}`,
      );
  }

  /**
   * Opens (creating if needed) the log in `options.directory` and recovers it: a torn tail is cut
   * back to the last whole record; damage anywhere else refuses to open with
   * STORAGE_CORRUPT_RECORD naming the file and offset. `io` replaces the file operations of the
   * write path; only fault-injection tests pass it.
   */
  static async open(options: LogStoreOptions, io: LogIo = nodeLogIo): Promise<LogStore> {
    const store = new LogStore(options, io);
    try {
      store.recover();
    } catch (error) {
      store.closeFds();
      throw error;
    }
    return store;
  }

  // ---- synchronous reads of durable entries (the consensus core's storage interface) ----

  /** Index of the first entry still in the log: the compaction point + 1. */
  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  /** Index of the last durable entry (the compaction point when the log is empty). */
  lastIndex(): number {
    const last = this.segments[this.segments.length - 1];
    assert(last !== undefined, "no active segment");
    return Math.max(this.compactedIndex, last.firstIndex + last.offsets.length - 1);
  }

  /** Term of the entry at `index`, for firstIndex()-1 <= index <= lastIndex(). */
  term(index: number): number {
    if (index === this.compactedIndex) return this.compactedTerm;
    this.checkReadable(index, index + 1);
    const segment = this.segmentOf(index);
    return segment.terms[index - segment.firstIndex] as number;
  }

  /**
   * Entries in [lo, hi): at most `maxBytes` of payload in total, but always at least one entry
   * when lo < hi (so one oversized entry still makes progress). Reads only the records it returns.
   */
  entries(lo: number, hi: number, maxBytes = Number.MAX_SAFE_INTEGER): LogEntry[] {
    if (lo > hi) throw invalid(`entries(${lo}, ${hi}): lo must not exceed hi`);
    if (lo === hi) return [];
    this.checkReadable(lo, hi);
    const result: LogEntry[] = [];
    let payloadBytes = 0;
    let index = lo;
    while (index < hi) {
      const segment = this.segmentOf(index);
      const first = index - segment.firstIndex;
      let last = first; // exclusive
      const segmentEnd = Math.min(hi - segment.firstIndex, segment.offsets.length);
      while (last < segmentEnd) {
        const size =
          this.recordEnd(segment, last) - (segment.offsets[last] as number) - RECORD_HEADER_BYTES;
        if (result.length + (last - first) > 0 && payloadBytes + size > maxBytes) break;
        payloadBytes += size;
        last++;
      }
      if (last === first) break;
      this.readRecords(segment, first, last, result);
      index = segment.firstIndex + last;
      if (index < hi && last < segmentEnd) break; // stopped by maxBytes
    }
    return result;
  }

  /** The index the next append must start at (counts accepted appends not yet durable). */
  nextIndex(): number {
    return this.acceptedNextIndex;
  }

  stats(): LogStoreStats {
    return {
      syncCount: this.syncCount,
      appendCalls: this.appendCalls,
      appendedEntries: this.appendedEntries,
      bytesWritten: this.bytesWritten,
      segmentCount: this.segments.length,
    };
  }

  // ---- asynchronous writes ----

  /**
   * Appends `entries` (consecutive indexes starting at nextIndex(), non-decreasing terms).
   * Resolves once they are durable. The entries are copied: the caller may reuse its buffers.
   * To replace a conflicting suffix, call truncate() first (it may be issued without awaiting).
   */
  append(entries: readonly LogEntry[]): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    if (entries.length === 0) return Promise.resolve();
    let bytes = 0;
    let expectedIndex = this.acceptedNextIndex;
    let lastTerm = this.acceptedLastTerm;
    for (const entry of entries) {
      if (entry.index !== expectedIndex) {
        return Promise.reject(
          invalid(
            `append: entry index ${entry.index} must be ${expectedIndex} (entries are consecutive from nextIndex()); truncate a conflicting suffix first`,
          ),
        );
      }
      if (!Number.isSafeInteger(entry.term) || entry.term < lastTerm) {
        return Promise.reject(
          invalid(
            `append: entry ${entry.index} has term ${entry.term}, below the preceding term ${lastTerm}`,
          ),
        );
      }
      if (entry.type !== 0 && entry.type !== 1) {
        return Promise.reject(
          invalid(
            `append: entry ${entry.index} has type ${entry.type}; use 0 (normal) or 1 (configuration change)`,
          ),
        );
      }
      if (entry.data.length > this.limits.maxEntryBytes) {
        return Promise.reject(
          new StorageError(
            "STORAGE_LIMIT",
            `append: entry ${entry.index} carries ${entry.data.length} bytes, above maxEntryBytes ${this.limits.maxEntryBytes}; split the payload`,
          ),
        );
      }
      bytes += recordBytes(entry);
      lastTerm = entry.term;
      expectedIndex++;
    }
    if (this.pendingBytes + bytes > this.limits.maxPendingBytes) {
      return Promise.reject(
        new StorageError(
          "STORAGE_LIMIT",
          `append: ${this.pendingBytes} bytes already wait for the disk (maxPendingBytes ${this.limits.maxPendingBytes}); wait for earlier appends to resolve`,
        ),
      );
    }
    let group = this.queue[this.queue.length - 1];
    if (
      group === undefined ||
      group.kind !== "append" ||
      group.bytes >= this.limits.eagerGroupBytes ||
      group.bytes + bytes > this.limits.maxGroupBytes
    ) {
      group = {
        kind: "append",
        firstIndex: this.acceptedNextIndex,
        slabs: [],
        slabUsed: [],
        terms: [],
        recordSizes: [],
        bytes: 0,
        ready: false,
        fileOffset: -1,
        written: false,
        syncing: false,
        durable: false,
        ...settleable(),
      };
      this.queue.push(group);
    }
    // Records are encoded into a few large pooled buffers per group rather than one allocation
    // per append: no allocation in the steady state, and few iovecs for the writev.
    let last = group.slabs.length - 1;
    let slab = group.slabs[last];
    if (slab === undefined || slab.length - (group.slabUsed[last] as number) < bytes) {
      slab = this.slabs.take(bytes);
      group.slabs.push(slab);
      group.slabUsed.push(0);
      last++;
    }
    let offset = group.slabUsed[last] as number;
    for (const entry of entries) {
      const end = encodeRecord(entry, slab, offset);
      group.terms.push(entry.term);
      group.recordSizes.push(end - offset);
      offset = end;
    }
    group.slabUsed[last] = offset;
    group.bytes += bytes;
    this.pendingBytes += bytes;
    this.acceptedNextIndex = expectedIndex;
    this.acceptedLastTerm = lastTerm;
    this.appendCalls++;
    if (group.bytes >= this.limits.eagerGroupBytes) {
      // Large entries: send this group to the file now (if the write slot is free) and let the
      // rest of this burst of appends (checksumming, copying) overlap with its write.
      group.ready = true;
      this.pump();
    }
    this.scheduleFlush();
    return group.done;
  }

  /** Removes entries with index >= fromIndex (a conflicting, uncommitted suffix). */
  truncate(fromIndex: number): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    if (
      !Number.isSafeInteger(fromIndex) ||
      fromIndex <= this.acceptedCompactedIndex ||
      fromIndex > this.acceptedNextIndex
    ) {
      return Promise.reject(
        invalid(
          `truncate(${fromIndex}): must lie in (${this.acceptedCompactedIndex}, ${this.acceptedNextIndex}]; compacted entries cannot be truncated`,
        ),
      );
    }
    if (fromIndex === this.acceptedNextIndex) return this.barrier(() => {});
    this.acceptedLastTerm = this.acceptedTerm(fromIndex - 1);
    this.acceptedNextIndex = fromIndex;
    return this.barrier(() => this.truncateNow(fromIndex));
  }

  /**
   * Discards entries up to and including `throughIndex` (they are covered by a durable snapshot).
   * Must not exceed the durable last index at the time it runs.
   */
  compact(throughIndex: number): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    if (
      !Number.isSafeInteger(throughIndex) ||
      throughIndex < this.acceptedCompactedIndex ||
      throughIndex >= this.acceptedNextIndex
    ) {
      return Promise.reject(
        invalid(
          `compact(${throughIndex}): must lie in [${this.acceptedCompactedIndex}, ${this.acceptedNextIndex - 1}]`,
        ),
      );
    }
    this.acceptedCompactedTerm = this.acceptedTerm(throughIndex);
    this.acceptedCompactedIndex = throughIndex;
    return this.barrier(() => this.compactNow(throughIndex));
  }

  /**
   * Discards the whole log and restarts it after a snapshot at (index, term): the next append is
   * index + 1. For a snapshot received from the leader that the log does not match.
   */
  reset(index: number, term: number): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    if (
      !Number.isSafeInteger(index) ||
      index < this.acceptedCompactedIndex ||
      !Number.isSafeInteger(term) ||
      term < 0
    ) {
      return Promise.reject(
        invalid(
          `reset(${index}, ${term}): the index must be at least the compaction point ${this.acceptedCompactedIndex}`,
        ),
      );
    }
    this.acceptedCompactedIndex = index;
    this.acceptedCompactedTerm = term;
    this.acceptedNextIndex = index + 1;
    this.acceptedLastTerm = term;
    return this.barrier(() => this.resetNow(index, term));
  }

  /**
   * Makes the log agree with a durable snapshot at (index, term): if the log holds that entry with
   * that term, compacts through it and keeps the suffix; otherwise resets. Call after installing a
   * snapshot and at startup (a crash between the snapshot and the log step is repaired here).
   */
  async alignToSnapshot(index: number, term: number): Promise<void> {
    await this.barrier(() => {});
    if (index < this.compactedIndex) return; // the log is already past this snapshot
    if (index <= this.lastIndex() && this.term(index) === term) {
      if (index > this.compactedIndex) await this.compact(index);
      return;
    }
    if (index === this.compactedIndex && term === this.compactedTerm) return;
    await this.reset(index, term);
  }

  /** Waits for queued writes, then releases file descriptors. Reads fail afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    try {
      // A clean close leaves only whole records in the files: the zeros ahead are cut.
      await this.barrier(() => this.trimZeros());
    } catch {
      // A failed store still closes; the failure was reported to the writers.
    }
    this.closed = true;
    this.closeFds();
  }

  // ---- the write queue ----

  private writeRefusal(): StorageError | undefined {
    if (this.closed)
      return new StorageError("STORAGE_CLOSED", "the log store is closed; open it again to write");
    if (this.failure !== undefined) {
      if (this.failure.code === "STORAGE_DISK_FULL") return this.failure;
      return new StorageError(
        "STORAGE_WRITES_STOPPED",
        `the log store stopped accepting writes after an earlier failure (${this.failure.message}); reopen it after fixing the cause`,
        { cause: this.failure },
      );
    }
    return undefined;
  }

  private barrier(run: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: "barrier", run, waiter: { resolve, reject } });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Deferred to the next turn so every append issued in this turn (for example by writers
    // woken by the previous commit) joins the same group.
    setImmediate(() => {
      this.flushScheduled = false;
      for (const operation of this.queue) {
        if (operation.kind === "append") operation.ready = true;
      }
      this.pump();
    });
  }

  /** Starts whatever the queue allows now. Called after every event that may unblock it. */
  private pump(): void {
    this.pumpQueue();
    this.maybeFill();
  }

  private pumpQueue(): void {
    for (;;) {
      if (this.failure !== undefined) {
        this.failPending();
        return;
      }
      // One write at a time: a later write never reaches the file before an earlier one, so a
      // crash leaves a prefix of the groups (recovery cuts a torn last one), never a hole.
      if (this.writing !== undefined) return;
      const next = this.queue[0];
      if (next === undefined) return;
      if (next.kind === "barrier") {
        // Truncate, compact and reset act on the durable log: everything before them must be
        // durable (and resolved) first.
        if (this.pipeline.length > 0 || this.filling !== undefined) return;
        this.queue.shift();
        try {
          next.run();
          next.waiter.resolve();
        } catch (error) {
          const failure = writeFailure(error, this.activeSegment().path, "writing the log");
          if (failure.code === "STORAGE_DISK_FULL" || failure.code === "STORAGE_IO")
            this.failure = failure;
          next.waiter.reject(failure);
        }
        continue;
      }
      if (!next.ready) return;
      let segment = this.activeSegment();
      if (this.writeEnd() >= this.limits.maxSegmentBytes) {
        // Start the next segment only once everything in this one is durable: an fdatasync of
        // the new file would not cover the old one's tail. Its zeros are cut first (startSegment).
        if (this.pipeline.length > 0 || this.filling !== undefined) return;
        if (segment.offsets.length > 0) {
          try {
            segment = this.startSegment(next.firstIndex);
          } catch (error) {
            this.queue.shift();
            this.failure = writeFailure(error, this.directory, "starting a new log segment");
            this.rejectOperation(next, this.failure);
            continue;
          }
        }
      }
      // Records are never written where zeros are still being written: the two writes could
      // reach the file in either order.
      if (this.filling !== undefined && this.writeEnd() + next.bytes > this.filling.start) return;
      this.queue.shift();
      this.startWrite(next, segment);
    }
  }

  /**
   * Starts writing zeros ahead of the active segment's end when less than half of the space it
   * should have ahead is left (see LogStoreOptions.preallocateBytes). Off the append path: its
   * own descriptor, a plain write and an fdatasync on the I/O threads. A failure only stops the
   * fills of this segment: appends then grow the file as they would without it, and report any
   * real error themselves.
   */
  private maybeFill(): void {
    if (
      this.preallocateBytes === 0 ||
      this.filling !== undefined ||
      this.failure !== undefined ||
      this.closing
    )
      return;
    const segment = this.activeSegment();
    if (this.fillRefused === segment) return;
    const writeEnd = this.writeEnd();
    if (writeEnd >= this.limits.maxSegmentBytes) return;
    // As much space ahead as the segment holds already, up to preallocateBytes: a log that
    // writes little never writes many zeros.
    const ahead = Math.min(this.preallocateBytes, Math.max(MIN_FILL_BYTES, writeEnd));
    if (this.zeroedEnd - writeEnd >= ahead / 2) return;
    const start = Math.max(this.zeroedEnd, writeEnd);
    const end = Math.min(writeEnd + ahead, this.limits.maxSegmentBytes);
    if (end - start < Math.min(MIN_FILL_BYTES, ahead)) return;
    const filling = { start, end };
    this.filling = filling;
    const done = (error: Error | null): void => {
      assert(this.filling === filling, "zero fill completion of a fill not in flight");
      this.filling = undefined;
      if (error !== null) this.fillRefused = segment;
      // Barriers and segment changes wait for the fill (pump), so the segment is still active.
      else if (segment === this.activeSegment()) this.zeroedEnd = Math.max(this.zeroedEnd, end);
      this.pump();
    };
    if (this.io.writeZeros !== undefined) this.io.writeZeros(segment.path, start, end, done);
    else writeZeros(segment.path, start, end, done);
  }

  /** Cuts the active segment's zeros (after its last record); the caller holds the write slot. */
  private trimZeros(): void {
    const segment = this.segments[this.segments.length - 1];
    if (segment === undefined || this.zeroedEnd <= segment.endOffset) return;
    const fd = this.fdOf(segment);
    ftruncateSync(fd, segment.endOffset);
    fdatasyncSync(fd);
    this.zeroedEnd = segment.endOffset;
  }

  /** Where the next group's write starts in the active segment. */
  private writeEnd(): number {
    const tail = this.pipeline[this.pipeline.length - 1];
    return tail !== undefined ? tail.fileOffset + tail.bytes : this.activeSegment().endOffset;
  }

  private startWrite(group: AppendGroup, segment: Segment): void {
    const tail = this.pipeline[this.pipeline.length - 1];
    const continuesAt =
      tail !== undefined
        ? tail.firstIndex + tail.terms.length
        : segment.firstIndex + segment.offsets.length;
    assert(
      group.firstIndex === continuesAt,
      `group starts at ${group.firstIndex}, log continues at ${continuesAt}`,
    );
    group.fileOffset = this.writeEnd();
    // A small group with nothing else in flight goes through the active segment's O_DSYNC
    // descriptor: one writev both writes and makes the group durable (data and file size), a
    // single trip to the I/O thread instead of two. Large groups, and any group written while
    // an earlier one still waits for its sync, take a plain descriptor and the fdatasync
    // pipeline: there the write overlaps the previous sync, and for large groups the extra trip
    // is small next to the transfer (write + fdatasync was faster than O_DSYNC for 256 KiB
    // batches in most runs of the benchmark's raw loops, docs/storage.md).
    const dsync = this.pipeline.length === 0 && group.bytes < this.limits.bulkGroupBytes;
    let fd: number;
    try {
      fd = dsync ? this.fdOf(segment) : this.bulkFdOf(segment);
    } catch (error) {
      this.failure = writeFailure(error, segment.path, "opening the log segment");
      this.rejectOperation(group, this.failure);
      return;
    }
    this.pipeline.push(group);
    this.writing = group;
    const buffers = group.slabs.map((slab, k) => slab.subarray(0, group.slabUsed[k]));
    writeFully(this.io, fd, buffers, group.fileOffset, (error) => {
      assert(this.writing === group, "write completion of a group not being written");
      this.writing = undefined;
      this.releaseSlabs(group);
      if (error !== null) {
        // The pipeline's later groups and the queue are failed by failPending (via pump).
        if (this.failure === undefined)
          this.failure = writeFailure(error, segment.path, "appending to the log");
        this.pump();
        return;
      }
      group.written = true;
      if (dsync) {
        this.syncCount++;
        group.durable = true;
        this.settle();
      }
      this.maybeStartSync();
      this.pump();
    });
  }

  /**
   * Starts an fdatasync covering every group whose write has completed, unless one is already in
   * flight (then the next starts when it returns). One at a time: a sync's result is then
   * unambiguous (Linux reports a writeback error to one fdatasync per descriptor, so concurrent
   * syncs could not tell which groups an error belongs to), and every write that completed while
   * a sync was running is covered by the next one.
   *
   * If another group is ready to be written right away (a burst cut by eagerGroupBytes), it is
   * written first, up to maxGroupBytes not yet synced: one sync then covers the whole burst,
   * whose first write overlapped the encoding of the rest, instead of one sync per piece.
   */
  private maybeStartSync(): void {
    if (this.syncing || this.failure !== undefined) return;
    const covered = this.pipeline.filter((group) => group.written && !group.durable);
    if (covered.length === 0) return;
    const next = this.queue[0];
    if (
      this.writing === undefined &&
      next?.kind === "append" &&
      next.ready &&
      // pump() writes it at once, unless the segment is full (it then waits for this sync).
      this.writeEnd() < this.limits.maxSegmentBytes &&
      covered.reduce((sum, group) => sum + group.bytes, 0) < this.limits.maxGroupBytes
    )
      return; // pump() starts its write; the write's completion comes back here
    const bulk = this.bulk;
    assert(
      bulk !== undefined && bulk.segment === this.activeSegment(),
      "groups wait for a sync but the active segment has no plain descriptor",
    );
    this.syncing = true;
    for (const group of covered) group.syncing = true;
    this.io.fdatasync(bulk.fd, (error) => {
      this.syncing = false;
      for (const group of covered) group.syncing = false;
      if (error !== null) {
        // Every group this sync covered fails, and so does everything after it; the store stops
        // (after a failed fdatasync the kernel may have dropped the dirty pages, and a retry
        // could report success for data that is gone).
        if (this.failure === undefined)
          this.failure = writeFailure(error, bulk.segment.path, "syncing the log");
        this.pump();
        return;
      }
      this.syncCount++;
      for (const group of covered) group.durable = true;
      this.settle();
      this.maybeStartSync();
      this.pump();
    });
  }

  /** Resolves the durable groups at the head of the pipeline, in order, making their entries readable. */
  private settle(): void {
    const segment = this.activeSegment();
    for (let group = this.pipeline[0]; group?.durable === true; group = this.pipeline[0]) {
      this.pipeline.shift();
      assert(
        group.fileOffset === segment.endOffset,
        `group written at ${group.fileOffset}, segment ends at ${segment.endOffset}`,
      );
      let offset = group.fileOffset;
      for (let k = 0; k < group.terms.length; k++) {
        segment.offsets.push(offset);
        segment.terms.push(group.terms[k] as number);
        offset += group.recordSizes[k] as number;
      }
      segment.endOffset = offset;
      this.bytesWritten += group.bytes;
      this.pendingBytes -= group.bytes;
      this.appendedEntries += group.terms.length;
      group.waiter.resolve();
    }
  }

  /**
   * After a failure: once no write or sync is in flight, cuts whatever part of the groups that
   * are not durable reached the file, and rejects them and everything queued.
   */
  private failPending(): void {
    const failure = this.failure;
    assert(failure !== undefined, "failPending without a failure");
    if (this.writing !== undefined || this.syncing) return; // their completions come back here
    if (this.pipeline.length > 0) {
      // The segment ends at a record boundary again; needs no free space. If even this fails,
      // reopening truncates the torn tail.
      const segment = this.activeSegment();
      this.zeroedEnd = segment.endOffset;
      try {
        ftruncateSync(this.fdOf(segment), segment.endOffset);
      } catch {
        // Recovery on the next open handles it.
      }
      for (const group of this.pipeline.splice(0)) {
        assert(!group.durable, "a durable group left unresolved");
        this.rejectOperation(group, failure);
      }
    }
    for (let operation = this.queue.shift(); operation; operation = this.queue.shift())
      this.rejectOperation(operation, this.writeRefusal());
  }

  private rejectOperation(operation: Operation, error: unknown): void {
    if (operation.kind === "append") {
      this.pendingBytes -= operation.bytes;
      this.releaseSlabs(operation);
    }
    operation.waiter.reject(error);
  }

  private releaseSlabs(group: AppendGroup): void {
    for (const slab of group.slabs) this.slabs.give(slab);
    group.slabs.length = 0;
    group.slabUsed.length = 0;
  }

  /** Creates a new, durable, empty segment for entries from `firstIndex` on and makes it active. */
  private startSegment(firstIndex: number): Segment {
    // Only the last segment may end in zeros (recovery refuses damage in any other): cut them,
    // durably, before a later segment exists.
    this.trimZeros();
    this.closeBulkFd();
    const previous = this.segments[this.segments.length - 1];
    if (previous?.fd !== undefined) {
      // The closed segment's write descriptor is no longer needed; reads reopen it read-only
      // under the maxOpenSegments bound.
      closeSync(previous.fd);
      previous.fd = undefined;
      previous.writable = false;
    }
    const path = join(this.directory, segmentFileName(firstIndex));
    const fd = openSync(path, WRITE_FLAGS | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      writeSync(fd, SEGMENT_MAGIC, 0, SEGMENT_HEADER_BYTES, 0);
      fdatasyncSync(fd);
      fsyncDirectory(this.directory);
    } catch (error) {
      closeSync(fd);
      try {
        unlinkSync(path);
      } catch {
        // Recovery treats a segment with a torn header as empty.
      }
      throw error;
    }
    const segment: Segment = {
      firstIndex,
      path,
      offsets: [],
      terms: [],
      endOffset: SEGMENT_HEADER_BYTES,
      fd,
      writable: true,
    };
    this.segments.push(segment);
    this.zeroedEnd = SEGMENT_HEADER_BYTES;
    this.fillRefused = undefined;
    return segment;
  }

  private truncateNow(fromIndex: number): void {
    // Later segments go first, newest first, so a crash part-way leaves a contiguous log.
    let removed = false;
    while (this.segments.length > 1 && this.activeSegment().firstIndex >= fromIndex) {
      this.removeSegment(this.segments.pop() as Segment);
      removed = true;
    }
    const segment = this.activeSegment();
    if (segment.fd !== undefined && !segment.writable) {
      // It was a closed segment until now: its cached descriptor is read-only.
      closeSync(segment.fd);
      segment.fd = undefined;
    }
    const keep = Math.max(0, fromIndex - segment.firstIndex);
    if (keep < segment.offsets.length) {
      const end = segment.offsets[keep] as number;
      const fd = this.fdOf(segment);
      ftruncateSync(fd, end);
      fdatasyncSync(fd);
      segment.offsets.length = keep;
      segment.terms.length = keep;
      segment.endOffset = end;
      this.zeroedEnd = end;
    } else if (removed) {
      // A closed segment became the active one: it was cut to its last record when it closed.
      this.zeroedEnd = segment.endOffset;
    }
    if (removed) fsyncDirectory(this.directory);
    assert(segment.firstIndex <= fromIndex, `truncate(${fromIndex}) left segment ${segment.path}`);
  }

  private compactNow(throughIndex: number): void {
    if (throughIndex <= this.compactedIndex) return;
    assert(
      throughIndex <= this.lastIndex(),
      `compact(${throughIndex}) beyond durable last index ${this.lastIndex()}`,
    );
    const term = this.term(throughIndex);
    // Record the new bounds first: a crash after this line leaves segments that recovery drops.
    writeAtomicFileSync(join(this.directory, LOG_META_FILE), {
      compactedIndex: throughIndex,
      compactedTerm: term,
    });
    this.compactedIndex = throughIndex;
    this.compactedTerm = term;
    let removed = false;
    while (this.segments.length > 1) {
      const first = this.segments[0] as Segment;
      if (first.firstIndex + first.offsets.length - 1 > throughIndex) break;
      this.removeSegment(first);
      this.segments.shift();
      removed = true;
    }
    if (removed) fsyncDirectory(this.directory);
  }

  private resetNow(index: number, term: number): void {
    // Delete first, newest first: a crash part-way leaves a shorter but consistent log under the
    // old bounds, which alignToSnapshot repairs at startup; the new bounds come last.
    while (this.segments.length > 0) this.removeSegment(this.segments.pop() as Segment);
    fsyncDirectory(this.directory);
    this.startSegment(index + 1);
    writeAtomicFileSync(join(this.directory, LOG_META_FILE), {
      compactedIndex: index,
      compactedTerm: term,
    });
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  // ---- recovery ----

  private recover(): void {
    const recovered = readLogDirectory(this.directory);
    this.compactedIndex = recovered.compactedIndex;
    this.compactedTerm = recovered.compactedTerm;
    this.segments = recovered.segments;
    this.applyBounds();
    const last = this.activeSegment();
    // Recovery cut any zeros after the last record with the torn tail.
    this.zeroedEnd = Math.max(this.zeroedEnd, last.endOffset);
    this.acceptedNextIndex = last.firstIndex + last.offsets.length;
    this.acceptedLastTerm =
      last.terms.length > 0 ? (last.terms[last.terms.length - 1] as number) : this.compactedTerm;
    this.acceptedCompactedIndex = this.compactedIndex;
    this.acceptedCompactedTerm = this.compactedTerm;
  }

  /** Reconciles the segments with the recorded compaction point after a crash mid-operation. */
  private applyBounds(): void {
    const recordCount = this.segments.reduce((sum, segment) => sum + segment.offsets.length, 0);
    const first = this.segments[0];
    const last = this.segments[this.segments.length - 1];
    const lastIndex = last === undefined ? 0 : last.firstIndex + last.offsets.length - 1;
    const stale =
      first === undefined ||
      recordCount === 0 ||
      // Every entry is at or before the compaction point and the log cannot continue from it:
      // a reset was interrupted after it recorded its bounds; nothing here is needed.
      lastIndex < this.compactedIndex;
    if (stale) {
      if (
        first !== undefined &&
        recordCount === 0 &&
        this.segments.length === 1 &&
        first.firstIndex === this.compactedIndex + 1
      )
        return;
      while (this.segments.length > 0) this.removeSegment(this.segments.pop() as Segment);
      this.startSegment(this.compactedIndex + 1);
      return;
    }
    if (first.firstIndex > this.compactedIndex + 1) {
      throw new StorageError(
        "STORAGE_CORRUPT_RECORD",
        `log segment ${first.path} starts at index ${first.firstIndex} but entries after ${this.compactedIndex} are expected; entries are missing. Restore the log or rebuild this node from its peers`,
        { file: first.path, offset: 0 },
      );
    }
    if (this.compactedIndex >= first.firstIndex) {
      const segment = this.segmentOf(this.compactedIndex);
      const term = segment.terms[this.compactedIndex - segment.firstIndex];
      if (term !== this.compactedTerm) {
        throw new StorageError(
          "STORAGE_CORRUPT_FILE",
          `entry ${this.compactedIndex} in ${segment.path} has term ${term} but ${LOG_META_FILE} records term ${this.compactedTerm} for it; restore the log or rebuild this node from its peers`,
          { file: join(this.directory, LOG_META_FILE) },
        );
      }
    }
    let removed = false;
    while (this.segments.length > 1) {
      const segment = this.segments[0] as Segment;
      if (segment.firstIndex + segment.offsets.length - 1 > this.compactedIndex) break;
      this.removeSegment(segment);
      this.segments.shift();
      removed = true;
    }
    if (removed) fsyncDirectory(this.directory);
  }

  // ---- helpers ----

  private activeSegment(): Segment {
    const segment = this.segments[this.segments.length - 1];
    assert(segment !== undefined, "no active segment");
    return segment;
  }

  private checkReadable(lo: number, hi: number): void {
    if (this.closed)
      throw new StorageError("STORAGE_CLOSED", "the log store is closed; open it again to read");
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi))
      throw invalid(`log range [${lo}, ${hi}) must be integers`);
    if (lo <= this.compactedIndex) {
      throw new StorageError(
        "STORAGE_COMPACTED",
        `log index ${lo} was compacted (first index is ${this.compactedIndex + 1}); send the snapshot instead`,
      );
    }
    if (hi - 1 > this.lastIndex()) {
      throw new StorageError(
        "STORAGE_UNAVAILABLE",
        `log index ${hi - 1} is beyond the last durable index ${this.lastIndex()}`,
      );
    }
  }

  /** The segment holding durable entry `index` (which the caller has range-checked). */
  private segmentOf(index: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    const segment = this.segments[lo] as Segment;
    assert(
      index >= segment.firstIndex && index < segment.firstIndex + segment.offsets.length,
      `index ${index} not in segment ${segment.path}`,
    );
    return segment;
  }

  private recordEnd(segment: Segment, k: number): number {
    return k + 1 < segment.offsets.length ? (segment.offsets[k + 1] as number) : segment.endOffset;
  }

  private readRecords(segment: Segment, first: number, last: number, out: LogEntry[]): void {
    const start = segment.offsets[first] as number;
    const end = this.recordEnd(segment, last - 1);
    const buffer = Buffer.allocUnsafe(end - start);
    const fd = this.fdOf(segment);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, start + read);
      if (n === 0) break;
      read += n;
    }
    for (let k = first; k < last; k++) {
      const offset = (segment.offsets[k] as number) - start;
      const check = checkRecord(buffer, offset, read);
      if (!check.ok || check.index !== segment.firstIndex + k) {
        throw new StorageError(
          "STORAGE_CORRUPT_RECORD",
          `log segment ${segment.path} is damaged at byte offset ${segment.offsets[k]} (found while reading entry ${segment.firstIndex + k}); restore the log or rebuild this node from its peers`,
          { file: segment.path, offset: segment.offsets[k] as number },
        );
      }
      out.push(decodeRecord(buffer, offset));
    }
  }

  private fdOf(segment: Segment): number {
    if (segment.fd !== undefined) return segment.fd;
    const closed = this.segments.slice(0, -1);
    const isActive = segment === this.segments[this.segments.length - 1];
    if (
      !isActive &&
      closed.filter((other) => other.fd !== undefined).length >= this.limits.maxOpenSegments
    ) {
      // Bounded descriptor use: drop the cached descriptors of closed segments (rare: reads far
      // behind the tail, which the consensus core makes only for slow followers).
      for (const other of closed) {
        if (other.fd !== undefined) closeSync(other.fd);
        other.fd = undefined;
      }
    }
    segment.fd = openSync(segment.path, isActive ? WRITE_FLAGS : "r");
    segment.writable = isActive;
    return segment.fd;
  }

  private removeSegment(segment: Segment): void {
    if (this.bulk?.segment === segment) this.closeBulkFd();
    if (segment.fd !== undefined) closeSync(segment.fd);
    segment.fd = undefined;
    unlinkSync(segment.path);
  }

  /** A plain (not O_DSYNC) write descriptor of the active segment, for large groups. */
  private bulkFdOf(segment: Segment): number {
    if (this.bulk?.segment === segment) return this.bulk.fd;
    this.closeBulkFd();
    const fd = openSync(segment.path, constants.O_RDWR);
    this.bulk = { segment, fd };
    return fd;
  }

  private closeBulkFd(): void {
    if (this.bulk !== undefined) closeSync(this.bulk.fd);
    this.bulk = undefined;
  }

  private closeFds(): void {
    this.closeBulkFd();
    for (const segment of this.segments) {
      if (segment.fd !== undefined) closeSync(segment.fd);
      segment.fd = undefined;
    }
  }

  /** Term of an accepted entry: durable, or still waiting in the queue. */
  private acceptedTerm(index: number): number {
    if (index === this.acceptedCompactedIndex) return this.acceptedCompactedTerm;
    // Newest first: after a truncate, a later group supersedes an earlier one at the same index.
    // The pipeline's groups all precede the queued ones.
    const groups = [
      ...this.pipeline,
      ...this.queue.filter((operation) => operation.kind === "append"),
    ].reverse();
    for (const group of groups) {
      if (index >= group.firstIndex && index < group.firstIndex + group.terms.length) {
        return group.terms[index - group.firstIndex] as number;
      }
    }
    return this.term(index);
  }
}
