// State machine safety (Raft paper, figure 3): if a server has applied a log entry at a given
// index, no other server ever applies a different log entry for the same index. Each node must
// also apply in order, one index after the other, and a snapshot may never move a running
// state machine backwards.
//
// The state machine keeps a chain digest of everything it applied, so comparing the digest at
// an index compares the whole applied history up to it.

import { formatDigest } from "../digest.ts";
import { InvariantViolation } from "./violation.ts";

export class StateMachineSafetyChecker {
  /** appliedAt[i] = applied-history digest at index i, the first time any node applied i. */
  private readonly appliedAt: (number | undefined)[] = [0];
  private readonly lastApplied = new Map<number, number>();

  /** Digest of the applied history at `index`, if some node has applied it. */
  appliedDigestAt(index: number): number | undefined {
    return this.appliedAt[index];
  }

  /**
   * The node's state machine was (re)built from a snapshot ending at `index`: on restart after a
   * crash (`install` false; volatile state is gone, so it may go backwards) or by installing a
   * snapshot received from the leader (`install` true; must not go backwards).
   */
  onRestore(node: number, index: number, digest: number, install: boolean): void {
    const previous = this.lastApplied.get(node) ?? 0;
    if (install && index < previous) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} installed a snapshot at index ${index} over a state machine already at ${previous}`,
      );
    }
    this.compare(node, index, digest);
    this.lastApplied.set(node, index);
  }

  /** The node applied the entry at `index`; `digest` is its applied-history digest afterwards. */
  onApply(node: number, index: number, digest: number): void {
    const previous = this.lastApplied.get(node) ?? 0;
    if (index !== previous + 1) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} applied index ${index} right after index ${previous} (gap or repeat)`,
      );
    }
    this.compare(node, index, digest);
    this.lastApplied.set(node, index);
  }

  private compare(node: number, index: number, digest: number): void {
    const known = this.appliedAt[index];
    if (known === undefined) {
      this.appliedAt[index] = digest;
    } else if (known !== digest) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} applied a different history at index ${index}: ${formatDigest(digest)} ` +
          `where another node applied ${formatDigest(known)}`,
      );
    }
  }
}
