// Checks a parsed history: picks the model, splits the history into independent parts, runs the
// search on each within one time budget, and turns a failed search into an explanation.
import { CheckerError } from "./errors.ts";
import { affectsSearch, ILLEGAL, type Model, modelByName, stepCell } from "./models.ts";
import { searchPartition } from "./search.ts";
import type { CheckResult, History, ModelName, Operation, Value, Violation } from "./types.ts";

export const DEFAULT_TIMEOUT_MS = 60_000;
/** Memo bound per part; a search that needs more is reported as unknown instead of exhausting memory. */
export const DEFAULT_MAX_CACHE_BYTES = 512 * 2 ** 20;
/** Time spent shrinking an explanation, at most; a violation is reported either way. */
const MINIMIZE_BUDGET_MS = 2_000;

export interface CheckOptions {
  /** Model to check against; inferred from the history when absent. */
  readonly model?: ModelName;
  /** Wall-clock budget for the whole history; past it the verdict is `unknown`. */
  readonly timeoutMs?: number;
  readonly maxCacheBytes?: number;
  /** Spend up to a couple of seconds shrinking the explanation of a violation. */
  readonly minimize?: boolean;
}

/** The file's declared model, else register for single-key read/write/cas histories, else kv. */
export function inferModel(history: History): ModelName {
  if (history.declaredModel !== null) return history.declaredModel;
  const keys = new Set<string>();
  for (const operation of history.operations) {
    keys.add(operation.key);
    if (operation.kind === "append" || operation.kind === "delete") return "kv";
  }
  return keys.size <= 1 ? "register" : "kv";
}

function checkKinds(history: History, model: Model): void {
  if (model.name === "register") {
    const first = history.operations[0];
    const other = history.operations.find((operation) => operation.key !== first?.key);
    if (first !== undefined && other !== undefined) {
      throw new CheckerError(
        "HISTORY_MODEL_MISMATCH",
        `${history.source}:${other.invokeLine}: the register model takes one key, but this operation uses key ${JSON.stringify(other.key)} and line ${first.invokeLine} uses ${JSON.stringify(first.key)}; use --model kv`,
      );
    }
  }
  for (const operation of history.operations) {
    if (!model.kinds.has(operation.kind)) {
      throw new CheckerError(
        "HISTORY_MODEL_MISMATCH",
        `${history.source}:${operation.invokeLine}: the ${model.name} model has no "${operation.kind}" operation; use --model kv`,
      );
    }
  }
}

export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const modelName = options.model ?? inferModel(history);
  const model = modelByName(modelName);
  checkKinds(history, model);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  const deadline = started + timeoutMs;
  const parts = [...model.partition(history.operations).entries()].map(([key, operations]) => ({
    key,
    operations: operations.filter(affectsSearch),
  }));
  // Small parts first: a violation in a cheap part is found before a hard part eats the budget.
  parts.sort((a, b) => a.operations.length - b.operations.length);
  const operationsChecked = parts.reduce((sum, part) => sum + part.operations.length, 0);
  const result = (
    verdict: CheckResult["verdict"],
    violation: Violation | null,
    unknownReason: string | null,
  ): CheckResult => ({
    verdict,
    model: modelName,
    elapsedMs: performance.now() - started,
    partitions: parts.length,
    operationsChecked,
    violation,
    unknownReason,
  });

  let unknownReason: string | null = null;
  for (const part of parts) {
    const outcome = searchPartition(part.operations, history.initialValue, {
      deadline,
      maxCacheBytes,
    });
    if (outcome.kind === "linearizable") continue;
    if (outcome.kind === "violation") {
      const minimizeDeadline = Math.min(deadline, performance.now() + MINIMIZE_BUDGET_MS);
      const minimized = options.minimize
        ? minimizeObservations(
            part.operations,
            history.initialValue,
            minimizeDeadline,
            maxCacheBytes,
          )
        : null;
      const violation =
        minimized === null
          ? describeViolation(
              part.key,
              part.operations,
              outcome.prefix,
              outcome.stateAfterPrefix,
              false,
            )
          : minimized(part.key);
      return result("not-linearizable", violation, null);
    }
    const reason =
      outcome.kind === "timeout"
        ? `time limit of ${timeoutMs} ms reached while checking key ${JSON.stringify(part.key)} (${part.operations.length} operations); raise --timeout-ms`
        : `${outcome.message} while checking key ${JSON.stringify(part.key)} (${part.operations.length} operations)`;
    // Keep looking: a later part may still prove a violation, which is a definite answer.
    unknownReason ??= reason;
    if (outcome.kind === "timeout") break;
  }
  return unknownReason === null
    ? result("linearizable", null, null)
    : result("unknown", null, unknownReason);
}

/**
 * Builds the explanation from the longest linearizable prefix: the operation whose completion
 * came next could not be placed, and neither could anything that was invoked before it completed.
 */
function describeViolation(
  key: string,
  operations: readonly Operation[],
  prefix: readonly Operation[],
  stateAfterPrefix: Value,
  minimized: boolean,
): Violation {
  const placed = new Set(prefix.map((operation) => operation.id));
  const remaining = operations.filter((operation) => !placed.has(operation.id));
  let blocking: Operation | undefined;
  for (const operation of remaining) {
    if (
      Number.isFinite(operation.returnOrder) &&
      (blocking === undefined || operation.returnOrder < blocking.returnOrder)
    ) {
      blocking = operation;
    }
  }
  if (blocking === undefined) {
    throw new Error(
      `linearizability invariant: a violation on key ${key} with every operation placed`,
    );
  }
  const candidates = remaining
    .filter((operation) => operation.callOrder < blocking.returnOrder)
    .sort((a, b) => a.callOrder - b.callOrder)
    .map((operation) => ({
      operation,
      legalNext: stepCell(stateAfterPrefix, operation) !== ILLEGAL,
    }));
  return {
    key,
    partitionSize: operations.length,
    prefix,
    stateAfterPrefix,
    blocking,
    candidates,
    minimized,
  };
}

/**
 * Drops pure observations (ok reads, cas that did not swap) one at a time while the part stays
 * non-linearizable. Sound because observations have no effect: if the smaller history has no
 * linearization, adding observations back cannot create one. Bounded by a deadline; an
 * observation whose removal cannot be decided in time is kept.
 */
function minimizeObservations(
  operations: readonly Operation[],
  initialValue: Value,
  deadline: number,
  maxCacheBytes: number,
): ((key: string) => Violation) | null {
  let kept = [...operations];
  let found: { prefix: readonly Operation[]; stateAfterPrefix: Value } | null = null;
  const isObservation = (operation: Operation): boolean =>
    operation.outcome === "ok" &&
    (operation.kind === "read" || (operation.kind === "cas" && !operation.swapped));
  for (let index = kept.length - 1; index >= 0; index--) {
    if (performance.now() > deadline) break;
    const candidate = kept[index]!;
    if (!isObservation(candidate)) continue;
    const without = kept.filter((_, position) => position !== index);
    const outcome = searchPartition(without, initialValue, { deadline, maxCacheBytes });
    if (outcome.kind === "violation") {
      kept = without;
      found = outcome;
    }
  }
  if (found === null) return null;
  const { prefix, stateAfterPrefix } = found;
  return (key) => describeViolation(key, kept, prefix, stateAfterPrefix, true);
}
