// Shared vocabulary of the linearizability checker: operations as recorded by clients, the
// histories the parsers build from them, and the verdicts the checker returns.

/** A value held by a register or by one key of a map. `null` means absent (never written or deleted). */
export type Value = string | number | null;

/**
 * What an operation does. Register histories use read/write/cas; key-value histories use the same
 * kinds under their map names (get = read, put = write) plus append and delete.
 */
export type OperationKind = "read" | "write" | "cas" | "append" | "delete";

/**
 * - `ok`: the operation completed and its reported result is true.
 * - `fail`: the operation certainly did not take effect (it is dropped before the search).
 * - `unknown`: no reliable answer (timeout, crash, no completion): it may take effect at any
 *   point after its invocation, or never, and its result constrains nothing.
 */
export type Outcome = "ok" | "fail" | "unknown";

export type HistoryFormat = "jsonl" | "jepsen" | "edn";
export type ModelName = "register" | "kv";

export interface Operation {
  /** Position in `History.operations`; stable identifier used in explanations. */
  readonly id: number;
  readonly process: string;
  readonly kind: OperationKind;
  readonly key: string;
  /**
   * write/append: the value written; cas: the new value; read with outcome ok: the value
   * returned; otherwise null.
   */
  readonly value: Value;
  /** cas only: the value compared against. */
  readonly expected: Value;
  readonly outcome: Outcome;
  /** cas with outcome ok: whether the comparison matched and the value was swapped. */
  readonly swapped: boolean;
  /** Position of the invocation in real-time order (event index after ordering). */
  readonly callOrder: number;
  /** Position of the completion in real-time order; Infinity when the outcome is unknown. */
  readonly returnOrder: number;
  /** 1-based line numbers in the source file, for messages; completion is null when absent. */
  readonly invokeLine: number;
  readonly completeLine: number | null;
}

export interface History {
  /** File name (or other label) used in messages. */
  readonly source: string;
  readonly format: HistoryFormat;
  readonly operations: readonly Operation[];
  /** Value of every key (or of the register) before the first operation. */
  readonly initialValue: Value;
  /** Model named by the file itself (the JSONL meta line), if any. */
  readonly declaredModel: ModelName | null;
}

export type Verdict = "linearizable" | "not-linearizable" | "unknown";

export interface Violation {
  readonly key: string;
  /** Operations of the key's partition that were searched (after dropping no-effect ones). */
  readonly partitionSize: number;
  /** Longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly Operation[];
  /** Model state after the prefix. */
  readonly stateAfterPrefix: Value;
  /** The operation that had to be linearized next (earliest completion not yet placed). */
  readonly blocking: Operation;
  /** Operations that could have come next (invoked before `blocking` completed), none of which led to a linearization. */
  readonly candidates: readonly { readonly operation: Operation; readonly legalNext: boolean }[];
  /** Whether the part was shrunk (cut after the failure, unneeded reads dropped) before explaining. */
  readonly minimized: boolean;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly model: ModelName;
  readonly elapsedMs: number;
  readonly partitions: number;
  /** Operations checked (excluding those that certainly did not take effect). */
  readonly operationsChecked: number;
  /** Present when the verdict is not-linearizable. */
  readonly violation: Violation | null;
  /** Present when the verdict is unknown: why the search stopped. */
  readonly unknownReason: string | null;
}
