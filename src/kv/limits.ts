// Size limits of the KV state machine, validated once.
//
// Apply-time validation uses these limits, so every member of a cluster must run with the same
// values: a command accepted by one node and refused by another would make their states differ.
// The node layer should therefore take them from cluster-wide configuration.

import { STATE_MACHINE_MAX_KEY_SIZE_BYTES } from "../storage/index.ts";
import { KvError } from "./errors.ts";

export interface KvLimits {
  /** Largest key, in UTF-8 bytes. Default 1 KiB; at most 1977 (LMDB's key limit less one prefix byte). */
  maxKeySizeBytes: number;
  /** Largest value. Default 1 MiB. */
  maxValueSizeBytes: number;
  /** Largest encoded command (one log entry). Default 2 MiB: one maximal value plus headroom. */
  maxCommandSizeBytes: number;
  /** Most compares in one transaction. Default 128 (as etcd's --max-txn-ops). */
  maxTxnCompares: number;
  /** Most operations in one branch (success or failure) of a transaction. Default 128. */
  maxTxnOps: number;
  /** Most keys one list call returns. Default 10,000. */
  maxListLimit: number;
  /** A list page stops early (more = true) once keys + values reach this size. Default 4 MiB. */
  maxListSizeBytes: number;
}

/** One key byte is taken by the namespace prefix of the storage layout (see record.ts). */
export const KV_MAX_KEY_SIZE_BYTES_CEILING = STATE_MACHINE_MAX_KEY_SIZE_BYTES - 1;

export const DEFAULT_KV_LIMITS: Readonly<KvLimits> = Object.freeze({
  maxKeySizeBytes: 1024,
  maxValueSizeBytes: 1024 * 1024,
  maxCommandSizeBytes: 2 * 1024 * 1024,
  maxTxnCompares: 128,
  maxTxnOps: 128,
  maxListLimit: 10_000,
  maxListSizeBytes: 4 * 1024 * 1024,
});

export function resolveKvLimits(overrides: Partial<KvLimits> = {}): Readonly<KvLimits> {
  const limits: KvLimits = { ...DEFAULT_KV_LIMITS };
  for (const [name, value] of Object.entries(overrides) as [keyof KvLimits, unknown][]) {
    if (!(name in DEFAULT_KV_LIMITS)) {
      throw new KvError("INVALID_OPTIONS", `unknown KV limit "${name}"`);
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new KvError(
        "INVALID_OPTIONS",
        `KV limit ${name} must be a positive integer, got ${String(value)}`,
      );
    }
    limits[name] = value;
  }
  if (limits.maxKeySizeBytes > KV_MAX_KEY_SIZE_BYTES_CEILING) {
    throw new KvError(
      "INVALID_OPTIONS",
      `maxKeySizeBytes ${limits.maxKeySizeBytes} exceeds the storage ceiling ${KV_MAX_KEY_SIZE_BYTES_CEILING}; lower it`,
    );
  }
  if (limits.maxCommandSizeBytes < limits.maxValueSizeBytes + limits.maxKeySizeBytes) {
    throw new KvError(
      "INVALID_OPTIONS",
      "maxCommandSizeBytes must be at least maxValueSizeBytes + maxKeySizeBytes, or a maximal put could never be proposed",
    );
  }
  return Object.freeze(limits);
}
