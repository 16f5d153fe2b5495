// Checks a parsed history: picks the model, splits the history into independent parts, runs the
// search on each within one time budget, and turns a failed search into an explanation.
import { CheckerError } from "./errors.ts";
import { explainViolation } from "./explain-violation.ts";
import { affectsSearch, type Model, modelByName } from "./models.ts";
import { type SearchOutcome, searchPartition } from "./search.ts";
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

export interface Part {
  readonly key: string;
  readonly operations: readonly Operation[];
}

/** What both drivers (in turn, in worker threads) need: validated parts and how to conclude. */
export interface PreparedCheck {
  readonly parts: readonly Part[];
  readonly initialValue: Value;
  readonly timeoutMs: number;
  readonly maxCacheBytes: number;
  /** performance.now() when the check started. */
  readonly started: number;
  readonly deadline: number;
  /** The result for a part's violation, explained (and minimized if asked). */
  violation(part: Part, outcome: SearchOutcome & { kind: "violation" }): CheckResult;
  /** Why a part's search stopped without an answer. */
  unknownReason(part: Part, outcome: SearchOutcome & { kind: "timeout" | "cache-limit" }): string;
  /** The result once no part has a violation: unknown if any part was undecided. */
  finish(unknownReason: string | null): CheckResult;
}

export function prepareCheck(history: History, options: CheckOptions = {}): PreparedCheck {
  const started = performance.now();
  const modelName = options.model ?? inferModel(history);
  const model = modelByName(modelName);
  checkKinds(history, model);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  // A NaN or negative budget would silently disable the limit or make every check unknown.
  if (!(timeoutMs > 0) || !(maxCacheBytes > 0)) {
    throw new RangeError(
      `timeoutMs and maxCacheBytes must be positive, got ${timeoutMs} and ${maxCacheBytes}`,
    );
  }
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
  return {
    parts,
    initialValue: history.initialValue,
    timeoutMs,
    maxCacheBytes,
    started,
    deadline,
    violation(part, outcome) {
      const violation = explainViolation(part.key, part.operations, history.initialValue, outcome, {
        shrinkDeadline: options.minimize
          ? Math.min(deadline, performance.now() + MINIMIZE_BUDGET_MS)
          : null,
        maxCacheBytes,
      });
      return result("not-linearizable", violation, null);
    },
    unknownReason(part, outcome) {
      const where = `while checking key ${JSON.stringify(part.key)} (${part.operations.length} operations)`;
      return outcome.kind === "timeout"
        ? `time limit of ${timeoutMs} ms reached ${where}; raise --timeout-ms`
        : `${outcome.message} ${where}`;
    },
    finish(unknownReason) {
      return unknownReason === null
        ? result("linearizable", null, null)
        : result("unknown", null, unknownReason);
    },
  };
}

/** Checks the parts one after another in this thread. */
export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  return checkInTurn(prepareCheck(history, options));
}

export function checkInTurn(check: PreparedCheck): CheckResult {
  let unknownReason: string | null = null;
  for (const part of check.parts) {
    const outcome = searchPartition(part.operations, check.initialValue, {
      deadline: check.deadline,
      maxCacheBytes: check.maxCacheBytes,
    });
    if (outcome.kind === "linearizable") continue;
    if (outcome.kind === "violation") return check.violation(part, outcome);
    // Keep looking after a memo limit: a later part may still prove a violation, which is a
    // definite answer. After a timeout the shared deadline has passed, so stop.
    unknownReason ??= check.unknownReason(part, outcome);
    if (outcome.kind === "timeout") break;
  }
  return check.finish(unknownReason);
}
