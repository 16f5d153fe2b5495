// The drill's checks that do not need the search: acknowledged writes missing from the final
// state, digests of the nodes, failover gaps, availability and leader elections. All are pure
// functions of recorded data, so they are tested on hand-made histories.

import type { OpRecord } from "./history.ts";
import type { Digest } from "./node-api.ts";

/** An acknowledged write is one the cluster said it wrote: an ok write, or an ok cas that swapped. */
export function isAcknowledgedWrite(record: OpRecord): boolean {
  return (
    record.outcome === "ok" &&
    (record.kind === "write" || (record.kind === "cas" && record.swapped))
  );
}

function mayHaveWritten(record: OpRecord): boolean {
  if (record.kind === "read") return false;
  return (
    record.outcome === "unknown" || isAcknowledgedWrite(record) || record.outcome === undefined
  );
}

export interface LostWrite {
  readonly key: string;
  readonly value: string | null;
  readonly process: number | string;
  readonly invokeMs: number;
  readonly completeMs: number;
  /** The final value of the key, and why the write cannot be hidden behind it. */
  readonly finalValue: string | null;
  readonly reason: string;
}

export interface FinalStateCheck {
  /** Acknowledged writes that the final state does not account for. */
  readonly lost: LostWrite[];
  /** Keys whose final value no operation could have written. */
  readonly unexplained: Array<{ key: string; finalValue: string }>;
}

/**
 * Checks the final value of each key against the acknowledged writes. Values are unique, so the
 * final value names the write that produced it (its "producer"). An acknowledged write invoked
 * after the producer completed must come after it in any order, so the final value should be
 * newer: such a write is lost. With no producer (the key is absent, or holds a value nobody
 * wrote), every acknowledged write to the key is lost.
 */
export function checkFinalState(
  records: readonly OpRecord[],
  finalValues: ReadonlyMap<string, string | null>,
): FinalStateCheck {
  const lost: LostWrite[] = [];
  const unexplained: Array<{ key: string; finalValue: string }> = [];
  for (const [key, finalValue] of finalValues) {
    const writes = records.filter((record) => record.key === key && record.kind !== "read");
    const producer =
      finalValue === null
        ? undefined
        : writes.find((record) => record.value === finalValue && mayHaveWritten(record));
    if (finalValue !== null && producer === undefined) unexplained.push({ key, finalValue });
    const producerDoneMs =
      producer === undefined
        ? -Infinity
        : producer.outcome === "ok"
          ? producer.completeMs!
          : Infinity;
    for (const record of writes) {
      if (!isAcknowledgedWrite(record) || record === producer) continue;
      if (producer !== undefined && record.invokeMs <= producerDoneMs) continue;
      lost.push({
        key,
        value: record.value,
        process: record.process,
        invokeMs: record.invokeMs,
        completeMs: record.completeMs!,
        finalValue,
        reason:
          producer === undefined
            ? finalValue === null
              ? "the key is absent at the end"
              : "the final value was written by no operation"
            : `it was invoked after the write of the final value had completed (at ${producerDoneMs.toFixed(0)} ms)`,
      });
    }
  }
  return { lost, unexplained };
}

export type DigestVerdict =
  | { readonly state: "converged"; readonly appliedIndex: number; readonly sha256: string }
  | {
      readonly state: "diverged";
      readonly appliedIndex: number;
      readonly digests: ReadonlyArray<{ node: number; sha256: string }>;
    }
  | { readonly state: "pending"; readonly reason: string };

