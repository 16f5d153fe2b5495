// Reading a log directory at open: the compaction bounds from `log-meta`, then every segment,
// scanned and checked (see scanSegment for how a torn tail is told from corruption). A torn tail
// in the last segment is cut off here; anything else that is damaged refuses to open.

import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { readAtomicFileSync } from "./atomic-file.ts";
import { StorageError } from "./errors.ts";
import {
  parseSegmentFileName,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  scanSegment,
} from "./log-format.ts";

export const LOG_META_FILE = "log-meta";

/** One segment file and the in-memory index of its durable records. */
export interface Segment {
  readonly firstIndex: number;
  readonly path: string;
  /** Offset of each record; entry `firstIndex + k` starts at `offsets[k]`. */
  offsets: number[];
  terms: number[];
  /** End of the last durable record: where the next append to this segment goes. */
  endOffset: number;
  fd: number | undefined;
  /** Whether `fd` was opened for writing (only the active segment's is). */
  writable: boolean;
}

export interface RecoveredLog {
  readonly compactedIndex: number;
  readonly compactedTerm: number;
  /** In index order; contiguous; may be empty (no segment file yet). */
  readonly segments: Segment[];
}

/** Reads (creating if needed) the log directory; see the file comment. */
export function readLogDirectory(directory: string): RecoveredLog {
  mkdirSync(directory, { recursive: true });
  let compactedIndex = 0;
  let compactedTerm = 0;
  const metaFile = join(directory, LOG_META_FILE);
  const meta = readAtomicFileSync(metaFile);
  if (meta !== undefined) {
    const bounds = meta as { compactedIndex?: unknown; compactedTerm?: unknown };
    if (
      !Number.isSafeInteger(bounds.compactedIndex) ||
      !Number.isSafeInteger(bounds.compactedTerm)
    ) {
      throw new StorageError(
        "STORAGE_CORRUPT_FILE",
        `${metaFile} lacks valid bounds; restore it or rebuild this node from its peers`,
        { file: metaFile },
      );
    }
    compactedIndex = bounds.compactedIndex as number;
    compactedTerm = bounds.compactedTerm as number;
  }
  const segments: Segment[] = [];
  const names = readdirSync(directory)
    .map((name) => ({ name, firstIndex: parseSegmentFileName(name) }))
    .filter(
      (entry): entry is { name: string; firstIndex: number } => entry.firstIndex !== undefined,
    )
    .sort((a, b) => a.firstIndex - b.firstIndex);
  for (const [position, { name, firstIndex }] of names.entries()) {
    const path = join(directory, name);
    const isLast = position === names.length - 1;
    const scan = scanSegment(readFileSync(path), firstIndex);
    const previous = segments[segments.length - 1];
    if (previous !== undefined && previous.firstIndex + previous.offsets.length !== firstIndex) {
      throw new StorageError(
        "STORAGE_CORRUPT_RECORD",
        `log segment ${path} starts at index ${firstIndex} but the previous segment ends at ${previous.firstIndex + previous.offsets.length - 1}: entries are missing; restore the log or rebuild this node from its peers`,
        { file: path, offset: 0 },
      );
    }
    let endOffset = scan.validEnd;
    if (scan.stop !== undefined) {
      if (!isLast || scan.stop.kind === "corrupt") {
        throw new StorageError(
          "STORAGE_CORRUPT_RECORD",
          `log segment ${path} is damaged at byte offset ${scan.stop.offset} (${scan.stop.why}) with data after it that may be committed; refusing to start. Restore the log from a backup or rebuild this node from its peers`,
          { file: path, offset: scan.stop.offset },
        );
      }
      endOffset = cutTornTail(path, endOffset);
    }
    segments.push({
      firstIndex,
      path,
      offsets: scan.offsets,
      terms: scan.terms,
      endOffset,
      fd: undefined,
      writable: false,
    });
  }
  return { compactedIndex, compactedTerm, segments };
}

/**
 * A torn tail: the remains of a write that never completed, so never acknowledged. Cuts the file
 * back to `validEnd` (rewriting a torn magic); returns the new end.
 */
function cutTornTail(path: string, validEnd: number): number {
  const fd = openSync(path, "r+");
  try {
    let end = validEnd;
    if (end < SEGMENT_HEADER_BYTES) {
      ftruncateSync(fd, 0);
      writeSync(fd, SEGMENT_MAGIC, 0, SEGMENT_HEADER_BYTES, 0);
      end = SEGMENT_HEADER_BYTES;
    } else {
      ftruncateSync(fd, end);
    }
    fdatasyncSync(fd);
    return end;
  } finally {
    closeSync(fd);
  }
}
