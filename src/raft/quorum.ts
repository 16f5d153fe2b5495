// Majority math over one set of voters. Single-server membership changes mean the core never
// needs joint quorums: every decision is taken by a majority of the current voter set.

import type { NodeId } from "./types.ts";

export type VoteResult = "won" | "lost" | "pending";

/** Members needed for a majority of `voterCount` voters. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters has matched. `scratch` is reused to avoid an
 * allocation per acknowledgement on the leader's hot path.
 */
export function committedIndex(
  voters: readonly NodeId[],
  matchOf: (id: NodeId) => number,
  scratch: number[],
): number {
  const n = voters.length;
  if (n === 0) return 0;
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = matchOf(voters[i]!);
  // Insertion sort, descending: voter sets are tiny (3..7), faster than Array.sort's callback.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!;
    let j = i - 1;
    while (j >= 0 && scratch[j]! < v) {
      scratch[j + 1] = scratch[j]!;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[majority(n) - 1]!;
}

/** Outcome of an election given the votes received so far (true = granted). */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return "won";
  if (voters.length - rejected < need) return "lost";
  return "pending";
}

/** Whether the members in `active` (plus none else) form a majority of `voters`. */
export function isQuorum(voters: readonly NodeId[], isActive: (id: NodeId) => boolean): boolean {
  let active = 0;
  for (const id of voters) if (isActive(id)) active++;
  return active >= majority(voters.length);
}
