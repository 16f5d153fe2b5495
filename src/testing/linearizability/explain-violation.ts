// Turns a failed search into an explanation: the longest linearizable prefix found, the
// operation whose completion was due next, and the operations that could have come next.
//
// On request the part is first shrunk, keeping only changes that preserve the violation and
// are sound (a violation of the smaller history implies one of the original):
// - Cut at the point of failure. Linearizability is prefix-closed: if a history is
//   linearizable, so is every prefix of it in real time, with the operations still running at
//   the cut taken as of unknown outcome. So if the prefix up to the due completion has no
//   linearization, neither has the whole history.
// - Drop observations (ok reads, cas that did not swap). They have no effect, so adding them
//   back cannot make a history linearizable.
import { ILLEGAL, stepCell } from "./models.ts";
import { searchPartition } from "./search.ts";
import type { Operation, Value, Violation } from "./types.ts";

/** Time for one trial while shrinking; a trial that needs more is treated as not shrinking. */
const TRIAL_MS = 100;

interface Found {
  readonly prefix: readonly Operation[];
  readonly stateAfterPrefix: Value;
}

export interface ExplainOptions {
  /** performance.now() value to stop shrinking at; null: do not shrink. */
  readonly shrinkDeadline: number | null;
  readonly maxCacheBytes: number;
}

/** The earliest completion among operations not in the prefix: the one that could not be placed. */
function dueOperation(operations: readonly Operation[], found: Found): Operation | undefined {
  const placed = new Set(found.prefix.map((operation) => operation.id));
  let due: Operation | undefined;
  for (const operation of operations) {
    if (placed.has(operation.id) || !Number.isFinite(operation.returnOrder)) continue;
    if (due === undefined || operation.returnOrder < due.returnOrder) due = operation;
  }
  return due;
}

function cutAt(operations: readonly Operation[], timeOrder: number): Operation[] {
  const cut: Operation[] = [];
  for (const operation of operations) {
    if (operation.callOrder > timeOrder) continue;
    if (operation.returnOrder <= timeOrder) cut.push(operation);
    else if (!Number.isFinite(operation.returnOrder)) cut.push(operation);
    else if (operation.kind !== "read") {
      cut.push({ ...operation, outcome: "unknown", returnOrder: Number.POSITIVE_INFINITY });
    }
  }
  return cut;
}

function isObservation(operation: Operation): boolean {
  return (
    operation.outcome === "ok" &&
    (operation.kind === "read" || (operation.kind === "cas" && !operation.swapped))
  );
}

function shrink(
  operations: readonly Operation[],
  initialValue: Value,
  first: Found,
  deadline: number,
  maxCacheBytes: number,
): { operations: readonly Operation[]; found: Found } {
  let kept = operations;
  let found = first;
  const trial = (candidate: readonly Operation[]): Found | null => {
    const trialDeadline = Math.min(deadline, performance.now() + TRIAL_MS);
    const outcome = searchPartition(candidate, initialValue, {
      deadline: trialDeadline,
      maxCacheBytes,
    });
    return outcome.kind === "violation" ? outcome : null;
  };

  // Cut after the due completion, as long as that keeps shortening the history.
  while (performance.now() <= deadline) {
    const due = dueOperation(kept, found);
    if (due === undefined) break;
    const cut = cutAt(kept, due.returnOrder);
    const changed =
      cut.length !== kept.length || cut.some((operation, index) => operation !== kept[index]);
    if (!changed) break;
    const outcome = trial(cut);
    if (outcome === null) break;
    kept = cut;
    found = outcome;
  }

  // Delta debugging over the observations: large blocks first, then halve the block size, so
  // that many irrelevant reads go in a few searches rather than one each.
  let observations = kept.filter(isObservation).map((operation) => operation.id);
  let blockSize = Math.max(1, Math.ceil(observations.length / 2));
  while (observations.length > 0 && performance.now() <= deadline) {
    for (let start = 0; start < observations.length && performance.now() <= deadline; ) {
      const dropped = new Set(observations.slice(start, start + blockSize));
      const without = kept.filter((operation) => !dropped.has(operation.id));
      const outcome = trial(without);
      if (outcome === null) {
        start += blockSize;
        continue;
      }
      kept = without;
      found = outcome;
      observations = observations.filter((id) => !dropped.has(id));
    }
    if (blockSize === 1) break;
    blockSize = Math.ceil(blockSize / 2);
  }
  return { operations: kept, found };
}

export function explainViolation(
  key: string,
  operations: readonly Operation[],
  initialValue: Value,
  found: Found,
  options: ExplainOptions,
): Violation {
  let explained = { operations, found };
  if (options.shrinkDeadline !== null) {
    explained = shrink(
      operations,
      initialValue,
      found,
      options.shrinkDeadline,
      options.maxCacheBytes,
    );
  }
  const minimized = explained.operations !== operations;
  // Show operations as recorded, not as relaxed by the cut.
  const original = new Map(operations.map((operation) => [operation.id, operation]));
  const asRecorded = (operation: Operation): Operation => original.get(operation.id) ?? operation;
  const { prefix, stateAfterPrefix } = explained.found;
  const due = dueOperation(explained.operations, explained.found);
  if (due === undefined) {
    throw new Error(
      `linearizability invariant: a violation on key ${key} with every operation placed`,
    );
  }
  const placed = new Set(prefix.map((operation) => operation.id));
  const candidates = explained.operations
    .filter((operation) => !placed.has(operation.id) && operation.callOrder < due.returnOrder)
    .sort((a, b) => a.callOrder - b.callOrder)
    .map((operation) => ({
      operation: asRecorded(operation),
      legalNext: stepCell(stateAfterPrefix, operation) !== ILLEGAL,
    }));
  return {
    key,
    partitionSize: explained.operations.length,
    prefix: prefix.map(asRecorded),
    stateAfterPrefix,
    blocking: asRecorded(due),
    candidates,
    minimized,
  };
}
