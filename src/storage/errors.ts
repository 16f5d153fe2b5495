// Typed errors of the storage layer. Every error carries a stable `code` that callers switch on,
// and a message that says what went wrong and what to do about it.

export type StorageErrorCode =
  /** A log record failed its checksum or framing somewhere other than the torn tail. */
  | "STORAGE_CORRUPT_RECORD"
  /** A whole-file structure (hard state, log metadata, snapshot) failed its checksum or format. */
  | "STORAGE_CORRUPT_FILE"
  /** The disk is full (ENOSPC). The store has stopped accepting writes; reads still work. */
  | "STORAGE_DISK_FULL"
  /** An earlier write failed; the store refuses further writes until it is reopened. */
  | "STORAGE_WRITES_STOPPED"
  /** Any other I/O failure. */
  | "STORAGE_IO"
  /** The caller broke an API contract (non-contiguous append, bad range, bad metadata). */
  | "STORAGE_INVALID_ARGUMENT"
  /** A read asked for entries before the first index (they were compacted into a snapshot). */
  | "STORAGE_COMPACTED"
  /** A read asked for entries after the last durable index. */
  | "STORAGE_UNAVAILABLE"
  /** A configured limit was hit (entry size, queued bytes). */
  | "STORAGE_LIMIT"
  /** A snapshot transfer did not match what the sender announced (offset, size, checksum). */
  | "STORAGE_SNAPSHOT_MISMATCH"
  /** No snapshot with the requested index exists. */
  | "STORAGE_NOT_FOUND"
  /** The store was closed. */
  | "STORAGE_CLOSED";

export interface StorageErrorDetails {
  /** The file the error is about, when there is one. */
  readonly file?: string;
  /** Byte offset inside `file`, when the error is about one place in it. */
  readonly offset?: number;
  readonly cause?: unknown;
}

export class StorageError extends Error {
  override readonly name = "StorageError";
  readonly code: StorageErrorCode;
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(code: StorageErrorCode, message: string, details: StorageErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
  }
}

export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}

/** The errno-style code of a Node.js system error, if it is one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * Wraps a failed write of `file` as a typed error. ENOSPC (and EDQUOT, the per-user form of the
 * same condition) become STORAGE_DISK_FULL so operators see one clear signal.
 */
export function writeFailure(error: unknown, file: string, what: string): StorageError {
  if (error instanceof StorageError) return error;
  const errno = systemErrorCode(error);
  if (errno === "ENOSPC" || errno === "EDQUOT") {
    return new StorageError(
      "STORAGE_DISK_FULL",
      `disk full while ${what} (${file}): free space on this volume or move the data directory, then restart the node; nothing durable was lost`,
      { file, cause: error },
    );
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageError(
    "STORAGE_IO",
    `I/O error while ${what} (${file}): ${detail}; check the disk and restart the node`,
    { file, cause: error },
  );
}
