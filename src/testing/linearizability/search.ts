// The Wing–Gong linearizability search with Lowe's memo, on one independent part of a history.
//
// Call and return entries of all operations sit in one doubly linked list in real-time order.
// The search walks the list from the front: at a call entry it tries to linearize that operation
// next (the model step must be legal and the resulting (linearized set, state) configuration
// new); on success it lifts the call and its return out of the list and starts again from the
// front. Reaching a return entry means the operation it belongs to was due but could not be
// placed, so the search backtracks the most recent choice. The history is linearizable when
// every operation with a known completion has been placed: operations of unknown outcome
// have their return infinitely late and may never take effect, so any left over are dropped.
//
// Everything in the loop is typed arrays and integers: model states are interned to small ids,
// the linearized set is a bitset with an incrementally maintained Zobrist hash, and model steps
// that build new values (append) are memoized per (operation, state).
import { affectsSearch } from "./models.ts";
import { CacheLimitError, StateCache } from "./state-cache.ts";
import type { Operation, Value } from "./types.ts";
import { type AppendPiece, ValueInterner } from "./value-interner.ts";

export interface SearchOptions {
  /** performance.now() value after which the search gives up with `timeout`. */
  readonly deadline: number;
  readonly maxCacheBytes: number;
}

export type SearchOutcome =
  | { readonly kind: "linearizable" }
  | {
      readonly kind: "violation";
      /** Longest linearizable prefix found, in linearization order. */
      readonly prefix: readonly Operation[];
      readonly stateAfterPrefix: Value;
    }
  | { readonly kind: "timeout" }
  | { readonly kind: "cache-limit"; readonly message: string };

const READ = 0;
const WRITE = 1;
const DELETE = 2;
const CAS_SWAPPED = 3;
const CAS_NOT_SWAPPED = 4;
const CAS_UNKNOWN = 5;
const APPEND = 6;

/** How often (in loop iterations) the clock is consulted; a power of two minus one. */
const CLOCK_CHECK_MASK = 1023;

/** Deterministic per-operation hash words (splitmix32), so runs are reproducible. */
function zobristWords(count: number): Uint32Array {
  const words = new Uint32Array(count);
  let seed = 0x2545f491;
  for (let index = 0; index < count; index++) {
    seed = (seed + 0x9e3779b9) | 0;
    let z = seed;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    words[index] = (z ^ (z >>> 16)) >>> 0;
  }
  return words;
}

