// Public entry of the KV layer: the replicated state machine, its commands and their encoding.
// Free of networking and of the consensus core; the node layer feeds it committed entries.

// Types of the store underneath that appear in this API (snapshots, sync mode).
export type {
  RestoreSummary,
  SnapshotSource,
  SyncMode,
} from "../storage/index.ts";
export type {
  Compare,
  CompareNumberTarget,
  CompareOperator,
  DecodeResult,
  DeleteCommand,
  KvCommand,
  PutCommand,
  TxnCommand,
  TxnOp,
} from "./commands.ts";
export {
  COMMAND_FORMAT_VERSION,
  decodeCommand,
  encodeCommand,
  parseCommand,
  validateKey,
} from "./commands.ts";
export { KvError, type KvErrorCode } from "./errors.ts";
export {
  DEFAULT_KV_LIMITS,
  KV_MAX_KEY_SIZE_BYTES_CEILING,
  type KvLimits,
  resolveKvLimits,
} from "./limits.ts";
export type {
  ApplyResult,
  CommandResult,
  KeyValue,
  KvDigest,
  KvStateMachineOptions,
  ListOptions,
  ListResult,
  LogEntryData,
  TxnOpResult,
} from "./state-machine.ts";
export { evaluateCompare, KvStateMachine } from "./state-machine.ts";
