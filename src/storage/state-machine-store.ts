// Durable store of the replicated state machine, on LMDB.
//
// One LMDB environment holds three named databases:
//   meta    - the applied index, which data database is active, the format version
//   data-0  - state-machine data (one of the two is active)
//   data-1  - the other one: empty, or the target of a snapshot restore in progress
// A batch of committed entries (in "async" mode, every batch applied since the last commit) and
// the applied index are written in one LMDB write transaction,
// so after any crash the data and the applied index describe the same point of the log: a
// restart never re-applies or skips an entry. See docs/kv.md ("Durability contract").

import { createHash, type Hash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { type Database, open, type RootDatabase, type Transaction, TransactionFlags } from "lmdb";
import {
  inBounds,
  mergeRange,
  type OverlayEntry,
  type OverlayRangeBounds,
  overlayKey,
  WriteOverlay,
} from "./write-overlay.ts";

/** LMDB's key size limit as built into the lmdb package (4 KiB pages). */
export const STATE_MACHINE_MAX_KEY_SIZE_BYTES = 1978;
/** Upper bound on one range read, so a careless caller cannot load the whole store at once. */
export const STATE_MACHINE_MAX_RANGE_LIMIT = 100_000;

const SNAPSHOT_MAGIC = Buffer.from("HHSM", "ascii");
const SNAPSHOT_FORMAT_VERSION = 1;
const SNAPSHOT_HEADER_SIZE_BYTES = SNAPSHOT_MAGIC.length + 1 + 8;
const RECORD_TAG_ENTRY = 1;
const RECORD_TAG_END = 2;
const SHA256_SIZE_BYTES = 32;
const STORE_FORMAT_VERSION = 1;

// Abortable (a throwing body rolls back) and committed before transactionSync returns; the
// deferred variant returns before the commit is flushed to disk (the flush follows, in order).
const TXN_FLAGS_FLUSHED: TransactionFlags =
  TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT;
const TXN_FLAGS_DEFERRED: TransactionFlags = TXN_FLAGS_FLUSHED | TransactionFlags.NO_SYNC_FLUSH;

const META_APPLIED_INDEX = Buffer.from("appliedIndex");
const META_ACTIVE_DATA = Buffer.from("activeData");
const META_FORMAT_VERSION = Buffer.from("formatVersion");
const SMALLEST_KEY = Buffer.from([0]);

export type StateMachineStoreErrorCode =
  | "INVALID_OPTIONS"
  | "INVALID_KEY"
  | "KEY_TOO_LARGE"
  | "INVALID_VALUE"
  | "INVALID_RANGE"
  | "INVALID_APPLIED_INDEX"
  | "STORE_CLOSED"
  | "STORE_BUSY"
  | "STORE_CORRUPT"
  | "TXN_CLOSED"
  | "SNAPSHOT_CORRUPT"
  | "SNAPSHOT_TRUNCATED"
  | "SNAPSHOT_UNSUPPORTED_VERSION";

export class StateMachineStoreError extends Error {
  readonly code: StateMachineStoreErrorCode;
  constructor(code: StateMachineStoreErrorCode, message: string) {
    super(message);
    this.name = "StateMachineStoreError";
    this.code = code;
  }
}

export type SyncMode = "fsync" | "deferred" | "async";

export interface StateMachineStoreOptions {
  /** Directory of the LMDB environment; created if missing. */
  dir: string;
  /**
   * "fsync" (default): applyBatch returns once the batch is on disk.
   * "deferred": applyBatch returns once committed in memory-mapped pages; the flush to disk
   * follows in commit order. A process crash loses nothing (the page cache survives); a power
   * loss or kernel crash may roll the store back to an older, whole batch, never a torn one.
   * Only safe because the node re-applies from its durable log (see docs/kv.md).
   * "async": applyBatch returns as soon as the batch is queued; LMDB's writer thread commits it
   * (the batch and its applied index in one transaction) and flushes it in the background, off
   * the main thread. Reads see every applied batch at once (uncommitted writes are served from
   * memory). A crash may roll the store back to an older, whole batch, never a torn one; the
   * same caveat as "deferred" applies. committed() and flush() wait for the background work.
   * Commits sync the data pages but not the meta page (LMDB's MDB_NOMETASYNC: the store keeps
   * its integrity, and a system crash may undo the last commit, which the log re-applies);
   * flush() and a snapshot restore force a full sync.
   */
  syncMode?: SyncMode;
  /** "async" mode: called once if a background commit fails; the store refuses writes after. */
  onAsyncError?: (error: Error) => void;
  /**
   * "async" mode: commits start at most this often; the batches applied in between go into
   * the next commit together (one LMDB transaction and one sync for all of them, as etcd's
   * backend commits every 100 ms). A batch applied when the last commit started longer ago
   * than this is committed at once. 0 commits every batch on its own. Default 100 ms.
   */
  commitIntervalMs?: number;
  /** "async" mode: a commit starts at once when this many writes wait for one. Default 10000. */
  maxQueuedWrites?: number;
  /** "async" mode: ...or when their keys and values reach this many bytes. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Target size of one snapshot chunk; default 256 KiB. Bounds memory while streaming. */
  snapshotChunkSizeBytes?: number;
  /** Bytes written per LMDB transaction while restoring a snapshot; default 8 MiB. */
  restoreBatchSizeBytes?: number;
  /** Largest value a snapshot record may declare before it is called corrupt; default 64 MiB. */
  maxSnapshotValueSizeBytes?: number;
}

/** "async" mode: one applied batch waiting for its commit. */
interface QueuedBatch {
  readonly batch: number;
  readonly writes: ReadonlyMap<string, { key: Buffer; value: Buffer | null }>;
  readonly appliedIndex: number;
}

export interface StoreEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface RangeOptions {
  /** Only keys that start with these bytes; default: all keys. */
  prefix?: Uint8Array;
  /** Only keys strictly greater than this one (a pagination cursor). */
  after?: Uint8Array;
  /** At most this many entries, 1..STATE_MACHINE_MAX_RANGE_LIMIT. */
  limit: number;
  /** Stop after the entry that brings key + value bytes to this total (bounds memory). */
  maxBytes?: number;
}

export interface StoreReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** Entries in ascending byte order of key. */
  range(options: RangeOptions): StoreEntry[];
}

