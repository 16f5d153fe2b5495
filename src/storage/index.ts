// Public entry of the storage layer: the durable log, hard state and membership, and snapshots.
export type { JsonValue } from "./atomic-file.ts";
export { crc32c } from "./crc32c.ts";
export {
  isStorageError,
  StorageError,
  type StorageErrorCode,
  type StorageErrorDetails,
} from "./errors.ts";
export {
  type HardState,
  HardStateStore,
  type PersistentState,
  type StateUpdate,
} from "./hard-state-store.ts";
export { ENTRY_TYPE_CONF_CHANGE, ENTRY_TYPE_NORMAL, type LogEntry } from "./log-format.ts";
export { LogStore, type LogStoreOptions, type LogStoreStats } from "./log-store.ts";
export {
  type SnapshotInfo,
  type SnapshotMeta,
  type SnapshotOffer,
  SnapshotReader,
  SnapshotStore,
  type SnapshotStoreOptions,
  SnapshotWriter,
} from "./snapshot-store.ts";
export * from "./state-machine-store.ts";
