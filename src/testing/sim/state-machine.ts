// The replicated application the simulator runs on every node: a set of client writes, each
// identified by a unique write id, plus a digest of the whole applied history. Applying is
// deterministic and idempotent per write id (a retried write that was committed twice takes
// effect once, at its first index), which is what a real client session layer provides.

import { chainDigest, EMPTY_CHAIN_DIGEST } from "./digest.ts";
import type { AppliedWritesView } from "./invariants/acknowledged-writes.ts";
import type { LogEntry } from "./invariants/log-matching.ts";

const WRITE_BYTES = 8;
const SNAPSHOT_MAGIC = 0x51a7e;
const HEADER_WORDS = 4;

/** Entry payload of a client write: write id and client id, 4 bytes each. */
export function encodeWrite(writeId: number, clientId: number): Uint8Array {
  const bytes = new Uint8Array(WRITE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, writeId);
  view.setUint32(4, clientId);
  return bytes;
}

/** The write id in a normal entry's data, or undefined for the leader's empty no-op. */
export function decodeWriteId(data: Uint8Array): number | undefined {
  if (data.byteLength === 0) return undefined;
  if (data.byteLength !== WRITE_BYTES) {
    throw new Error(`normal entry of ${data.byteLength} bytes is not a simulator write`);
  }
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

export class SimStateMachine implements AppliedWritesView {
  appliedIndex = 0;
  /** Chain digest of every entry applied so far (equals the log's prefix digest). */
  digest = EMPTY_CHAIN_DIGEST;
  private readonly effectIndex = new Map<number, number>();

  effectIndexOf(writeId: number): number | undefined {
    return this.effectIndex.get(writeId);
  }

  get writeCount(): number {
    return this.effectIndex.size;
  }

  /** Applies the next committed entry; returns the write id it carries, if any. */
  apply(entry: LogEntry): number | undefined {
    if (entry.index !== this.appliedIndex + 1) {
      throw new Error(
        `apply(${entry.index}) after ${this.appliedIndex}: entries must come in order`,
      );
    }
    this.appliedIndex = entry.index;
    this.digest = chainDigest(this.digest, entry);
    if (entry.type !== "normal") return undefined;
    const writeId = decodeWriteId(entry.data);
    if (writeId !== undefined && !this.effectIndex.has(writeId)) {
      this.effectIndex.set(writeId, entry.index);
    }
    return writeId;
  }

  /** The whole state as snapshot data. */
  encode(): Uint8Array {
    const words = new Float64Array(HEADER_WORDS + 2 * this.effectIndex.size);
    words[0] = SNAPSHOT_MAGIC;
    words[1] = this.appliedIndex;
    words[2] = this.digest;
    words[3] = this.effectIndex.size;
    let at = HEADER_WORDS;
    for (const [writeId, index] of this.effectIndex) {
      words[at++] = writeId;
      words[at++] = index;
    }
    return new Uint8Array(words.buffer);
  }

  /** State from snapshot data; empty data is the bootstrap snapshot at index 0. */
  static decode(data: Uint8Array): SimStateMachine {
    const machine = new SimStateMachine();
    if (data.byteLength === 0) return machine;
    if (data.byteLength % 8 !== 0)
      throw new Error(`snapshot data of ${data.byteLength} bytes is corrupt`);
    const words = new Float64Array(data.slice().buffer);
    if (words[0] !== SNAPSHOT_MAGIC || words.length !== HEADER_WORDS + 2 * words[3]!) {
      throw new Error("snapshot data is not a simulator state machine image");
    }
    machine.appliedIndex = words[1]!;
    machine.digest = words[2]!;
    for (let at = HEADER_WORDS; at < words.length; at += 2) {
      machine.effectIndex.set(words[at]!, words[at + 1]!);
    }
    return machine;
  }
}
