// Hand-made log entries for the invariant checker tests.
import type { LogEntry } from "../../../src/testing/sim/invariants/log-matching.ts";
import { encodeWrite } from "../../../src/testing/sim/state-machine.ts";

/** A write entry at `index` in `term` carrying `writeId`. */
export function write(index: number, term: number, writeId: number): LogEntry {
  return { index, term, type: "normal", data: encodeWrite(writeId, 1) };
}

/** The leader's no-op at `index` in `term`. */
export function noop(index: number, term: number): LogEntry {
  return { index, term, type: "normal", data: new Uint8Array(0) };
}