export function searchPartition(
  input: readonly Operation[],
  initialValue: Value,
  options: SearchOptions,
): SearchOutcome {
  const relevant = input.filter(affectsSearch);
  if (relevant.length === 0) return { kind: "linearizable" };
  // Numbering (see state-cache.ts): operations of unknown outcome first, then, from the next
  // word boundary on, operations of known outcome in completion order. Slots between are empty.
  const unknown = relevant.filter((operation) => !Number.isFinite(operation.returnOrder));
  const definite = relevant
    .filter((operation) => Number.isFinite(operation.returnOrder))
    .sort((a, b) => a.returnOrder - b.returnOrder);
  const prefixWords = (unknown.length + 31) >>> 5;
  const firstDefinite = prefixWords * 32;
  const n = firstDefinite + definite.length;
  const operations: (Operation | undefined)[] = new Array(n);
  unknown.forEach((operation, index) => {
    operations[index] = operation;
  });
  definite.forEach((operation, index) => {
    operations[firstDefinite + index] = operation;
  });

  // Interned model states.
  const values = new ValueInterner();
  const intern = (value: Value): number => values.intern(value);
  const initialState = intern(initialValue);
  const nullState = values.nullId;

  const code = new Uint8Array(n);
  const valueId = new Int32Array(n);
  const expectedId = new Int32Array(n);
  const finite = new Uint8Array(n);
  const appendMemo: (Map<number, number> | undefined)[] = new Array(n);
  const appendPiece: (AppendPiece | undefined)[] = new Array(n);
  let definiteRemaining = 0;
  for (let k = 0; k < n; k++) {
    const operation = operations[k];
    if (operation === undefined) continue;
    valueId[k] = intern(operation.value);
    expectedId[k] = intern(operation.expected);
    switch (operation.kind) {
      case "read":
        code[k] = READ;
        break;
      case "write":
        code[k] = WRITE;
        break;
      case "delete":
        code[k] = DELETE;
        break;
      case "append":
        code[k] = APPEND;
        appendMemo[k] = new Map();
        appendPiece[k] =
          typeof operation.value === "string" ? values.piece(operation.value) : undefined;
        break;
      case "cas":
        code[k] =
          operation.outcome === "unknown"
            ? CAS_UNKNOWN
            : operation.swapped
              ? CAS_SWAPPED
              : CAS_NOT_SWAPPED;
        break;
    }
    if (Number.isFinite(operation.returnOrder)) {
      finite[k] = 1;
      definiteRemaining++;
    }
  }

  const step = (k: number, state: number): number => {
    switch (code[k]) {
      case READ:
        return state === valueId[k] ? state : -1;
      case WRITE:
        return valueId[k]!;
      case DELETE:
        return nullState;
      case CAS_SWAPPED:
        return state === expectedId[k] ? valueId[k]! : -1;
      case CAS_NOT_SWAPPED:
        return state === expectedId[k] ? -1 : state;
      case CAS_UNKNOWN:
        return state === expectedId[k] ? valueId[k]! : state;
      default: {
        const memo = appendMemo[k]!;
        let next = memo.get(state);
        if (next === undefined) {
          const piece = appendPiece[k];
          next = piece === undefined ? -1 : values.append(state, piece);
          memo.set(state, next);
        }
        return next;
      }
    }
  };

  // Entries: call of operation k is 2k, its return 2k+1; HEAD and TAIL are sentinels.
  const HEAD = 2 * n;
  const TAIL = 2 * n + 1;
  const order: number[] = [];
  for (let k = 0; k < n; k++) if (operations[k] !== undefined) order.push(2 * k, 2 * k + 1);
  const at = (entry: number): number => {
    const operation = operations[entry >> 1]!;
    return (entry & 1) === 0 ? operation.callOrder : operation.returnOrder;
  };
  order.sort((a, b) => {
    const ta = at(a);
    const tb = at(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    // Equal positions only happen among infinitely late returns; calls first keeps them valid.
    return (a & 1) - (b & 1) || a - b;
  });
  const next = new Int32Array(2 * n + 2);
  const prev = new Int32Array(2 * n + 2);
  let last = HEAD;
  for (const entry of order) {
    next[last] = entry;
    prev[entry] = last;
    last = entry;
  }
  next[last] = TAIL;
  prev[TAIL] = last;

  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const zobrist = zobristWords(n);
  const cache = new StateCache(prefixWords, options.maxCacheBytes);
  const stackOperation = new Int32Array(n);
  const stackState = new Int32Array(n);
  // Highest operation of known outcome linearized so far, per stack depth (-1: none).
  const stackHighest = new Int32Array(n + 1).fill(-1);
  // Lowest operation of known outcome not yet linearized; all below it are.
  let first = firstDefinite;
  const stackFirst = new Int32Array(n);
  let depth = 0;
  let bitsHash = 0;
  let state = initialState;
  // Longest prefix linearized so far, for explanations. Updated incrementally: only stack
  // positions at or above `changedFrom` can differ from the recorded best, so recording a new
  // best copies just those (copying the whole stack each time would be quadratic).
  const bestPrefix = new Int32Array(n);
  let bestDepth = 0;
  let bestState = initialState;
  let changedFrom = 0;
  let iterations = 0;
  let entry = next[HEAD]!;

  try {
    for (;;) {
      if (definiteRemaining === 0) return { kind: "linearizable" };
      if ((++iterations & CLOCK_CHECK_MASK) === 0 && performance.now() > options.deadline) {
        return { kind: "timeout" };
      }
      if ((entry & 1) === 0) {
        const k = entry >> 1;
        const nextState = step(k, state);
        if (nextState >= 0) {
          const word = k >>> 5;
          const bit = 1 << (k & 31);
          bits[word]! |= bit;
          const nextHash = (bitsHash ^ zobrist[k]!) >>> 0;
          const key = (nextHash ^ Math.imul(nextState + 1, 0x9e3779b1)) >>> 0;
          let nextFirst = first;
          if (k === first) {
            do nextFirst++;
            while (nextFirst < n && (bits[nextFirst >>> 5]! & (1 << (nextFirst & 31))) !== 0);
          }
          const highest = Math.max(stackHighest[depth]!, k >= firstDefinite ? k : -1);
          const lastWord = highest >= nextFirst ? highest >>> 5 : -1;
          if (cache.insert(bits, nextFirst, lastWord, nextState, key)) {
            stackOperation[depth] = k;
            stackState[depth] = state;
            stackFirst[depth] = first;
            depth++;
            stackHighest[depth] = highest;
            first = nextFirst;
            state = nextState;
            bitsHash = nextHash;
            if (finite[k] === 1) definiteRemaining--;
            // Lift the call and its return out of the list (they keep their own links for unlift).
            const ret = entry + 1;
            next[prev[entry]!] = next[entry]!;
            prev[next[entry]!] = prev[entry]!;
            next[prev[ret]!] = next[ret]!;
            prev[next[ret]!] = prev[ret]!;
            if (depth > bestDepth) {
              bestPrefix.set(stackOperation.subarray(changedFrom, depth), changedFrom);
              bestDepth = depth;
              bestState = state;
              changedFrom = depth;
            }
            entry = next[HEAD]!;
            continue;
          }
          bits[word]! &= ~bit;
        }
        entry = next[entry]!;
      } else {
        if (entry === TAIL)
          throw new Error("linearizability search invariant: walked off the list");
        // A completion is due whose operation could not be placed: undo the latest choice.
        if (depth === 0) {
          return {
            kind: "violation",
            prefix: Array.from(bestPrefix.subarray(0, bestDepth), (k) => operations[k]!),
            stateAfterPrefix: values.value(bestState),
          };
        }
        depth--;
        if (depth < changedFrom) changedFrom = depth;
        const k = stackOperation[depth]!;
        state = stackState[depth]!;
        first = stackFirst[depth]!;
        bits[k >>> 5]! &= ~(1 << (k & 31));
        bitsHash = (bitsHash ^ zobrist[k]!) >>> 0;
        if (finite[k] === 1) definiteRemaining++;
        const call = 2 * k;
        const ret = call + 1;
        next[prev[ret]!] = ret;
        prev[next[ret]!] = ret;
        next[prev[call]!] = call;
        prev[next[call]!] = call;
        entry = next[call]!;
      }
    }
  } catch (error) {
    if (error instanceof CacheLimitError) return { kind: "cache-limit", message: error.message };
    throw error;
  }
}
