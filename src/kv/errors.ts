// Typed errors of the KV state machine. Codes are stable: the HTTP API and the client map them
// to responses, so never rename one.

export type KvErrorCode =
  /** The key is not a non-empty, well-formed string. */
  | "INVALID_KEY"
  /** The key's UTF-8 encoding exceeds the configured maxKeySizeBytes. */
  | "KEY_TOO_LARGE"
  /** The value exceeds the configured maxValueSizeBytes. */
  | "VALUE_TOO_LARGE"
  /** The command is malformed: wrong shape, unknown type or field, bad compare. */
  | "INVALID_COMMAND"
  /** The encoded command exceeds maxCommandSizeBytes. */
  | "COMMAND_TOO_LARGE"
  /** A transaction has more compares or operations than the limits allow. */
  | "TOO_MANY_TXN_OPS"
  /** The command was encoded by a newer format version than this node understands. */
  | "UNSUPPORTED_COMMAND_VERSION"
  /** A read was called with bad arguments (limit, cursor, prefix). */
  | "INVALID_ARGUMENT"
  /** Options or limits are invalid. */
  | "INVALID_OPTIONS"
  /** apply() was given entries that do not continue the applied index (a caller bug). */
  | "APPLY_OUT_OF_ORDER"
  /** Stored state does not decode: the data directory is damaged. */
  | "STATE_CORRUPT";

export class KvError extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, message: string) {
    super(message);
    this.name = "KvError";
    this.code = code;
  }
}