export interface StoreWriteTxn extends StoreReader {
  put(key: Uint8Array, value: Uint8Array): void;
  /** Returns whether the key existed. */
  delete(key: Uint8Array): boolean;
}

/** A consistent point-in-time view; writes that commit later are not visible. Close it. */
export interface StoreReadView extends StoreReader {
  readonly appliedIndex: number;
  close(): void;
}

export interface RestoreSummary {
  appliedIndex: number;
  entryCount: number;
}

type DataDb = Database<Buffer, Buffer>;

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length === 0) {
    throw new StateMachineStoreError(
      "INVALID_KEY",
      "a state-machine key must be a non-empty Uint8Array; pass the key bytes",
    );
  }
  if (key.length > STATE_MACHINE_MAX_KEY_SIZE_BYTES) {
    throw new StateMachineStoreError(
      "KEY_TOO_LARGE",
      `a state-machine key is ${key.length} bytes; the limit is ${STATE_MACHINE_MAX_KEY_SIZE_BYTES}, use a shorter key`,
    );
  }
}

function assertValue(value: unknown): void {
  if (!(value instanceof Uint8Array)) {
    throw new StateMachineStoreError("INVALID_VALUE", "a state-machine value must be a Uint8Array");
  }
}

/** A write transaction's handle is usable only inside its applyBatch body. */
function assertTxnOpen(open: boolean): void {
  if (!open) {
    throw new StateMachineStoreError(
      "TXN_CLOSED",
      "this write transaction has ended; use the txn only inside the applyBatch body",
    );
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function encodeUint64(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StateMachineStoreError(
      "INVALID_APPLIED_INDEX",
      `${value} is not a non-negative safe integer`,
    );
  }
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32BE(Math.floor(value / 2 ** 32), 0);
  bytes.writeUInt32BE(value >>> 0, 4);
  return bytes;
}

function decodeUint64(bytes: Uint8Array, offset: number): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const value = view.readUInt32BE(offset) * 2 ** 32 + view.readUInt32BE(offset + 4);
  return value;
}

/** The smallest key greater than every key that starts with prefix, or undefined if none. */
function prefixEnd(prefix: Uint8Array): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const next = Buffer.from(prefix.subarray(0, end));
  next[end - 1] = (next[end - 1] ?? 0) + 1;
  return next;
}

/** Validated bounds of a range read, or null when the range is empty. */
function rangeBounds(options: RangeOptions): OverlayRangeBounds | null {
  const { limit } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > STATE_MACHINE_MAX_RANGE_LIMIT) {
    throw new StateMachineStoreError(
      "INVALID_RANGE",
      `range limit ${limit} must be an integer in 1..${STATE_MACHINE_MAX_RANGE_LIMIT}`,
    );
  }
  const prefix = options.prefix ?? new Uint8Array(0);
  // Keys are never empty, so [0] is the smallest possible key; an explicit start also keeps
  // lmdb from applying its default start key, which would skip keys below [5].
  let start = prefix.length > 0 ? asBuffer(prefix) : SMALLEST_KEY;
  let exclusiveStart = false;
  if (options.after !== undefined && Buffer.compare(asBuffer(options.after), start) >= 0) {
    start = asBuffer(options.after);
    exclusiveStart = true;
  }
  const end = prefixEnd(prefix);
  if (end !== undefined && Buffer.compare(start, end) >= 0) return null;
  return { start, exclusiveStart, end };
}

