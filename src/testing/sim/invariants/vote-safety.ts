// One vote per term (Raft paper, figure 2: "votedFor" is persistent state): a node never grants
// its vote to two different candidates in one term, and its persisted term never goes back.
// Election safety rests on this; a node that forgets its vote across a crash (a hard state that
// was not really fsynced) can hand a second candidate the majority it needs. The checker keeps
// its own record of what each node persisted, so it survives the node's crashes.

import { InvariantViolation } from "./violation.ts";

interface Persisted {
  term: number;
  /** The node's vote in `term`, 0 while it has not voted. */
  vote: number;
}

export class VoteSafetyChecker {
  private readonly persisted = new Map<number, Persisted>();

  /** `node` persisted hard state (term, vote). */
  onHardState(node: number, term: number, vote: number): void {
    const known = this.persisted.get(node);
    if (known === undefined) {
      this.persisted.set(node, { term, vote });
      return;
    }
    if (term < known.term) {
      throw new InvariantViolation(
        "vote-safety",
        `node ${node} persisted term ${term} after it had persisted term ${known.term}`,
      );
    }
    if (term > known.term) {
      known.term = term;
      known.vote = vote;
      return;
    }
    if (vote === 0 || vote === known.vote) return;
    if (known.vote !== 0) {
      throw new InvariantViolation(
        "vote-safety",
        `node ${node} voted for ${known.vote} and then for ${vote} in term ${term}`,
      );
    }
    known.vote = vote;
  }
}
