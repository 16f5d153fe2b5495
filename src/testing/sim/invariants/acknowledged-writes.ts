// No acknowledged write is lost. A write is acknowledged when the node the client talked to has
// applied it (so it was committed) and told the client at which log index it took effect. From
// then on every state machine that reaches that index must hold the write at exactly that
// index: after applying, after a restart from a snapshot, after installing a snapshot, and at
// the end of the run, when every member must hold every acknowledged write.

import { InvariantViolation } from "./violation.ts";

/** What the checker needs to see of one node's state machine. */
export interface AppliedWritesView {
  readonly appliedIndex: number;
  /** Log index at which the write took effect in this state machine, if it did. */
  effectIndexOf(writeId: number): number | undefined;
}

export class AcknowledgedWritesChecker {
  private readonly ackedIndexOf = new Map<number, number>();
  private readonly ackedWriteAt = new Map<number, number>();

  get acknowledgedCount(): number {
    return this.ackedIndexOf.size;
  }

  /** The client was told that `writeId` took effect at `index`. */
  onAck(writeId: number, index: number): void {
    const known = this.ackedIndexOf.get(writeId);
    if (known !== undefined && known !== index) {
      throw new InvariantViolation(
        "acknowledged-writes",
        `write ${writeId} was acknowledged at index ${known} and again at index ${index}`,
      );
    }
    const other = this.ackedWriteAt.get(index);
    if (other !== undefined && other !== writeId) {
      throw new InvariantViolation(
        "acknowledged-writes",
        `writes ${other} and ${writeId} were both acknowledged at index ${index}`,
      );
    }
    this.ackedIndexOf.set(writeId, index);
    this.ackedWriteAt.set(index, writeId);
  }

  /** `node` just applied the entry at `state.appliedIndex`. */
  onApply(node: number, state: AppliedWritesView): void {
    const writeId = this.ackedWriteAt.get(state.appliedIndex);
    if (writeId !== undefined) this.expectAt(node, state, writeId, state.appliedIndex, "applying");
  }

  /** `node`'s state machine was rebuilt from a snapshot (restart or install). */
  onRestore(node: number, state: AppliedWritesView): void {
    for (const [writeId, index] of this.ackedIndexOf) {
      if (index <= state.appliedIndex)
        this.expectAt(node, state, writeId, index, "restoring a snapshot");
    }
  }

  /** End of run: a converged member must hold every acknowledged write. */
  checkFinal(node: number, state: AppliedWritesView): void {
    for (const [writeId, index] of this.ackedIndexOf) {
      if (index > state.appliedIndex) {
        throw new InvariantViolation(
          "acknowledged-writes",
          `at the end node ${node} has applied only up to ${state.appliedIndex}, ` +
            `missing acknowledged write ${writeId} at index ${index}`,
        );
      }
      this.expectAt(node, state, writeId, index, "the end of the run");
    }
  }

  private expectAt(
    node: number,
    state: AppliedWritesView,
    writeId: number,
    index: number,
    when: string,
  ): void {
    const actual = state.effectIndexOf(writeId);
    if (actual !== index) {
      throw new InvariantViolation(
        "acknowledged-writes",
        `acknowledged write ${writeId} (index ${index}) is ${actual === undefined ? "missing" : `at index ${actual}`} ` +
          `on node ${node} after ${when} (applied ${state.appliedIndex})`,
      );
    }
  }
}
