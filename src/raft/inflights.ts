// The pipelining window of one follower: append messages sent but not yet acknowledged, bounded
// by count and by payload bytes. A ring buffer, so the hot path allocates nothing.

import { RaftError } from "./types.ts";

export class Inflights {
  /** Last entry index of each message in flight, oldest first (ring buffer). */
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private countValue = 0;
  private bytesValue = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    this.indexes = new Array<number>(maxMessages).fill(0);
    this.sizes = new Array<number>(maxMessages).fill(0);
  }

  get count(): number {
    return this.countValue;
  }

  get bytes(): number {
    return this.bytesValue;
  }

  /** Full by count, or by bytes: the leader must wait for acknowledgements before sending more. */
  full(): boolean {
    return this.countValue === this.maxMessages || this.bytesValue >= this.maxBytes;
  }

  add(lastIndex: number, sizeBytes: number): void {
    if (this.countValue === this.maxMessages) {
      throw new RaftError("INVARIANT", "inflight window overflow: add() called while full");
    }
    const last =
      this.countValue > 0
        ? this.indexes[(this.start + this.countValue - 1) % this.maxMessages]!
        : 0;
    if (lastIndex < last) {
      throw new RaftError(
        "INVARIANT",
        `inflight indexes must not decrease: ${lastIndex} after ${last}`,
      );
    }
    const slot = (this.start + this.countValue) % this.maxMessages;
    this.indexes[slot] = lastIndex;
    this.sizes[slot] = sizeBytes;
    this.countValue++;
    this.bytesValue += sizeBytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.countValue > 0) {
      const slot = this.start;
      if (this.indexes[slot]! > index) break;
      this.bytesValue -= this.sizes[slot]!;
      this.start = (slot + 1) % this.maxMessages;
      this.countValue--;
    }
    if (this.countValue === 0) this.start = 0;
  }

  /** Frees the oldest message: a heartbeat response shows the follower is alive, so allow one more. */
  freeFirstOne(): void {
    if (this.countValue === 0) return;
    const slot = this.start;
    this.freeLE(this.indexes[slot]!);
  }

  reset(): void {
    this.start = 0;
    this.countValue = 0;
    this.bytesValue = 0;
  }
}
