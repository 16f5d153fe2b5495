// The replicated KV state machine: applies committed log entries deterministically and serves
// local reads. Same committed log => same stored bytes on every node.
//
// Data model as etcd v3: one store revision, incremented once per command that changes
// something; each key carries createRevision, modRevision and version (writes since created).

import { createHash } from "node:crypto";
import {
  type RestoreSummary,
  type SnapshotSource,
  StateMachineStore,
  type StoreReader,
  type StoreWriteTxn,
  type SyncMode,
} from "../storage/index.ts";
import {
  type Compare,
  decodeCommand,
  type KvCommand,
  type TxnCommand,
  validateKey,
} from "./commands.ts";
import { KvError, type KvErrorCode } from "./errors.ts";
import { type KvLimits, resolveKvLimits } from "./limits.ts";
import {
  decodeRecord,
  decodeRevision,
  encodeRecord,
  encodeRevision,
  keyFromStorage,
  REVISION_KEY,
  type StoredRecord,
  storageKey,
  USER_KEY_PREFIX,
} from "./record.ts";

export interface LogEntryData {
  index: number;
  /** Bytes from encodeCommand; empty = no-op (e.g. a new leader's entry). */
  data: Uint8Array;
}

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
}

export type TxnOpResult =
  | { type: "put"; revision: number }
  | { type: "delete"; deleted: boolean; revision: number }
  | { type: "get"; kv: KeyValue | null };

/** The outcome of one log entry; `revision` is the store revision after it. */
export type CommandResult =
  | { type: "put"; revision: number }
  | { type: "delete"; deleted: boolean; revision: number }
  | { type: "txn"; succeeded: boolean; revision: number; results: TxnOpResult[] }
  | { type: "noop"; revision: number }
  | { type: "error"; code: KvErrorCode; message: string; revision: number };

export interface ApplyResult {
  index: number;
  result: CommandResult;
}

export interface ListOptions {
  /** Only keys starting with this string; default "" (all keys). */
  prefix?: string;
  /** Only keys after this one: the `next` cursor of the previous page. */
  after?: string;
  /** Page size, 1..limits.maxListLimit; default 100. */
  limit?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** True when more keys match after this page; pass `next` as `after` to get them. */
  more: boolean;
  next?: string;
  revision: number;
  appliedIndex: number;
}

export interface KvDigest {
  /** sha256 (hex) over the revision and every key with its value and metadata, in key order. */
  sha256: string;
  revision: number;
  appliedIndex: number;
  keyCount: number;
}

export interface KvStateMachineOptions {
  dir: string;
  syncMode?: SyncMode;
  /** "async" sync mode: called once if a background commit fails (see StateMachineStore). */
  onAsyncError?: (error: Error) => void;
  /** "async" sync mode: how often commits start at most (see StateMachineStore). */
  commitIntervalMs?: number;
  limits?: Partial<KvLimits>;
  snapshotChunkSizeBytes?: number;
  /** Keys whose metadata is kept in memory for puts; 0 turns it off. Default DEFAULT_META_CACHE_KEYS. */
  metaCacheKeys?: number;
}

const DEFAULT_LIST_LIMIT = 100;
const DIGEST_DOMAIN = "hothot-kv-digest/1\n";
const USER_PREFIX_BYTES = new Uint8Array([USER_KEY_PREFIX]);

