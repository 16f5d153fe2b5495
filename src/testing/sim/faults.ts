// The fault schedule of the safety phase, drawn from the seed: every few ticks one action on
// the network (symmetric and one-way partitions, isolating the leader, bridge topologies,
// loss and duplication, healing) or on the nodes (crashes at any point of Ready handling,
// restarts, leadership transfers, spurious early-failover hints). `healAll` ends the phase.

import { RaftError } from "../../raft/index.ts";
import type { Cluster, CrashPoint } from "./cluster.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimEvent } from "./events.ts";
import type { MembershipAdmin } from "./membership.ts";
import { type Network, NO_LOSS } from "./network.ts";
import type { Prng } from "./prng.ts";
import { type Scenario, UNITS_PER_TICK } from "./scenario.ts";
import type { Trace } from "./trace.ts";

type FaultAction =
  | "partition"
  | "one-way"
  | "isolate-leader"
  | "bridge"
  | "heal"
  | "loss-on"
  | "loss-off"
  | "crash"
  | "crash-leader"
  | "restart"
  | "transfer"
  | "leader-lost-hint"
  | "campaign"
  | "spurious-unreachable"
  | "pause"
  | "pause-leader";

/** Relative weights: crashes and partitions dominate, healing keeps the cluster making progress. */
const WEIGHTS: readonly (readonly [FaultAction, number])[] = [
  ["partition", 3],
  ["one-way", 2],
  ["isolate-leader", 2],
  ["bridge", 2],
  ["heal", 5],
  ["loss-on", 2],
  ["loss-off", 2],
  ["crash", 3],
  ["crash-leader", 2],
  ["restart", 2],
  ["transfer", 3],
  ["leader-lost-hint", 1],
  ["campaign", 1],
  ["spurious-unreachable", 1],
  ["pause", 1],
  ["pause-leader", 1],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
const CRASH_POINTS: readonly (CrashPoint | "now")[] = ["now", "after-persist", "after-send"];

export interface FaultStats {
  faultActions: number;
  partitionsInjected: number;
  crashesInjected: number;
  transfersRequested: number;
}

export class FaultInjector {
  readonly stats: FaultStats = {
    faultActions: 0,
    partitionsInjected: 0,
    crashesInjected: 0,
    transfersRequested: 0,
  };
  private readonly cluster: Cluster;
  private readonly network: Network;
  private readonly queue: EventQueue<SimEvent>;
  private readonly prng: Prng;
  private readonly trace: Trace;
  private readonly scenario: Scenario;
  private readonly admin: MembershipAdmin;

  constructor(options: {
    cluster: Cluster;
    network: Network;
    queue: EventQueue<SimEvent>;
    prng: Prng;
    trace: Trace;
    scenario: Scenario;
    admin: MembershipAdmin;
  }) {
    this.cluster = options.cluster;
    this.network = options.network;
    this.queue = options.queue;
    this.prng = options.prng;
    this.trace = options.trace;
    this.scenario = options.scenario;
    this.admin = options.admin;
  }

  /** One fault decision: usually one action, sometimes a burst of two to four at once. */
  act(): void {
    const actions = this.prng.chance(0.15) ? this.prng.range(2, 4) : 1;
    for (let i = 0; i < actions; i++) this.actOnce();
  }

  private actOnce(): void {
    let roll = this.prng.int(TOTAL_WEIGHT);
    let action: FaultAction = "heal";
    for (const [name, weight] of WEIGHTS) {
      if (roll < weight) {
        action = name;
        break;
      }
      roll -= weight;
    }
    this.stats.faultActions++;
    this.perform(action);
  }

  /** End of the fault phase: heal the network, stop loss, restart every member that is down. */
  healAll(): void {
    this.network.heal();
    this.network.setLoss(NO_LOSS);
    this.note("heal all: network healed, loss off, members restarted");
    if (this.cluster.mutation === "never-heal") {
      // Deliberate bug (checker self-test): the network stays in pieces, nothing can recover.
      const ids = [...this.cluster.nodes.keys()];
      for (const id of ids) this.network.isolate(id, ids);
    }
    for (const node of this.cluster.nodes.values()) {
      node.armedCrash = undefined; // a crash armed in the fault phase must not strike later
      node.pausedUntil = 0; // paused processes resume (what they missed still arrives late)
      if (!node.running && node.storage !== undefined && !this.admin.retired.has(node.id)) {
        this.cluster.start(node.id);
      }
    }
  }

  /** A scheduled restart of a crashed node (skipped if it was removed meanwhile). */
  restart(id: number, downToken: number): void {
    const node = this.cluster.node(id);
    if (node.running || node.downToken !== downToken || this.admin.retired.has(id)) return;
    this.cluster.start(id);
  }

  private perform(action: FaultAction): void {
    const ids = [...this.cluster.nodes.keys()];
    const leader = this.cluster.leader();
    switch (action) {
      case "partition": {
        const shuffled = this.shuffle(ids);
        const cut = this.prng.range(1, Math.floor(ids.length / 2));
        const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
        this.network.partition(groups);
        this.stats.partitionsInjected++;
        this.note(`partition ${groups.map((group) => `{${group.join(",")}}`).join(" | ")}`);
        this.hintLostLeaders();
        return;
      }
      case "one-way": {
        const [from, to] = this.shuffle(ids);
        this.network.cutOneWay(from!, to!);
        this.stats.partitionsInjected++;
        this.note(`one-way cut n${from} -> n${to} (${this.network.describe()})`);
        this.hintLostLeaders();
        return;
      }
      case "isolate-leader": {
        if (leader === undefined) return;
        this.network.isolate(leader.id, ids);
        this.stats.partitionsInjected++;
        this.note(`isolate leader n${leader.id}`);
        this.hintLostLeaders();
        return;
      }
      case "bridge": {
        const shuffled = this.shuffle(ids);
        const middle = shuffled[0]!;
        const rest = shuffled.slice(1);
        const cut = this.prng.range(1, rest.length - 1);
        const left = rest.slice(0, cut);
        const right = rest.slice(cut);
        this.network.bridge(left, [middle], right);
        this.stats.partitionsInjected++;
        this.note(`bridge {${left.join(",")}} - n${middle} - {${right.join(",")}}`);
        this.hintLostLeaders();
        return;
      }
      case "heal":
        this.network.heal();
        this.note("heal network");
        return;
      case "loss-on":
        this.network.setLoss(this.scenario.faultLoss);
        this.note(
          `loss on: drop ${this.scenario.faultLoss.dropProbability.toFixed(3)}, duplicate ${this.scenario.faultLoss.duplicateProbability.toFixed(3)}`,
        );
        return;
      case "loss-off":
        this.network.setLoss(NO_LOSS);
        this.note("loss off");
        return;
      case "crash":
      case "crash-leader": {
        const running = this.cluster.runningNodes();
        const victim =
          action === "crash-leader"
            ? leader
            : running.length > 0
              ? this.prng.pick(running)
              : undefined;
        if (victim === undefined) return;
        const point = this.prng.pick(CRASH_POINTS);
        this.stats.crashesInjected++;
        if (point === "now") this.cluster.crash(victim.id, "crash");
        else {
          // Strikes inside the node's next Ready that persists something.
          victim.armedCrash = point;
          this.note(`arm crash of n${victim.id} ${point}`);
        }
        const downTicks = this.prng.range(this.scenario.downTicksMin, this.scenario.downTicksMax);
        // The restart names the down period it ends; an armed crash that strikes later bumps
        // the token at that point, so its restart comes from the hook below.
        this.scheduleRestartWhenDown(victim.id, downTicks);
        return;
      }
      case "restart": {
        const down = [...this.cluster.nodes.values()].filter(
          (node) => !node.running && node.storage !== undefined && !this.admin.retired.has(node.id),
        );
        if (down.length === 0) return;
        const node = this.prng.pick(down);
        this.note(`restart n${node.id}`);
        this.cluster.start(node.id);
        return;
      }
      case "transfer": {
        if (leader?.raft === undefined || leader.isPaused(this.cluster.now)) return;
        // Any node id, including the leader itself, learners and non-members: the core must
        // refuse the invalid ones with TRANSFER_INVALID.
        const target = this.prng.pick(ids);
        this.stats.transfersRequested++;
        try {
          leader.raft.transferLeadership(target);
          this.trace.record(this.cluster.now, "transfer", leader.id, target);
        } catch (error) {
          if (
            !(
              error instanceof RaftError &&
              (error.code === "TRANSFER_INVALID" || error.code === "NOT_LEADER")
            )
          )
            throw error;
          this.trace.record(
            this.cluster.now,
            "transfer",
            leader.id,
            target,
            0,
            0,
            0,
            0,
            0,
            `refused: ${error.code}`,
          );
          return;
        }
        this.cluster.drain(leader);
        return;
      }
      case "pause":
      case "pause-leader": {
        if (!this.scenario.processPauses) return;
        const running = this.cluster
          .runningNodes()
          .filter((node) => !node.isPaused(this.cluster.now));
        const victim =
          action === "pause-leader"
            ? leader
            : running.length > 0
              ? this.prng.pick(running)
              : undefined;
        if (victim === undefined || victim.isPaused(this.cluster.now)) return;
        const ticks = this.prng.range(1, 5 * this.scenario.core.electionTimeoutTicks);
        victim.pausedUntil = this.cluster.now + ticks * UNITS_PER_TICK;
        this.note(`pause n${victim.id} for ${ticks} ticks`);
        return;
      }
      case "campaign": {
        // An operator forces an election on a random node (the leader's own call is a no-op).
        const running = this.cluster
          .runningNodes()
          .filter((node) => !node.isPaused(this.cluster.now));
        if (running.length === 0) return;
        const node = this.prng.pick(running);
        this.note(`n${node.id} campaigns (operator)`);
        node.raft!.campaign();
        this.cluster.drain(node);
        return;
      }
      case "spurious-unreachable": {
        // The transport reports a follower unreachable although it is fine.
        if (leader?.raft === undefined || leader.isPaused(this.cluster.now)) return;
        const target = this.prng.pick(ids.filter((id) => id !== leader.id));
        this.note(`spurious unreachable n${target} reported to leader n${leader.id}`);
        leader.raft.reportUnreachable(target);
        this.cluster.drain(leader);
        return;
      }
      case "leader-lost-hint": {
        // A spurious hint (the connection flapped, the leader is fine): must never affect safety.
        const followers = this.cluster.runningNodes().filter((node) => node.role === "follower");
        if (followers.length === 0) return;
        const node = this.prng.pick(followers);
        this.note(`spurious leader-lost hint to n${node.id}`);
        this.queue.push(this.cluster.now, {
          kind: "leader-lost",
          node: node.id,
          incarnation: node.incarnation,
        });
        return;
      }
    }
  }

  /**
   * With early failover, a follower whose link from its leader was just cut sees its connection
   * drop and reports the leader lost (the leader may be perfectly healthy on the other side).
   */
  private hintLostLeaders(): void {
    if (!this.scenario.core.earlyFailover) return;
    for (const node of this.cluster.runningNodes()) {
      const leaderId = node.leaderId;
      if (leaderId === 0 || leaderId === node.id || this.network.isLinkUp(leaderId, node.id))
        continue;
      this.queue.push(this.cluster.now + 1 + this.prng.int(300), {
        kind: "leader-lost",
        node: node.id,
        incarnation: node.incarnation,
      });
    }
  }

  private scheduleRestartWhenDown(id: number, downTicks: number): void {
    const node = this.cluster.node(id);
    // If the node is already down, the restart ends this down period; an armed crash has not
    // struck yet, so the restart names the next down period.
    const token = node.running ? node.downToken + 1 : node.downToken;
    this.queue.push(this.cluster.now + downTicks * UNITS_PER_TICK, {
      kind: "restart",
      node: id,
      downToken: token,
    });
  }

  private note(text: string): void {
    this.trace.record(this.cluster.now, "fault", 0, 0, 0, 0, 0, 0, 0, text);
  }

  private shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.prng.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }
}
