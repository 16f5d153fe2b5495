// Model states as small integers. The search compares states by id, so equal values must get
// equal ids, and building a value by appending must not cost time proportional to its length:
// map histories append to the same key thousands of times, and the search reaches tens of
// thousands of distinct strings per key. Strings are therefore found by a polynomial hash that
// extends in O(1) on append (h(s + v) = h(s)·B^|v| + h(v) mod 2^32); only a hash match is
// confirmed by comparing the strings. New strings stay as the engine's concatenations, which
// share their prefix instead of copying it.
import type { Value } from "./types.ts";

const BASE = 0x01000193;

function stringHash(text: string): number {
  let hash = 0;
  for (let index = 0; index < text.length; index++) {
    hash = (Math.imul(hash, BASE) + text.charCodeAt(index)) | 0;
  }
  return hash;
}

function basePower(exponent: number): number {
  let result = 1;
  let base = BASE;
  let remaining = exponent;
  while (remaining > 0) {
    if (remaining & 1) result = Math.imul(result, base);
    base = Math.imul(base, base);
    remaining >>>= 1;
  }
  return result;
}

/** An append operand prepared once: its text, hash, and B^length. */
export interface AppendPiece {
  readonly text: string;
  readonly hash: number;
  readonly power: number;
}

export class ValueInterner {
  private readonly values: Value[] = [];
  /** For string ids: their hash; 0 otherwise. */
  private readonly hashes: number[] = [];
  private readonly stringIds = new Map<number, number | number[]>();
  private readonly numberIds = new Map<number, number>();
  readonly nullId: number;

  constructor() {
    this.nullId = this.add(null, 0);
  }

  get size(): number {
    return this.values.length;
  }

  value(id: number): Value {
    return this.values[id]!;
  }

  intern(value: Value): number {
    if (value === null) return this.nullId;
    if (typeof value === "number") {
      let id = this.numberIds.get(value);
      if (id === undefined) {
        id = this.add(value, 0);
        this.numberIds.set(value, id);
      }
      return id;
    }
    return this.internString(value, stringHash(value));
  }

  piece(text: string): AppendPiece {
    return { text, hash: stringHash(text), power: basePower(text.length) };
  }

  /** The id of `value(id) + piece`, treating absent as ""; -1 when the value is a number. */
  append(id: number, piece: AppendPiece): number {
    const current = this.values[id]!;
    if (typeof current === "number") return -1;
    const base = current ?? "";
    const hash = (Math.imul(current === null ? 0 : this.hashes[id]!, piece.power) + piece.hash) | 0;
    return this.internString(base + piece.text, hash);
  }

  private internString(text: string, hash: number): number {
    const found = this.stringIds.get(hash);
    if (found === undefined) {
      const id = this.add(text, hash);
      this.stringIds.set(hash, id);
      return id;
    }
    if (typeof found === "number") {
      if (this.values[found] === text) return found;
      const id = this.add(text, hash);
      this.stringIds.set(hash, [found, id]);
      return id;
    }
    for (const candidate of found) if (this.values[candidate] === text) return candidate;
    const id = this.add(text, hash);
    found.push(id);
    return id;
  }

  private add(value: Value, hash: number): number {
    this.values.push(value);
    this.hashes.push(hash);
    return this.values.length - 1;
  }
}