function toKeyValue(key: string, record: StoredRecord | undefined): KeyValue | null {
  if (record === undefined) return null;
  return {
    key,
    value: record.value,
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.length),
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

/** etcd semantics: a value compare on a missing key is false; numeric targets read 0. */
export function evaluateCompare(compare: Compare, record: StoredRecord | undefined): boolean {
  let order: number;
  switch (compare.target) {
    case "exists": {
      const exists = record !== undefined;
      return compare.op === "=" ? exists === compare.value : exists !== compare.value;
    }
    case "value":
      if (record === undefined) return false;
      order = compareBytes(record.value, compare.value);
      break;
    default:
      order = Math.sign((record?.[compare.target] ?? 0) - compare.value);
  }
  switch (compare.op) {
    case "=":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case ">":
      return order > 0;
  }
}

/** What a put needs from a key's previous record, and what the record stores besides the value. */
interface KeyMeta {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

/** Keys whose metadata the cache holds by default (about 2 MiB of heap when full). */
export const DEFAULT_META_CACHE_KEYS = 16_384;

/**
 * The metadata of recently written keys, so that a put need not read and decode the key's
 * stored record: on most puts that was a read from LMDB, about a tenth of a follower's main
 * thread under a write load.
 *
 * Exact or absent: an entry always equals the metadata of the key's record in the store (a
 * key's UTF-8 form is its identity there, and applied keys are valid Unicode, so the string is
 * one too). A batch's changes are staged and merged only after the store accepted the batch; a
 * batch that throws and a restore from a snapshot empty it. Bounded: the least recently written
 * keys leave first. Whether a key is cached never changes what is stored, only where a put
 * reads the previous metadata from.
 */
class KeyMetaCache {
  readonly #entries = new Map<string, KeyMeta>();

  constructor(readonly capacity: number) {}

  get(key: string): KeyMeta | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Takes a batch's changes (null: the key was deleted) once the store holds them. */
  merge(staged: ReadonlyMap<string, KeyMeta | null>): void {
    if (this.capacity === 0) return;
    for (const [key, meta] of staged) {
      // Deleted first, so that a rewritten key moves to the young end.
      this.#entries.delete(key);
      if (meta !== null) this.#entries.set(key, meta);
    }
    let excess = this.#entries.size - this.capacity;
    if (excess <= 0) return;
    for (const key of this.#entries.keys()) {
      this.#entries.delete(key);
      if (--excess === 0) break;
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Reads and writes of one apply batch, with the revision kept in memory until the end. */
class ApplyContext {
  revision: number;
  /** This batch's changes to key metadata, for the cache once the batch is accepted. */
  readonly staged = new Map<string, KeyMeta | null>();
  readonly #txn: StoreWriteTxn;
  readonly #cache: KeyMetaCache;
  readonly #startRevision: number;

  constructor(txn: StoreWriteTxn, cache: KeyMetaCache) {
    this.#txn = txn;
    this.#cache = cache;
    this.revision = decodeRevision(txn.get(REVISION_KEY));
    this.#startRevision = this.revision;
  }

  read(key: string): StoredRecord | undefined {
    return this.#readStored(storageKey(key));
  }

  #readStored(storage: Buffer): StoredRecord | undefined {
    const stored = this.#txn.get(storage);
    return stored === undefined ? undefined : decodeRecord(stored);
  }

  /** The key's metadata as this batch sees it: its own changes, then the cache, then the store. */
  #previous(key: string, storage: Buffer): KeyMeta | undefined {
    const staged = this.staged.get(key);
    if (staged !== undefined) return staged ?? undefined;
    return this.#cache.get(key) ?? this.#readStored(storage);
  }

  put(key: string, value: Uint8Array, revision: number): void {
    const storage = storageKey(key);
    const previous = this.#previous(key, storage);
    if (previous !== undefined && previous.modRevision >= revision) {
      // Revisions only grow; an older or equal one means the stored revision was lost.
      throw new KvError(
        "STATE_CORRUPT",
        `key ${JSON.stringify(key)} has modRevision ${previous.modRevision}, not below the new revision ${revision}`,
      );
    }
    const meta: KeyMeta = {
      createRevision: previous?.createRevision ?? revision,
      modRevision: revision,
      version: (previous?.version ?? 0) + 1,
    };
    this.#txn.put(storage, encodeRecord({ ...meta, value }));
    this.staged.set(key, meta);
  }

  remove(key: string): boolean {
    const deleted = this.#txn.delete(storageKey(key));
    this.staged.set(key, null);
    return deleted;
  }

  finish(): void {
    if (this.revision !== this.#startRevision)
      this.#txn.put(REVISION_KEY, encodeRevision(this.revision));
  }
}

function applyCommand(context: ApplyContext, command: KvCommand): CommandResult {
  switch (command.type) {
    case "put":
      context.revision++;
      context.put(command.key, command.value, context.revision);
      return { type: "put", revision: context.revision };
    case "delete": {
      const deleted = context.remove(command.key);
      if (deleted) context.revision++;
      return { type: "delete", deleted, revision: context.revision };
    }
    case "txn":
      return applyTxn(context, command);
  }
}

function applyTxn(context: ApplyContext, command: TxnCommand): CommandResult {
  // Compares all see the state before the transaction; operations then run in order, all
  // writes sharing one new revision, and a get sees the writes before it.
  const succeeded = command.compare.every((compare) =>
    evaluateCompare(compare, context.read(compare.key)),
  );
  const ops = succeeded ? command.success : command.failure;
  const nextRevision = context.revision + 1;
  let changed = false;
  const partial: (TxnOpResult | { type: "put" } | { type: "delete"; deleted: boolean })[] = [];
  for (const op of ops) {
    if (op.type === "put") {
      context.put(op.key, op.value, nextRevision);
      changed = true;
      partial.push({ type: "put" });
    } else if (op.type === "delete") {
      const deleted = context.remove(op.key);
      changed ||= deleted;
      partial.push({ type: "delete", deleted });
    } else {
      partial.push({ type: "get", kv: toKeyValue(op.key, context.read(op.key)) });
    }
  }
  if (changed) context.revision = nextRevision;
  const revision = context.revision;
  const results: TxnOpResult[] = partial.map((result) =>
    result.type === "get" ? (result as TxnOpResult) : { ...result, revision },
  );
  return { type: "txn", succeeded, revision, results };
}

export class KvStateMachine {
  readonly limits: Readonly<KvLimits>;
  readonly #store: StateMachineStore;
  readonly #metaCache: KeyMetaCache;

  /** Wraps a store the caller opened (and closes). */
  constructor(
    store: StateMachineStore,
    limits: Partial<KvLimits> = {},
    metaCacheKeys = DEFAULT_META_CACHE_KEYS,
  ) {
    if (!Number.isSafeInteger(metaCacheKeys) || metaCacheKeys < 0) {
      throw new KvError(
        "INVALID_ARGUMENT",
        `metaCacheKeys must be a whole number >= 0 (0 turns the cache off), got ${metaCacheKeys}`,
      );
    }
    this.#store = store;
    this.limits = resolveKvLimits(limits);
    this.#metaCache = new KeyMetaCache(metaCacheKeys);
  }

  static open(options: KvStateMachineOptions): KvStateMachine {
    const store = StateMachineStore.open({
      dir: options.dir,
      syncMode: options.syncMode,
      onAsyncError: options.onAsyncError,
      commitIntervalMs: options.commitIntervalMs,
      snapshotChunkSizeBytes: options.snapshotChunkSizeBytes,
      // A snapshot record holds one stored value: the limit plus the record header.
      maxSnapshotValueSizeBytes: resolveKvLimits(options.limits).maxValueSizeBytes + 64,
    });
    try {
      return new KvStateMachine(store, options.limits, options.metaCacheKeys);
    } catch (error) {
      void store.close();
      throw error;
    }
  }

  get store(): StateMachineStore {
    return this.#store;
  }

  appliedIndex(): number {
    return this.#store.appliedIndex();
  }

  revision(): number {
    return decodeRevision(this.#store.get(REVISION_KEY));
  }

  /**
   * Applies committed entries, which must continue the applied index without a gap, in one
   * store transaction with the new applied index. A command that fails validation yields an
   * error result (never an exception), so every node stays identical.
   */
  apply(entries: readonly LogEntryData[]): ApplyResult[] {
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    let expected = this.#store.appliedIndex() + 1;
    for (const entry of entries) {
      if (entry.index !== expected) {
        throw new KvError(
          "APPLY_OUT_OF_ORDER",
          `entry ${entry.index} does not continue the applied index (expected ${expected}); resume from appliedIndex() + 1`,
        );
      }
      if (!(entry.data instanceof Uint8Array)) {
        throw new KvError("APPLY_OUT_OF_ORDER", `entry ${entry.index} has no data bytes`);
      }
      expected++;
    }
    let context: ApplyContext | undefined;
    let results: ApplyResult[];
    try {
      results = this.#store.applyBatch(last.index, (txn) => {
        context = new ApplyContext(txn, this.#metaCache);
        return this.#applyEntries(context, entries);
      });
    } catch (error) {
      // The store may hold all, part or none of the batch: cached metadata could be stale.
      this.#metaCache.clear();
      throw error;
    }
    if (context !== undefined) this.#metaCache.merge(context.staged);
    return results;
  }

  /** Keys whose metadata is cached now. */
  get metaCacheSize(): number {
    return this.#metaCache.size;
  }

  #applyEntries(context: ApplyContext, entries: readonly LogEntryData[]): ApplyResult[] {
    const results = entries.map((entry): ApplyResult => {
      if (entry.data.length === 0) {
        return { index: entry.index, result: { type: "noop", revision: context.revision } };
      }
      const decoded = decodeCommand(entry.data, this.limits);
      if (!decoded.ok) {
        const { code, message } = decoded;
        return {
          index: entry.index,
          result: { type: "error", code, message, revision: context.revision },
        };
      }
      return { index: entry.index, result: applyCommand(context, decoded.command) };
    });
    context.finish();
    return results;
  }

  /** The key's current value and metadata, or undefined. Throws KvError on an invalid key. */
  get(key: string): KeyValue | undefined {
    validateKey(key, this.limits);
    const stored = this.#store.get(storageKey(key));
    return stored === undefined ? undefined : (toKeyValue(key, decodeRecord(stored)) ?? undefined);
  }

  /** One page of keys with a prefix, in byte order of their UTF-8 encoding, from one read view. */
  list(options: ListOptions = {}): ListResult {
    const prefix = options.prefix ?? "";
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.limits.maxListLimit) {
      throw new KvError(
        "INVALID_ARGUMENT",
        `limit must be an integer in 1..${this.limits.maxListLimit}, got ${limit}`,
      );
    }
    if (typeof prefix !== "string")
      throw new KvError("INVALID_ARGUMENT", "prefix must be a string");
    const prefixBytes =
      prefix === "" ? USER_PREFIX_BYTES : storageKey(validateKey(prefix, this.limits, "prefix"));
    const after =
      options.after === undefined || options.after === ""
        ? undefined
        : storageKey(validateKey(options.after, this.limits, "after"));
    const view = this.#store.readView();
    try {
      const entries = view.range({
        prefix: prefixBytes,
        after,
        limit: limit + 1,
        maxBytes: this.limits.maxListSizeBytes,
      });
      let more = entries.length > limit;
      if (more) entries.length = limit;
      const lastEntry = entries[entries.length - 1];
      const pageBytes = entries.reduce((sum, e) => sum + e.key.length + e.value.length, 0);
      if (!more && lastEntry !== undefined && pageBytes >= this.limits.maxListSizeBytes) {
        // The byte budget cut the page short: look one key further.
        more = view.range({ prefix: prefixBytes, after: lastEntry.key, limit: 1 }).length > 0;
      }
      const items = entries.map((entry) => {
        const key = keyFromStorage(entry.key);
        return toKeyValue(key, decodeRecord(entry.value)) as KeyValue;
      });
      const result: ListResult = {
        items,
        more,
        revision: decodeRevision(view.get(REVISION_KEY)),
        appliedIndex: view.appliedIndex,
      };
      if (more && lastEntry !== undefined) result.next = keyFromStorage(lastEntry.key);
      return result;
    } finally {
      view.close();
    }
  }

  /** A deterministic digest of the whole KV state at one point, for comparing nodes. */
  digest(): KvDigest {
    const view = this.#store.readView();
    try {
      return digestOf(view, view.appliedIndex);
    } finally {
      view.close();
    }
  }

  /** Streams the whole state (revision included) as of now; see StateMachineStore.openSnapshot. */
  openSnapshot(): SnapshotSource {
    return this.#store.openSnapshot();
  }

  /** Replaces the whole state with a snapshot, atomically; see StateMachineStore.restoreFromSnapshot. */
  async restoreFromSnapshot(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<RestoreSummary> {
    // Emptied before and after: no put may read metadata of the state being replaced, whether
    // the restore succeeds or fails part way.
    this.#metaCache.clear();
    try {
      return await this.#store.restoreFromSnapshot(source);
    } finally {
      this.#metaCache.clear();
    }
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

function digestOf(reader: StoreReader, appliedIndex: number): KvDigest {
  const hash = createHash("sha256");
  const revision = decodeRevision(reader.get(REVISION_KEY));
  const header = Buffer.alloc(8);
  header.writeUInt32BE(Math.floor(revision / 2 ** 32), 0);
  header.writeUInt32BE(revision >>> 0, 4);
  hash.update(DIGEST_DOMAIN).update(header);
  let keyCount = 0;
  let after: Uint8Array | undefined;
  for (;;) {
    const page = reader.range({ prefix: USER_PREFIX_BYTES, after, limit: 1000, maxBytes: 4 << 20 });
    for (const entry of page) {
      const record = decodeRecord(entry.value);
      const fields = Buffer.alloc(4 + 8 * 3 + 4);
      const keyBytes = entry.key.subarray(1);
      fields.writeUInt32BE(keyBytes.length, 0);
      fields.writeUInt32BE(Math.floor(record.createRevision / 2 ** 32), 4);
      fields.writeUInt32BE(record.createRevision >>> 0, 8);
      fields.writeUInt32BE(Math.floor(record.modRevision / 2 ** 32), 12);
      fields.writeUInt32BE(record.modRevision >>> 0, 16);
      fields.writeUInt32BE(Math.floor(record.version / 2 ** 32), 20);
      fields.writeUInt32BE(record.version >>> 0, 24);
      fields.writeUInt32BE(record.value.length, 28);
      hash.update(fields).update(keyBytes).update(record.value);
      keyCount++;
    }
    const last = page[page.length - 1];
    if (last === undefined) break;
    after = last.key;
  }
  return { sha256: hash.digest("hex"), revision, appliedIndex, keyCount };
}
