// Election safety (Raft paper, figure 3): at most one leader can be elected in a given term.
// The checker remembers who led each term it has seen; any second leader for that term, at any
// later time, is a violation (a stale leader that was never deposed counts too).

import { InvariantViolation } from "./violation.ts";

export class ElectionSafetyChecker {
  private readonly leaderOfTerm = new Map<number, number>();

  /** Call after every step for every node that currently believes it leads `term`. */
  observeLeader(node: number, term: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) {
      this.leaderOfTerm.set(term, node);
      return;
    }
    if (known !== node) {
      throw new InvariantViolation(
        "election-safety",
        `nodes ${known} and ${node} were both leader in term ${term}`,
      );
    }
  }

  leaderOf(term: number): number | undefined {
    return this.leaderOfTerm.get(term);
  }
}
