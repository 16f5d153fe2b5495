// Records the drill's client operations: in memory for the analysis, and line by line into a
// JSON-lines file in the checker's format (docs/checker.md), so that `hothot check-history` can
// re-check a run, even one interrupted half-way.
import { closeSync, openSync, writeSync } from "node:fs";
import type { JsonlEvent } from "../linearizability/index.ts";

export type OpKind = "read" | "write" | "cas";
export type OpOutcome = "ok" | "fail" | "unknown";

export interface OpRecord {
  readonly id: number;
  /** Client number; final reads after the run use process "final". */
  readonly process: number | string;
  readonly kind: OpKind;
  readonly key: string;
  /** write: the value; cas: the new value. */
  readonly value: string | null;
  /** cas: the value compared against (null = absent). */
  readonly from: string | null;
  readonly invokeMs: number;
  completeMs: number | undefined;
  outcome: OpOutcome | undefined;
  /** read: the value read (null = absent). */
  result: string | null;
  /** cas: whether it swapped. */
  swapped: boolean;
  errorCode: string | undefined;
  /** The node the request went to, if known. */
  node: string | undefined;
}

export interface Completion {
  readonly outcome: OpOutcome;
  readonly result?: string | null;
  readonly swapped?: boolean;
  readonly errorCode?: string;
  readonly node?: string;
}

/** Operations kept in memory at most; a drill that reaches it stops its clients (bounded memory). */
export const MAX_RECORDED_OPERATIONS = 2_000_000;

export class HistoryRecorder {
  readonly records: OpRecord[] = [];
  private readonly fd: number | undefined;
  private readonly clock: () => number;

  /** `path` undefined keeps the history in memory only (tests). */
  constructor(path: string | undefined, clock: () => number) {
    this.clock = clock;
    this.fd = path === undefined ? undefined : openSync(path, "w");
    this.write({ type: "meta", version: 1, model: "kv" });
  }

  get full(): boolean {
    return this.records.length >= MAX_RECORDED_OPERATIONS;
  }

  invoke(
    process: number | string,
    kind: OpKind,
    key: string,
    value: string | null,
    from: string | null = null,
  ): OpRecord {
    const record: OpRecord = {
      id: this.records.length,
      process,
      kind,
      key,
      value,
      from,
      invokeMs: this.clock(),
      completeMs: undefined,
      outcome: undefined,
      result: null,
      swapped: false,
      errorCode: undefined,
      node: undefined,
    };
    this.records.push(record);
    const timeMs = round(record.invokeMs);
    let event: JsonlEvent;
    if (kind === "read") event = { type: "invoke", process, op: "read", key, timeMs };
    else if (kind === "write") event = { type: "invoke", process, op: "write", key, value, timeMs };
    else event = { type: "invoke", process, op: "cas", key, from, to: value, timeMs };
    this.write(event);
    return record;
  }

  complete(record: OpRecord, completion: Completion): void {
    if (record.outcome !== undefined) throw new Error(`operation ${record.id} completed twice`);
    record.completeMs = this.clock();
    record.outcome = completion.outcome;
    record.result = completion.result ?? null;
    record.swapped = completion.swapped ?? false;
    record.errorCode = completion.errorCode;
    record.node = completion.node;
    const base = {
      type: "complete" as const,
      process: record.process,
      op: record.kind,
      timeMs: round(record.completeMs),
    };
    let event: JsonlEvent;
    if (completion.outcome === "ok" && record.kind === "read")
      event = { ...base, outcome: "ok", value: record.result };
    else if (completion.outcome === "ok" && record.kind === "cas")
      event = { ...base, outcome: "ok", swapped: record.swapped };
    else event = { ...base, outcome: completion.outcome };
    // Context for a person reading the file; the checker ignores unknown fields.
    this.write(event, { node: record.node, error: record.errorCode });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }

  private write(event: JsonlEvent, extra: Record<string, string | undefined> = {}): void {
    if (this.fd === undefined) return;
    const context = Object.fromEntries(
      Object.entries(extra).filter(([, value]) => value !== undefined),
    );
    writeSync(this.fd, `${JSON.stringify({ ...event, ...context })}\n`);
  }
}

/** Microsecond precision is enough to order events and keeps the file small. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
