// Shared helpers of the storage tests: temporary directories and deterministic entry payloads.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogEntry } from "../../src/storage/index.ts";

export function temporaryDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `hothot-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A payload derived from the index alone, so a reader can check an entry without a model. */
export function payloadFor(index: number, sizeBytes = 16 + (index % 37)): Uint8Array {
  const data = new Uint8Array(sizeBytes);
  let x = (index * 2654435761) >>> 0;
  for (let i = 0; i < sizeBytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function entry(index: number, term: number, data = payloadFor(index)): LogEntry {
  return { index, term, type: index % 5 === 0 ? 1 : 0, data };
}

export function entries(from: number, count: number, term: number): LogEntry[] {
  return Array.from({ length: count }, (_, k) => entry(from + k, term));
}