/** A range read from db, merged with uncommitted overlay entries (see WriteOverlay). */
function readRange(
  db: DataDb,
  options: RangeOptions,
  transaction?: Transaction,
  overlay?: WriteOverlay | readonly OverlayEntry[],
): StoreEntry[] {
  const bounds = rangeBounds(options);
  if (bounds === null) return [];
  const { start, exclusiveStart, end } = bounds;
  const { limit } = options;
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const pending =
    overlay === undefined
      ? []
      : overlay instanceof WriteOverlay
        ? overlay.sortedWithin(bounds)
        : overlay.filter((entry) => inBounds(entry.key, bounds));
  if (pending.length > 0) {
    // Unbounded but lazy: the merge stops pulling once it has limit entries or maxBytes.
    return mergeRange(
      db.getRange({ start, end, exclusiveStart, transaction }),
      pending,
      limit,
      maxBytes,
    );
  }
  const entries: StoreEntry[] = [];
  let bytes = 0;
  for (const entry of db.getRange({ start, end, exclusiveStart, limit, transaction })) {
    entries.push({ key: entry.key, value: entry.value });
    bytes += entry.key.length + entry.value.length;
    if (bytes >= maxBytes) break;
  }
  return entries;
}

export class StateMachineStore {
  readonly dir: string;
  readonly #env: RootDatabase<Buffer, Buffer>;
  readonly #meta: DataDb;
  readonly #data: [DataDb, DataDb];
  readonly #syncMode: SyncMode;
  readonly #snapshotChunkSizeBytes: number;
  readonly #restoreBatchSizeBytes: number;
  readonly #maxSnapshotValueSizeBytes: number;
  #active: 0 | 1;
  #appliedIndex: number;
  #closed = false;
  #inWriteTxn = false;
  #restoring = false;
  #openReadViews = 0;
  // "async" mode: applied batches not yet committed by LMDB's writer thread.
  readonly #overlay = new WriteOverlay();
  readonly #onAsyncError: ((error: Error) => void) | undefined;
  #batchesIssued = 0;
  #forcedSyncs = 0;
  #lastCommit: Promise<void> = Promise.resolve();
  #asyncFailure: Error | undefined;
  readonly #commitIntervalMs: number;
  readonly #maxQueuedWrites: number;
  readonly #maxQueuedBytes: number;
  /** "async" mode: applied batches waiting for the next commit (see commitIntervalMs). */
  #queued: QueuedBatch[] = [];
  #queuedWrites = 0;
  #queuedBytes = 0;
  #commits = 0;
  #commitTimer: NodeJS.Timeout | undefined;
  #lastCommitStartMs = Number.NEGATIVE_INFINITY;

