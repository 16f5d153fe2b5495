// Reads are linearizable with respect to the log order. Every completed operation has a log
// position: a write the index where it took effect, a read the applied index of the state it
// returned. A read must return the committed prefix ending at its position (nothing that was
// not committed), and that position must be at least the position of every operation that had
// completed before the read was invoked (so it sees every acknowledged write and never goes
// back behind an earlier read). A retried read keeps its first invocation's bound, which is
// the weaker (and correct) one.

import { formatDigest } from "../digest.ts";
import { InvariantViolation } from "./violation.ts";

export class ReadConsistencyChecker {
  /** Highest log position of any operation completed so far. */
  private lastCompletedIndex = 0;
  private readonly requiredIndexOf = new Map<number, number>();

  get pendingReads(): number {
    return this.requiredIndexOf.size;
  }

  onWriteAck(index: number): void {
    if (index > this.lastCompletedIndex) this.lastCompletedIndex = index;
  }

  onReadInvoke(readId: number): void {
    if (this.requiredIndexOf.has(readId)) throw new Error(`read ${readId} invoked twice`);
    this.requiredIndexOf.set(readId, this.lastCompletedIndex);
  }

  /**
   * Read `readId` returned the state at `servedIndex` whose applied-history digest is
   * `servedDigest`; `committedDigestAt` gives the committed log's prefix digest, if known.
   */
  onReadResult(
    readId: number,
    servedIndex: number,
    servedDigest: number,
    committedDigestAt: (index: number) => number | undefined,
  ): void {
    const required = this.requiredIndexOf.get(readId);
    if (required === undefined) throw new Error(`read ${readId} completed without an invocation`);
    this.requiredIndexOf.delete(readId);
    if (servedIndex < required) {
      throw new InvariantViolation(
        "read-consistency",
        `read ${readId} returned the state at index ${servedIndex}, but an operation at index ` +
          `${required} had completed before the read was invoked (stale read)`,
      );
    }
    const committed = committedDigestAt(servedIndex);
    if (committed === undefined) {
      throw new InvariantViolation(
        "read-consistency",
        `read ${readId} returned the state at index ${servedIndex}, which is not known to be committed`,
      );
    }
    if (committed !== servedDigest) {
      throw new InvariantViolation(
        "read-consistency",
        `read ${readId} returned a state at index ${servedIndex} (${formatDigest(servedDigest)}) ` +
          `that differs from the committed log there (${formatDigest(committed)})`,
      );
    }
    if (servedIndex > this.lastCompletedIndex) this.lastCompletedIndex = servedIndex;
  }
}