/** Nodes at the same applied index must hold the same digest; all at one index with one digest have converged. */
export function compareDigests(
  samples: ReadonlyArray<{ node: number; digest: Digest | undefined }>,
): DigestVerdict {
  const byIndex = new Map<number, Array<{ node: number; sha256: string }>>();
  const missing: number[] = [];
  for (const { node, digest } of samples) {
    if (!digest) {
      missing.push(node);
      continue;
    }
    const list = byIndex.get(digest.appliedIndex) ?? [];
    list.push({ node, sha256: digest.sha256 });
    byIndex.set(digest.appliedIndex, list);
  }
  for (const [appliedIndex, digests] of byIndex) {
    if (new Set(digests.map((entry) => entry.sha256)).size > 1)
      return { state: "diverged", appliedIndex, digests };
  }
  if (missing.length > 0)
    return { state: "pending", reason: `no digest from node ${missing.join(", ")}` };
  if (byIndex.size !== 1) {
    const indexes = samples
      .map(({ node, digest }) => `node ${node} at ${digest?.appliedIndex}`)
      .join(", ");
    return { state: "pending", reason: `applied indexes differ: ${indexes}` };
  }
  const [appliedIndex, digests] = [...byIndex][0]!;
  return { state: "converged", appliedIndex, sha256: digests[0]!.sha256 };
}

/** Time from a fault to the completion of the first acknowledged write invoked after it; null if none. */
export function failoverGapMs(
  records: readonly OpRecord[],
  faultAtMs: number,
  untilMs = Infinity,
): number | null {
  let best: number | null = null;
  for (const record of records) {
    if (!isAcknowledgedWrite(record) || record.invokeMs < faultAtMs || record.invokeMs > untilMs)
      continue;
    const gap = record.completeMs! - faultAtMs;
    if (best === null || gap < best) best = gap;
  }
  return best;
}

export interface OutcomeCounts {
  ok: number;
  fail: number;
  unknown: number;
}

export interface Availability {
  /** Share of completed operations that were ok. */
  readonly okShare: number;
  /** Per second of the run: [ok, all completed] by invocation time. */
  readonly perSecond: Array<[number, number]>;
}

export function countOutcomes(records: readonly OpRecord[]): {
  all: OutcomeCounts;
  byKind: Record<string, OutcomeCounts>;
  errorCodes: Record<string, number>;
} {
  const all: OutcomeCounts = { ok: 0, fail: 0, unknown: 0 };
  const byKind: Record<string, OutcomeCounts> = {};
  const errorCodes: Record<string, number> = {};
  for (const record of records) {
    const outcome = record.outcome ?? "unknown";
    all[outcome]++;
    const kind = byKind[record.kind] ?? { ok: 0, fail: 0, unknown: 0 };
    byKind[record.kind] = kind;
    kind[outcome]++;
    if (record.errorCode) errorCodes[record.errorCode] = (errorCodes[record.errorCode] ?? 0) + 1;
  }
  return { all, byKind, errorCodes };
}

export function availability(records: readonly OpRecord[]): Availability {
  const perSecond: Array<[number, number]> = [];
  let ok = 0;
  for (const record of records) {
    const second = Math.floor(record.invokeMs / 1000);
    while (perSecond.length <= second) perSecond.push([0, 0]);
    const bucket = perSecond[second]!;
    bucket[1]++;
    if (record.outcome === "ok") {
      bucket[0]++;
      ok++;
    }
  }
  return { okShare: records.length === 0 ? 0 : ok / records.length, perSecond };
}

export function percentile(values: readonly number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

/**
 * The leader a majority of the cluster follows, if any: a node that says it leads in term T and
 * that a majority (itself included) names as leader in T. Impaired nodes (killed, paused, cut
 * off) do not count as the leader while their fault lasts.
 */
export function effectiveLeader(
  statuses: ReadonlyArray<
    { id: number; role: string; leaderId: number | null; term: number } | undefined
  >,
  clusterSize: number,
  impaired: ReadonlySet<number>,
): number | undefined {
  const majority = Math.floor(clusterSize / 2) + 1;
  for (const status of statuses) {
    if (status?.role !== "leader" || impaired.has(status.id)) continue;
    const followers = statuses.filter(
      (other) => other && other.leaderId === status.id && other.term === status.term,
    ).length;
    if (followers >= majority) return status.id;
  }
  return undefined;
}