  private constructor(options: StateMachineStoreOptions) {
    this.dir = options.dir;
    this.#syncMode = options.syncMode ?? "fsync";
    this.#onAsyncError = options.onAsyncError;
    this.#commitIntervalMs = nonNegativeInteger(options.commitIntervalMs, 100, "commitIntervalMs");
    this.#maxQueuedWrites = positiveInteger(options.maxQueuedWrites, 10_000, "maxQueuedWrites");
    this.#maxQueuedBytes = positiveInteger(
      options.maxQueuedBytes,
      64 * 1024 * 1024,
      "maxQueuedBytes",
    );
    this.#snapshotChunkSizeBytes = positiveInteger(
      options.snapshotChunkSizeBytes,
      256 * 1024,
      "snapshotChunkSizeBytes",
    );
    this.#restoreBatchSizeBytes = positiveInteger(
      options.restoreBatchSizeBytes,
      8 * 1024 * 1024,
      "restoreBatchSizeBytes",
    );
    this.#maxSnapshotValueSizeBytes = positiveInteger(
      options.maxSnapshotValueSizeBytes,
      64 * 1024 * 1024,
      "maxSnapshotValueSizeBytes",
    );
    if (!["fsync", "deferred", "async"].includes(this.#syncMode)) {
      throw new StateMachineStoreError(
        "INVALID_OPTIONS",
        `syncMode must be "fsync", "deferred" or "async", got ${JSON.stringify(this.#syncMode)}`,
      );
    }
    mkdirSync(options.dir, { recursive: true });
    // "async" mode: one sync per commit instead of two (data, then meta page); the log is the
    // durable record, and flush() forces the full sync before the log behind it is compacted.
    // In paired runs of the KV benchmark: 9% more writes/s, 0.8 instead of 0.95 context switches
    // per write.
    this.#env = open<Buffer, Buffer>({
      path: options.dir,
      maxDbs: 4,
      noMetaSync: this.#syncMode === "async",
    });
    const dbOptions = { keyEncoding: "binary", encoding: "binary" } as const;
    this.#meta = this.#env.openDB<Buffer, Buffer>({ name: "meta", ...dbOptions });
    this.#data = [
      this.#env.openDB<Buffer, Buffer>({ name: "data-0", ...dbOptions }),
      this.#env.openDB<Buffer, Buffer>({ name: "data-1", ...dbOptions }),
    ];
    const state = this.#env.transactionSync(() => {
      if (this.#meta.get(META_FORMAT_VERSION) === undefined) {
        this.#meta.putSync(META_FORMAT_VERSION, Buffer.from([STORE_FORMAT_VERSION]));
        this.#meta.putSync(META_ACTIVE_DATA, Buffer.from([0]));
        this.#meta.putSync(META_APPLIED_INDEX, encodeUint64(0));
      }
      return readMeta(this.#meta);
    }, TXN_FLAGS_FLUSHED);
    this.#active = state.active;
    this.#appliedIndex = state.appliedIndex;
    // A restore interrupted by a crash leaves its partial copy in the inactive database.
    this.#data[this.#inactive()].clearSync();
  }

  static open(options: StateMachineStoreOptions): StateMachineStore {
    return new StateMachineStore(options);
  }

  /** Index of the last log entry whose effects are in the store; 0 for a new store. */
  appliedIndex(): number {
    this.#assertOpen();
    return this.#appliedIndex;
  }

  /**
   * Runs body in one write transaction and records appliedIndex with its writes: both commit
   * together or not at all. If body throws, nothing is written and the error is rethrown.
   * body must be synchronous; it may read its own writes.
   */
  applyBatch<T>(appliedIndex: number, body: (txn: StoreWriteTxn) => T): T {
    this.#assertOpen();
    this.#assertNotBusy();
    if (!Number.isSafeInteger(appliedIndex) || appliedIndex <= this.#appliedIndex) {
      throw new StateMachineStoreError(
        "INVALID_APPLIED_INDEX",
        `applied index ${appliedIndex} must be a safe integer above the current ${this.#appliedIndex}; apply each entry once, in log order`,
      );
    }
    if (this.#syncMode === "async") return this.#applyBatchAsync(appliedIndex, body);
    const db = this.#data[this.#active];
    let open = true;
    const check = (): void => assertTxnOpen(open);
    const txn: StoreWriteTxn = {
      get: (key) => {
        check();
        assertKey(key);
        return db.get(asBuffer(key));
      },
      range: (options) => {
        check();
        return readRange(db, options);
      },
      put: (key, value) => {
        check();
        assertKey(key);
        assertValue(value);
        db.putSync(asBuffer(key), asBuffer(value));
      },
      delete: (key) => {
        check();
        assertKey(key);
        return db.removeSync(asBuffer(key));
      },
    };
    this.#inWriteTxn = true;
    try {
      const result = this.#env.transactionSync(
        () => {
          const value = body(txn);
          if (value instanceof Promise) {
            throw new StateMachineStoreError(
              "INVALID_OPTIONS",
              "the applyBatch body must be synchronous; it returned a Promise",
            );
          }
          this.#meta.putSync(META_APPLIED_INDEX, encodeUint64(appliedIndex));
          return value;
        },
        this.#syncMode === "fsync" ? TXN_FLAGS_FLUSHED : TXN_FLAGS_DEFERRED,
      );
      this.#appliedIndex = appliedIndex;
      return result;
    } finally {
      open = false;
      this.#inWriteTxn = false;
    }
  }

  /**
   * "async" mode: the body runs against the stored data plus every uncommitted batch, its writes
   * are collected, and only if it returns are they queued to LMDB's writer thread as one
   * transaction with the applied index (lmdb's batch(): all or nothing). A body that throws
   * writes nothing.
   */
  #applyBatchAsync<T>(appliedIndex: number, body: (txn: StoreWriteTxn) => T): T {
    if (this.#asyncFailure) throw this.#asyncFailure;
    const db = this.#data[this.#active];
    const writes = new Map<string, { key: Buffer; value: Buffer | null }>();
    let open = true;
    const check = (): void => assertTxnOpen(open);
    // A put usually follows a read of the same key (the same Buffer): its name is made once.
    let lastKey: Buffer | undefined;
    let lastName = "";
    const nameOf = (key: Buffer): string => {
      if (key !== lastKey) {
        lastKey = key;
        lastName = overlayKey(key);
      }
      return lastName;
    };
    const read = (key: Buffer): Buffer | undefined => {
      const name = nameOf(key);
      const own = writes.get(name);
      if (own !== undefined) return own.value ?? undefined;
      const pending = this.#overlay.lookupName(name);
      if (pending !== undefined) return pending ?? undefined;
      return db.get(key);
    };
    const txn: StoreWriteTxn = {
      get: (key) => {
        check();
        assertKey(key);
        return read(asBuffer(key));
      },
      range: (options) => {
        check();
        // The body's own writes over every uncommitted batch's.
        const merged = new Map<string, OverlayEntry>(
          this.#overlay.sorted().map((entry) => [overlayKey(entry.key), entry]),
        );
        for (const [name, write] of writes) merged.set(name, { ...write, batch: 0 });
        const pending = [...merged.values()].sort((a, b) => Buffer.compare(a.key, b.key));
        return readRange(db, options, undefined, pending);
      },
      put: (key, value) => {
        check();
        assertKey(key);
        assertValue(value);
        const bytes = asBuffer(key);
        writes.set(nameOf(bytes), { key: bytes, value: asBuffer(value) });
      },
      delete: (key) => {
        check();
        assertKey(key);
        const bytes = asBuffer(key);
        const existed = read(bytes) !== undefined;
        writes.set(nameOf(bytes), { key: bytes, value: null });
        return existed;
      },
    };
    this.#inWriteTxn = true;
    let result: T;
    try {
      result = body(txn);
      if (result instanceof Promise) {
        throw new StateMachineStoreError(
          "INVALID_OPTIONS",
          "the applyBatch body must be synchronous; it returned a Promise",
        );
      }
    } finally {
      open = false;
      this.#inWriteTxn = false;
    }
    const batch = ++this.#batchesIssued;
    this.#overlay.add(batch, writes);
    this.#appliedIndex = appliedIndex;
    this.#queued.push({ batch, writes, appliedIndex });
    this.#queuedWrites += writes.size;
    for (const write of writes.values())
      this.#queuedBytes += write.key.length + (write.value?.length ?? 0);
    const waitMs = this.#lastCommitStartMs + this.#commitIntervalMs - performance.now();
    if (
      waitMs <= 0 ||
      this.#queuedWrites >= this.#maxQueuedWrites ||
      this.#queuedBytes >= this.#maxQueuedBytes
    )
      this.#commitQueued();
    else if (this.#commitTimer === undefined) {
      this.#commitTimer = setTimeout(() => {
        this.#commitTimer = undefined;
        this.#commitQueued();
      }, waitMs);
    }
    return result;
  }

  /**
   * Queues every applied batch waiting for a commit to LMDB's writer thread as one transaction,
   * with the last one's applied index (lmdb's batch(): all or nothing). A key written by
   * several of them is written once, with its newest value.
   */
  #commitQueued(): void {
    if (this.#commitTimer !== undefined) {
      clearTimeout(this.#commitTimer);
      this.#commitTimer = undefined;
    }
    const queued = this.#queued;
    // After a failed commit nothing later may commit: its applied index would cover the
    // batches that failed. The node stops and re-applies from its log.
    if (queued.length === 0 || this.#asyncFailure) return;
    this.#queued = [];
    this.#queuedWrites = 0;
    this.#queuedBytes = 0;
    this.#lastCommitStartMs = performance.now();
    this.#commits++;
    const db = this.#data[this.#active];
    let writes = queued[0]!.writes;
    if (queued.length > 1) {
      const merged = new Map(writes);
      for (let i = 1; i < queued.length; i++)
        for (const [name, write] of queued[i]!.writes) merged.set(name, write);
      writes = merged;
    }
    const applied = encodeUint64(queued[queued.length - 1]!.appliedIndex);
    const committed = this.#env.batch(() => {
      for (const write of writes.values()) {
        if (write.value === null) void db.remove(write.key);
        else void db.put(write.key, write.value);
      }
      void this.#meta.put(META_APPLIED_INDEX, applied);
    });
    this.#lastCommit = committed.then(
      () => {
        for (const { batch } of queued) this.#overlay.committed(batch);
      },
      (error: unknown) => {
        const failure =
          error instanceof Error ? error : new Error(`state-machine commit failed: ${error}`);
        if (!this.#asyncFailure) {
          this.#asyncFailure = failure;
          this.#onAsyncError?.(failure);
        }
      },
    );
  }

  /** A key's current value: the newest uncommitted write if any, else the stored one. */
  #readCurrent(db: DataDb, key: Buffer, transaction?: Transaction): Buffer | undefined {
    const pending = this.#overlay.lookup(key);
    if (pending !== undefined) return pending ?? undefined;
    return transaction ? db.get(key, { transaction }) : db.get(key);
  }

  /** Applied batches not yet committed ("async" mode; always 0 otherwise). */
  pendingBatches(): number {
    return this.#overlay.batches;
  }

  /** Resolves once every batch applied so far is committed; rejects if a commit failed. */
  async committed(): Promise<void> {
    for (;;) {
      this.#commitQueued();
      const last = this.#lastCommit;
      await last;
      if (this.#asyncFailure) throw this.#asyncFailure;
      if (last === this.#lastCommit) return;
    }
  }

  /** Read views (and snapshot sources) not yet closed; each pins old pages, so watch for leaks. */
  openReadViewCount(): number {
    return this.#openReadViews;
  }

  /**
   * Resolves once every batch applied so far is on disk (needed in "deferred" and "async" mode
   * before the log behind the applied index is compacted).
   */
  async flush(): Promise<void> {
    this.#assertOpen();
    if (this.#syncMode === "async") {
      await this.committed();
      await this.#env.flushed;
      if (this.#asyncFailure) throw this.#asyncFailure;
      await this.#forceSync();
      return;
    }
    this.#assertNotBusy();
    this.#env.transactionSync(() => {
      this.#meta.putSync(META_APPLIED_INDEX, encodeUint64(this.#appliedIndex));
    }, TXN_FLAGS_FLUSHED);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.#assertOpen();
    assertKey(key);
    return this.#readCurrent(this.#data[this.#active], asBuffer(key));
  }

  range(options: RangeOptions): StoreEntry[] {
    this.#assertOpen();
    return readRange(this.#data[this.#active], options, undefined, this.#overlay);
  }

  /** A point-in-time view (an LMDB read transaction). It pins old pages: close it promptly. */
  readView(): StoreReadView {
    this.#assertOpen();
    const transaction = this.#env.useReadTransaction();
    let state: { active: 0 | 1; appliedIndex: number };
    try {
      state = readMeta(this.#meta, transaction);
    } catch (error) {
      transaction.done();
      throw error;
    }
    const db = this.#data[state.active];
    // Uncommitted batches as of now: the read transaction sees at least every batch whose commit
    // has been confirmed (those left the overlay), so the two together are exactly this moment.
    const pending = this.#overlay.size === 0 ? [] : this.#overlay.sorted();
    const pendingByKey = new Map(pending.map((entry) => [overlayKey(entry.key), entry]));
    const appliedIndex = this.#syncMode === "async" ? this.#appliedIndex : state.appliedIndex;
    let open = true;
    this.#openReadViews++;
    const check = (): void => {
      if (!open) throw new StateMachineStoreError("TXN_CLOSED", "this read view is closed");
      this.#assertOpen();
    };
    return {
      appliedIndex,
      get: (key) => {
        check();
        assertKey(key);
        const bytes = asBuffer(key);
        const own = pendingByKey.get(overlayKey(bytes));
        if (own !== undefined) return own.value ?? undefined;
        return db.get(bytes, { transaction });
      },
      range: (options) => {
        check();
        return readRange(db, options, transaction, pending);
      },
      close: () => {
        if (!open) return;
        open = false;
        this.#openReadViews--;
        transaction.done();
      },
    };
  }

  /**
   * A snapshot of the store as it is now, streamed in chunks of about snapshotChunkSizeBytes
   * while writes continue. Iterating to the end closes it; close() releases it early.
   */
  openSnapshot(): SnapshotSource {
    const view = this.readView();
    return new SnapshotSource(view, this.#snapshotChunkSizeBytes);
  }

  /**
   * Replaces the whole content and the applied index with a snapshot. The snapshot is written
   * into the inactive database in bounded batches, verified (count and sha256), and only then
   * made active in one transaction; a failure or crash at any point leaves the old content.
   */
  async restoreFromSnapshot(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<RestoreSummary> {
    this.#assertOpen();
    this.#assertNotBusy();
    this.#restoring = true;
    try {
      // The synchronous transactions below must not split a queued asynchronous batch.
      await this.committed();
    } catch (error) {
      this.#restoring = false;
      throw error;
    }
    const target = this.#inactive();
    const db = this.#data[target];
    let summary: RestoreSummary;
    try {
      db.clearSync();
      const reader = new SnapshotReader(this.#maxSnapshotValueSizeBytes);
      let pending: StoreEntry[] = [];
      let pendingBytes = 0;
      const writePending = (): void => {
        if (pending.length === 0) return;
        const batch = pending;
        this.#env.transactionSync(() => {
          for (const entry of batch) db.putSync(asBuffer(entry.key), asBuffer(entry.value));
        }, TXN_FLAGS_DEFERRED);
        pending = [];
        pendingBytes = 0;
      };
      for await (const chunk of source) {
        this.#assertOpen();
        for (const entry of reader.push(chunk)) {
          assertKey(entry.key);
          pending.push(entry);
          pendingBytes += entry.key.length + entry.value.length;
          if (pendingBytes >= this.#restoreBatchSizeBytes) writePending();
        }
      }
      summary = reader.finish();
      writePending();
      // The switch: one flushed commit makes the new content and its applied index current.
      this.#env.transactionSync(() => {
        this.#meta.putSync(META_ACTIVE_DATA, Buffer.from([target]));
        this.#meta.putSync(META_APPLIED_INDEX, encodeUint64(summary.appliedIndex));
      }, TXN_FLAGS_FLUSHED);
      // Without meta syncs ("async" mode) the switch is durable only after a forced sync.
      if (this.#syncMode === "async") await this.#forceSync();
    } catch (error) {
      // Not switched: drop the partial copy (also done at the next open if this fails).
      try {
        if (!this.#closed) db.clearSync();
      } catch {
        // The original error matters more; the next open clears the inactive database anyway.
      }
      this.#restoring = false;
      throw error;
    }
    try {
      const previous = this.#active;
      this.#active = target;
      this.#appliedIndex = summary.appliedIndex;
      // Open read views keep their own pages (LMDB MVCC); clearing only frees space for later.
      this.#data[previous].clearSync();
      return summary;
    } finally {
      this.#restoring = false;
    }
  }

  /** LMDB transactions started for applied batches in "async" mode (several batches may share one). */
  get commits(): number {
    return this.#commits;
  }

  /** Full syncs forced so far (flush() and snapshot restores in "async" mode). */
  get forcedSyncs(): number {
    return this.#forcedSyncs;
  }

  /** mdb_env_sync(force): data and meta pages on disk, whatever the environment's flags. */
  #forceSync(): Promise<void> {
    this.#forcedSyncs++;
    // `sync` is on lmdb's root database but missing from its type declarations.
    const env = this.#env as unknown as { sync(callback: (error?: Error) => void): void };
    return new Promise((resolve, reject) => {
      env.sync((error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Queued batches commit first (a failure was reported through onAsyncError already).
    await this.committed().catch(() => {});
    await this.#env.close();
  }

  #inactive(): 0 | 1 {
    return this.#active === 0 ? 1 : 0;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StateMachineStoreError(
        "STORE_CLOSED",
        `the state-machine store at ${this.dir} is closed`,
      );
    }
  }

  #assertNotBusy(): void {
    if (this.#inWriteTxn || this.#restoring) {
      throw new StateMachineStoreError(
        "STORE_BUSY",
        this.#restoring
          ? "a snapshot restore is in progress; wait for it before writing"
          : "a write transaction is already running; do not nest applyBatch",
      );
    }
  }
}

function nonNegativeInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StateMachineStoreError(
      "INVALID_OPTIONS",
      `${name} must be an integer of at least 0, got ${value}`,
    );
  }
  return value;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new StateMachineStoreError(
      "INVALID_OPTIONS",
      `${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}

function readMeta(
  meta: DataDb,
  transaction?: Transaction,
): { active: 0 | 1; appliedIndex: number } {
  const options = transaction ? { transaction } : undefined;
  const version = meta.get(META_FORMAT_VERSION, options);
  const active = meta.get(META_ACTIVE_DATA, options);
  const applied = meta.get(META_APPLIED_INDEX, options);
  if (version?.length !== 1 || version[0] !== STORE_FORMAT_VERSION) {
    throw new StateMachineStoreError(
      "STORE_CORRUPT",
      `state-machine store format version ${version?.[0]} is not ${STORE_FORMAT_VERSION}; restore the node from a snapshot`,
    );
  }
  if (active?.length !== 1 || (active[0] !== 0 && active[0] !== 1) || applied?.length !== 8) {
    throw new StateMachineStoreError(
      "STORE_CORRUPT",
      "state-machine store metadata is damaged; restore the node from a snapshot",
    );
  }
  return { active: active[0] as 0 | 1, appliedIndex: decodeUint64(applied, 0) };
}

// Snapshot format, version 1 (all integers big-endian):
//   header:  "HHSM" | u8 version | u64 appliedIndex
//   entry:   u8 1 | u32 keyLength | key | u32 valueLength | value      (keys strictly ascending)
//   end:     u8 2 | u64 entryCount | sha256 of every preceding byte
export class SnapshotSource implements AsyncIterable<Uint8Array> {
  readonly appliedIndex: number;
  readonly #view: StoreReadView;
  readonly #chunkSizeBytes: number;
  #started = false;

  constructor(view: StoreReadView, chunkSizeBytes: number) {
    this.appliedIndex = view.appliedIndex;
    this.#view = view;
    this.#chunkSizeBytes = chunkSizeBytes;
  }

  close(): void {
    this.#view.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#started) {
      throw new StateMachineStoreError("STORE_BUSY", "a snapshot source can be iterated only once");
    }
    this.#started = true;
    try {
      const hash = createHash("sha256");
      const emit = (parts: Buffer[]): Buffer => {
        const chunk = Buffer.concat(parts);
        hash.update(chunk);
        return chunk;
      };
      const header = Buffer.alloc(SNAPSHOT_HEADER_SIZE_BYTES);
      SNAPSHOT_MAGIC.copy(header, 0);
      header[SNAPSHOT_MAGIC.length] = SNAPSHOT_FORMAT_VERSION;
      encodeUint64(this.appliedIndex).copy(header, SNAPSHOT_MAGIC.length + 1);
      let parts: Buffer[] = [header];
      let partsBytes = header.length;
      let entryCount = 0;
      let after: Uint8Array | undefined;
      // Read a page, emit, yield: no LMDB cursor is held across an await, and memory stays
      // bounded by one page of entries (pages are sized so a chunk is about chunkSizeBytes).
      for (;;) {
        const page = this.#view.range({ after, limit: 4096, maxBytes: this.#chunkSizeBytes });
        for (const entry of page) {
          const lengths = Buffer.alloc(5);
          lengths[0] = RECORD_TAG_ENTRY;
          lengths.writeUInt32BE(entry.key.length, 1);
          const valueLength = Buffer.alloc(4);
          valueLength.writeUInt32BE(entry.value.length, 0);
          parts.push(lengths, asBuffer(entry.key), valueLength, asBuffer(entry.value));
          partsBytes += 9 + entry.key.length + entry.value.length;
          entryCount++;
          if (partsBytes >= this.#chunkSizeBytes) {
            const chunk = emit(parts);
            parts = [];
            partsBytes = 0;
            yield chunk;
          }
        }
        const last = page[page.length - 1];
        if (last === undefined) break;
        after = last.key;
      }
      const end = Buffer.alloc(9);
      end[0] = RECORD_TAG_END;
      encodeUint64(entryCount).copy(end, 1);
      parts.push(end);
      const body = emit(parts);
      yield Buffer.concat([body, hash.digest()]);
    } finally {
      this.#view.close();
    }
  }
}

/** Incremental parser of the snapshot format; chunk boundaries may fall anywhere. */
class SnapshotReader {
  readonly #maxValueSizeBytes: number;
  readonly #hash: Hash = createHash("sha256");
  #buffered: Buffer = Buffer.alloc(0);
  #appliedIndex: number | undefined;
  #entryCount = 0;
  #previousKey: Buffer | undefined;
  #done: { entryCount: number } | undefined;

  constructor(maxValueSizeBytes: number) {
    this.#maxValueSizeBytes = maxValueSizeBytes;
  }

  *push(chunk: Uint8Array): Generator<StoreEntry> {
    if (this.#done !== undefined && chunk.length > 0) {
      throw corrupt("bytes follow the end record");
    }
    this.#buffered =
      this.#buffered.length === 0 ? asBuffer(chunk) : Buffer.concat([this.#buffered, chunk]);
    for (;;) {
      const buffer = this.#buffered;
      if (this.#appliedIndex === undefined) {
        if (buffer.length < SNAPSHOT_HEADER_SIZE_BYTES) return;
        if (!buffer.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
          throw corrupt("it does not start with the HHSM magic");
        }
        const version = buffer[SNAPSHOT_MAGIC.length];
        if (version !== SNAPSHOT_FORMAT_VERSION) {
          throw new StateMachineStoreError(
            "SNAPSHOT_UNSUPPORTED_VERSION",
            `snapshot format version ${version} is not supported (expected ${SNAPSHOT_FORMAT_VERSION}); upgrade this node`,
          );
        }
        const appliedIndex = decodeUint64(buffer, SNAPSHOT_MAGIC.length + 1);
        if (!Number.isSafeInteger(appliedIndex)) {
          throw corrupt(`its applied index ${appliedIndex} is beyond the safe integer range`);
        }
        this.#appliedIndex = appliedIndex;
        this.#consume(SNAPSHOT_HEADER_SIZE_BYTES);
        continue;
      }
      if (this.#done !== undefined || buffer.length < 1) return;
      const tag = buffer[0];
      if (tag === RECORD_TAG_ENTRY) {
        if (buffer.length < 5) return;
        const keyLength = buffer.readUInt32BE(1);
        if (keyLength === 0 || keyLength > STATE_MACHINE_MAX_KEY_SIZE_BYTES) {
          throw corrupt(`a key length of ${keyLength} bytes is out of range`);
        }
        if (buffer.length < 9 + keyLength) return;
        const valueLength = buffer.readUInt32BE(5 + keyLength);
        if (valueLength > this.#maxValueSizeBytes) {
          throw corrupt(
            `a value length of ${valueLength} bytes exceeds ${this.#maxValueSizeBytes}`,
          );
        }
        const size = 9 + keyLength + valueLength;
        if (buffer.length < size) return;
        // Copies: the entries outlive this chunk.
        const key = Buffer.from(buffer.subarray(5, 5 + keyLength));
        const value = Buffer.from(buffer.subarray(9 + keyLength, size));
        if (this.#previousKey !== undefined && Buffer.compare(this.#previousKey, key) >= 0) {
          throw corrupt("keys are not in strictly ascending order");
        }
        this.#previousKey = key;
        this.#entryCount++;
        this.#consume(size);
        yield { key, value };
      } else if (tag === RECORD_TAG_END) {
        if (buffer.length < 9 + SHA256_SIZE_BYTES) return;
        const entryCount = decodeUint64(buffer, 1);
        this.#hash.update(buffer.subarray(0, 9));
        const expected = buffer.subarray(9, 9 + SHA256_SIZE_BYTES);
        if (entryCount !== this.#entryCount) {
          throw corrupt(
            `the end record counts ${entryCount} entries, the stream held ${this.#entryCount}`,
          );
        }
        if (!this.#hash.digest().equals(expected))
          throw corrupt("the sha256 checksum does not match");
        if (buffer.length > 9 + SHA256_SIZE_BYTES) throw corrupt("bytes follow the end record");
        this.#buffered = Buffer.alloc(0);
        this.#done = { entryCount };
        return;
      } else {
        throw corrupt(`unknown record tag ${tag}`);
      }
    }
  }

  finish(): RestoreSummary {
    if (this.#done === undefined || this.#appliedIndex === undefined) {
      throw new StateMachineStoreError(
        "SNAPSHOT_TRUNCATED",
        "the snapshot stream ended before its end record; fetch the snapshot again",
      );
    }
    return { appliedIndex: this.#appliedIndex, entryCount: this.#done.entryCount };
  }

  #consume(size: number): void {
    this.#hash.update(this.#buffered.subarray(0, size));
    this.#buffered = this.#buffered.subarray(size);
  }
}

function corrupt(reason: string): StateMachineStoreError {
  return new StateMachineStoreError(
    "SNAPSHOT_CORRUPT",
    `the snapshot is corrupt: ${reason}; fetch it again from a healthy node`,
  );
}
