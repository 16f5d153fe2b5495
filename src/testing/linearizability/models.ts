// The sequential specifications histories are checked against.
//
// Both models are built from one "cell": a value that can be read, written, compared-and-swapped,
// appended to and deleted. A register is a single cell; a key-value map is one independent cell
// per key. Because keys never interact, a map history is linearizable exactly when each key's
// sub-history is (P-compositionality, Herlihy & Wing), so the map model partitions by key and the
// search never sees more than one key at a time.
import { CheckerError } from "./errors.ts";
import type { ModelName, Operation, OperationKind, Value } from "./types.ts";

export interface Model {
  readonly name: ModelName;
  /** Operation kinds the model defines; others are refused before the search. */
  readonly kinds: ReadonlySet<OperationKind>;
  /** Splits the operations into independent parts, each checked on its own. */
  partition(operations: readonly Operation[]): Map<string, Operation[]>;
}

/** Marks a step that the sequential specification does not allow. */
export const ILLEGAL: unique symbol = Symbol("illegal");

/**
 * One step of the cell's sequential specification: the state after `operation` runs on `state`,
 * or ILLEGAL when the operation's recorded result contradicts the state.
 * Unknown outcomes constrain nothing: a cas of unknown outcome swaps exactly when it matches.
 */
export function stepCell(state: Value, operation: Operation): Value | typeof ILLEGAL {
  switch (operation.kind) {
    case "read":
      if (operation.outcome !== "ok") return state;
      return state === operation.value ? state : ILLEGAL;
    case "write":
      return operation.value;
    case "delete":
      return null;
    case "append": {
      if (state !== null && typeof state !== "string") return ILLEGAL;
      if (typeof operation.value !== "string") return ILLEGAL;
      return (state ?? "") + operation.value;
    }
    case "cas": {
      const matches = state === operation.expected;
      if (operation.outcome === "ok") {
        if (operation.swapped) return matches ? operation.value : ILLEGAL;
        return matches ? ILLEGAL : state;
      }
      return matches ? operation.value : state;
    }
  }
}

const REGISTER_KINDS: ReadonlySet<OperationKind> = new Set(["read", "write", "cas"]);
const KV_KINDS: ReadonlySet<OperationKind> = new Set(["read", "write", "cas", "append", "delete"]);

export const registerModel: Model = {
  name: "register",
  kinds: REGISTER_KINDS,
  partition(operations) {
    const keys = new Set(operations.map((operation) => operation.key));
    if (keys.size > 1) {
      throw new CheckerError(
        "HISTORY_MODEL_MISMATCH",
        `the register model takes one key but the history has ${keys.size} (${[...keys].slice(0, 3).join(", ")}…); use --model kv`,
      );
    }
    return new Map(operations.length === 0 ? [] : [[operations[0]!.key, [...operations]]]);
  },
};

export const kvModel: Model = {
  name: "kv",
  kinds: KV_KINDS,
  partition(operations) {
    const parts = new Map<string, Operation[]>();
    for (const operation of operations) {
      let part = parts.get(operation.key);
      if (part === undefined) {
        part = [];
        parts.set(operation.key, part);
      }
      part.push(operation);
    }
    return parts;
  },
};

export function modelByName(name: ModelName): Model {
  return name === "register" ? registerModel : kvModel;
}

/**
 * Whether the operation can matter to the search. Failed operations never took effect; reads of
 * unknown outcome neither change the state nor constrain it. Dropping them keeps the verdict and
 * shrinks the search.
 */
export function affectsSearch(operation: Operation): boolean {
  if (operation.outcome === "fail") return false;
  if (operation.outcome === "unknown" && operation.kind === "read") return false;
  return true;
}
