// The operator: membership changes through the core's one-at-a-time rules. It cycles
//   add a non-member as learner -> promote it -> remove a voter (any, the leader included)
// so over a run nodes are added, promoted, removed and re-added. A removed node is shut down
// (its disk kept); re-adding it restarts it over that disk. Refusals (CONF_CHANGE_PENDING,
// LEARNER_NOT_CAUGHT_UP, no leader, ...) are retried later, as an operator's tool would.
//
// What counts is the committed membership: the configuration after the highest index any node
// has applied (state machine safety makes that one sequence).

import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  RaftError,
  type RaftErrorCode,
} from "../../raft/index.ts";
import type { Cluster, SimNode } from "./cluster.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimEvent } from "./events.ts";
import type { Prng } from "./prng.ts";
import { UNITS_PER_TICK } from "./scenario.ts";
import type { Trace } from "./trace.ts";
import { isRetryable } from "./workload.ts";

const ADMIN_RETRYABLE: ReadonlySet<RaftErrorCode> = new Set<RaftErrorCode>([
  "CONF_CHANGE_PENDING",
  "LEARNER_NOT_CAUGHT_UP",
]);

interface PendingChange {
  readonly change: ConfChange;
  attempt: number;
}

export function describeChange(change: ConfChange): string {
  return `${change.type} n${change.nodeId}`;
}

/** The configuration after `change`, or undefined when the change does not apply to `conf`. */
export function nextConf(conf: ConfState, change: ConfChange): ConfState | undefined {
  const id = change.nodeId;
  const voter = conf.voters.includes(id);
  const learner = conf.learners.includes(id);
  switch (change.type) {
    case "add-learner":
      return voter || learner
        ? undefined
        : { voters: conf.voters, learners: [...conf.learners, id] };
    case "add-voter":
      return voter || learner
        ? undefined
        : { voters: [...conf.voters, id], learners: conf.learners };
    case "promote-learner":
      return learner
        ? { voters: [...conf.voters, id], learners: conf.learners.filter((x) => x !== id) }
        : undefined;
    case "remove-node":
      return voter || learner
        ? {
            voters: conf.voters.filter((x) => x !== id),
            learners: conf.learners.filter((x) => x !== id),
          }
        : undefined;
  }
}

export class MembershipAdmin {
  committedConf: ConfState;
  /** Highest log index applied by any node. */
  private highestApplied = 0;
  private pending: PendingChange | undefined;
  private token = 0;
  private active: boolean;
  changesCommitted = 0;
  /** Nodes shut down because they were removed (disk kept for a re-add). */
  readonly retired = new Set<number>();
  private readonly cluster: Cluster;
  private readonly queue: EventQueue<SimEvent>;
  private readonly prng: Prng;
  private readonly trace: Trace;
  private readonly votersWanted: number;
  private readonly timeoutUnits: number;
  private readonly addVoterProbability: number;

  constructor(options: {
    cluster: Cluster;
    queue: EventQueue<SimEvent>;
    prng: Prng;
    trace: Trace;
    initialVoters: readonly number[];
    enabled: boolean;
    electionTimeoutTicks: number;
    addVoterProbability: number;
  }) {
    this.addVoterProbability = options.addVoterProbability;
    this.cluster = options.cluster;
    this.queue = options.queue;
    this.prng = options.prng;
    this.trace = options.trace;
    this.committedConf = { voters: [...options.initialVoters], learners: [] };
    this.votersWanted = options.initialVoters.length;
    this.active = options.enabled;
    this.timeoutUnits = 6 * options.electionTimeoutTicks * UNITS_PER_TICK;
    if (this.active) this.schedule(this.prng.range(20, 80) * UNITS_PER_TICK);
  }

  /** Liveness phase: no new changes; a pending one must still finish. */
  stopStarting(): void {
    this.active = false;
  }

  pendingDescription(): string | undefined {
    const pending = this.pending;
    return pending === undefined
      ? undefined
      : `membership ${describeChange(pending.change)} (attempt ${pending.attempt})`;
  }

  isMember(id: number): boolean {
    return this.committedConf.voters.includes(id) || this.committedConf.learners.includes(id);
  }

  onEvent(token: number): void {
    if (token !== this.token) return;
    if (this.pending === undefined) {
      if (!this.active) return;
      const change = this.chooseChange();
      if (change === undefined) return;
      this.pending = { change, attempt: 0 };
    } else if (this.isDone(this.pending.change)) {
      this.finish();
      return;
    }
    this.propose(this.pending);
  }

