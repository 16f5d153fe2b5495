// Leader completeness (Raft paper, figure 3): if an entry is committed in a given term, it is
// present in the logs of the leaders of all higher terms.
//
// Commit knowledge comes from the nodes themselves: a node in term T that reports commit index
// c has been told by the leader of T (or is that leader) that the prefix up to c is committed,
// so that prefix must be in the log of every leader of a term >= T. The checker keeps the
// committed prefix digests and, after every step, checks each current leader against the
// highest commit index reported in its term or any earlier one. Nodes reporting a commit index
// must also agree on what the committed prefix is.

import { formatDigest } from "../digest.ts";
import type { LogView } from "./log-matching.ts";
import { InvariantViolation } from "./violation.ts";

export class LeaderCompletenessChecker {
  /** committed[i] = prefix digest of the committed log at index i (undefined if never learned). */
  private readonly committed: (number | undefined)[] = [0];
  private maxCommitted = 0;
  /** term -> highest commit index reported by a node while in that term. */
  private readonly highestCommitByTerm = new Map<number, number>();
  private cachedTerm = -1;
  private cachedRequired = 0;

  get committedIndex(): number {
    return this.maxCommitted;
  }

  /** Prefix digest of the committed log at `index`, if known. */
  committedDigestAt(index: number): number | undefined {
    return this.committed[index];
  }

  /** `node`, in `term`, reports commit index `commitIndex`; `log` is its durable log. */
  onCommit(node: number, term: number, commitIndex: number, log: LogView): void {
    if (commitIndex > log.lastIndex) {
      throw new InvariantViolation(
        "ready-contract",
        `node ${node} reports commit ${commitIndex} beyond its persisted last index ${log.lastIndex}`,
      );
    }
    // Agreement with what is already known committed: one comparison at the highest common
    // index covers the whole prefix (chain digests).
    const common = Math.min(commitIndex, this.maxCommitted);
    if (common >= log.firstKnownIndex) {
      const expected = this.committed[common];
      const actual = log.digestAt(common);
      if (expected !== undefined && actual !== expected) {
        throw new InvariantViolation(
          "leader-completeness",
          `node ${node} (term ${term}) treats index ${common} as committed with prefix ` +
            `${formatDigest(actual ?? 0)}, but the committed prefix there is ${formatDigest(expected)}`,
        );
      }
    }
    for (
      let index = Math.max(this.maxCommitted + 1, log.firstKnownIndex);
      index <= commitIndex;
      index++
    ) {
      this.committed[index] = log.digestAt(index);
    }
    if (commitIndex > this.maxCommitted) this.maxCommitted = commitIndex;
    const previous = this.highestCommitByTerm.get(term) ?? 0;
    if (commitIndex > previous) {
      this.highestCommitByTerm.set(term, commitIndex);
      this.cachedTerm = -1;
    }
  }

  /** `node` currently leads `term`: its log must hold every entry committed in terms <= term. */
  checkLeader(node: number, term: number, log: LogView): void {
    const required = this.requiredIndex(term);
    if (required === 0) return;
    if (log.lastIndex < required) {
      throw new InvariantViolation(
        "leader-completeness",
        `leader ${node} of term ${term} lacks committed index ${required} (its last index is ${log.lastIndex})`,
      );
    }
    // A leader whose snapshot lies beyond `required` is compared at its snapshot point.
    const at = Math.max(required, log.firstKnownIndex);
    const expected = this.committed[at];
    if (expected === undefined) return;
    const actual = log.digestAt(at);
    if (actual !== expected) {
      throw new InvariantViolation(
        "leader-completeness",
        `leader ${node} of term ${term} holds a different prefix at committed index ${at}: ` +
          `${formatDigest(actual ?? 0)} instead of ${formatDigest(expected)}`,
      );
    }
  }

  private requiredIndex(term: number): number {
    if (term === this.cachedTerm) return this.cachedRequired;
    let required = 0;
    for (const [commitTerm, index] of this.highestCommitByTerm) {
      if (commitTerm <= term && index > required) required = index;
    }
    this.cachedTerm = term;
    this.cachedRequired = required;
    return required;
  }
}
