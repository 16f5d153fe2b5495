// Log matching (Raft paper, figure 3): if two logs contain an entry with the same index and
// term, the logs are identical in all entries up through that index.
//
// The checker mirrors every node's durable log as chain digests (digest of the whole prefix
// ending at each index), so "identical prefix" is one comparison. It also remembers, for every
// (index, term) ever persisted anywhere, the prefix digest it had: Raft's leaders only append,
// so an (index, term) pair names one prefix for the whole run, not only at one instant. Terms
// must also never decrease along a log.

import { chainDigest, EMPTY_CHAIN_DIGEST, formatDigest } from "../digest.ts";
import { InvariantViolation } from "./violation.ts";

/** The parts of a core log entry the checker looks at (structurally a subset of the core's Entry). */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly type: "normal" | "conf-change";
  readonly data: Uint8Array;
}

/** Read access to one node's mirrored durable log. */
export interface LogView {
  /** Lowest index whose prefix digest is known (the last snapshot index, or 0). */
  readonly firstKnownIndex: number;
  readonly lastIndex: number;
  /** Prefix digest at `index`, or undefined outside [firstKnownIndex, lastIndex]. */
  digestAt(index: number): number | undefined;
  termAt(index: number): number | undefined;
}

const TERM_LIMIT = 1 << 22;

class NodeLog implements LogView {
  firstKnownIndex = 0;
  /** digests[i] and terms[i] describe index firstKnownIndex + i. */
  digests: number[] = [EMPTY_CHAIN_DIGEST];
  terms: number[] = [0];

  get lastIndex(): number {
    return this.firstKnownIndex + this.digests.length - 1;
  }

  digestAt(index: number): number | undefined {
    return index < this.firstKnownIndex ? undefined : this.digests[index - this.firstKnownIndex];
  }

  termAt(index: number): number | undefined {
    return index < this.firstKnownIndex ? undefined : this.terms[index - this.firstKnownIndex];
  }
}

export class LogMatchingChecker {
  /** (index, term) -> prefix digest, for every entry ever persisted by any node. */
  private readonly seen = new Map<number, number>();
  private readonly logs = new Map<number, NodeLog>();

  log(node: number): LogView {
    return this.nodeLog(node);
  }

  /** The node's durable log was replaced by a snapshot ending at (index, term) with this prefix digest. */
  resetToSnapshot(node: number, index: number, term: number, digest: number): void {
    this.register(node, index, term, digest);
    const log = this.nodeLog(node);
    log.firstKnownIndex = index;
    log.digests = [digest];
    log.terms = [term];
  }

  /** The node persisted `entries` (an entry at an existing index replaces it and all after it). */
  append(node: number, entries: readonly LogEntry[]): void {
    const log = this.nodeLog(node);
    for (const entry of entries) {
      if (entry.index <= log.firstKnownIndex) continue; // covered by the snapshot already
      if (entry.index > log.lastIndex + 1) {
        throw new InvariantViolation(
          "ready-contract",
          `node ${node} was asked to persist index ${entry.index} after its last index ${log.lastIndex} (gap)`,
        );
      }
      const keep = entry.index - log.firstKnownIndex;
      log.digests.length = keep;
      log.terms.length = keep;
      const previousTerm = log.terms[keep - 1]!;
      if (entry.term < previousTerm) {
        throw new InvariantViolation(
          "log-matching",
          `node ${node}: entry ${entry.index} has term ${entry.term}, lower than term ${previousTerm} before it`,
        );
      }
      const digest = chainDigest(log.digests[keep - 1]!, entry);
      log.digests.push(digest);
      log.terms.push(entry.term);
      this.register(node, entry.index, entry.term, digest);
    }
  }

  private register(node: number, index: number, term: number, digest: number): void {
    if (!(term >= 0 && term < TERM_LIMIT)) {
      throw new RangeError(`term ${term} outside the checker's range [0, ${TERM_LIMIT})`);
    }
    const key = index * TERM_LIMIT + term;
    const known = this.seen.get(key);
    if (known === undefined) {
      this.seen.set(key, digest);
    } else if (known !== digest) {
      throw new InvariantViolation(
        "log-matching",
        `node ${node} holds (index ${index}, term ${term}) with prefix ${formatDigest(digest)}, ` +
          `but that index and term were seen earlier with prefix ${formatDigest(known)}`,
      );
    }
  }

  private nodeLog(node: number): NodeLog {
    let log = this.logs.get(node);
    if (log === undefined) {
      log = new NodeLog();
      this.logs.set(node, log);
    }
    return log;
  }
}