  private chooseChange(): ConfChange | undefined {
    const conf = this.committedConf;
    const learner = conf.learners[0];
    if (learner !== undefined) return { type: "promote-learner", nodeId: learner };
    if (conf.voters.length > this.votersWanted) {
      // Back to the wanted size: remove any voter, the leader included.
      return { type: "remove-node", nodeId: this.prng.pick(conf.voters) };
    }
    const outsiders = [...this.cluster.nodes.keys()].filter((id) => !this.isMember(id));
    if (outsiders.length === 0) return undefined;
    const nodeId = this.prng.pick(outsiders);
    return this.prng.chance(this.addVoterProbability)
      ? { type: "add-voter", nodeId }
      : { type: "add-learner", nodeId };
  }

  private propose(pending: PendingChange): void {
    const running = this.cluster.runningNodes();
    pending.attempt++;
    this.schedule(this.timeoutUnits);
    if (running.length === 0) return;
    const node = this.prng.pick(running);
    if (node.isPaused(this.cluster.now)) return; // no answer: the timeout retries
    try {
      node.raft!.proposeConfChange(pending.change);
      this.trace.record(
        this.cluster.now,
        "conf",
        node.id,
        pending.attempt,
        0,
        0,
        0,
        0,
        0,
        `propose ${describeChange(pending.change)}`,
      );
    } catch (error) {
      if (error instanceof RaftError && error.code === "INVALID_CONF_CHANGE") {
        // The committed membership moved on (e.g. an earlier attempt took effect): re-plan.
        this.trace.record(
          this.cluster.now,
          "conf",
          node.id,
          0,
          0,
          0,
          0,
          0,
          0,
          `${describeChange(pending.change)} refused: ${error.code}`,
        );
        this.pending = undefined;
        this.schedule(this.prng.range(5, 20) * UNITS_PER_TICK);
        return;
      }
      if (!isRetryable(error) && !(error instanceof RaftError && ADMIN_RETRYABLE.has(error.code)))
        throw error;
      this.trace.record(
        this.cluster.now,
        "conf",
        node.id,
        0,
        0,
        0,
        0,
        0,
        0,
        `${describeChange(pending.change)} refused: ${error.code}`,
      );
      this.schedule(this.prng.range(3, 15) * UNITS_PER_TICK);
      return;
    }
    this.cluster.drain(node);
  }

  /** Cluster hook: tracks the committed membership from applied conf-change entries. */
  onApplied(_node: SimNode, entry: Entry): void {
    if (entry.index <= this.highestApplied) return;
    this.highestApplied = entry.index;
    if (entry.type !== "conf-change") return;
    const change = decodeConfChange(entry.data);
    const next = nextConf(this.committedConf, change);
    if (next === undefined) return; // the core ignores a change that no longer applies
    this.committedConf = next;
    this.changesCommitted++;
    this.trace.record(
      this.cluster.now,
      "conf",
      change.nodeId,
      0,
      0,
      0,
      0,
      0,
      0,
      `committed ${describeChange(change)}`,
    );
    const target = this.cluster.node(change.nodeId);
    if (change.type === "remove-node") {
      // The operator shuts the removed machine down (its disk stays for a later re-add).
      this.retired.add(change.nodeId);
      if (target.running) {
        this.queue.push(this.cluster.now + 1, {
          kind: "shutdown",
          node: target.id,
          incarnation: target.incarnation,
        });
      }
    } else if (change.type === "add-learner" || change.type === "add-voter") {
      this.retired.delete(change.nodeId);
      if (!target.running) this.cluster.start(change.nodeId);
    }
    if (this.pending !== undefined && this.isDone(this.pending.change)) this.finish();
  }

  private isDone(change: ConfChange): boolean {
    const conf = this.committedConf;
    const id = change.nodeId;
    switch (change.type) {
      case "add-learner":
        return conf.learners.includes(id) || conf.voters.includes(id);
      case "add-voter":
      case "promote-learner":
        return conf.voters.includes(id);
      case "remove-node":
        return !this.isMember(id);
    }
  }

  private finish(): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      this.trace.record(
        this.cluster.now,
        "conf",
        pending.change.nodeId,
        0,
        0,
        0,
        0,
        0,
        0,
        `done ${describeChange(pending.change)}`,
      );
    }
    this.schedule(this.prng.range(10, 60) * UNITS_PER_TICK);
  }

  private schedule(delayUnits: number): void {
    this.token++;
    this.queue.push(this.cluster.now + delayUnits, { kind: "admin", token: this.token });
  }
}
