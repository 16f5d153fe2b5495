// The fault schedule of a drill: a pure function of the seed, the duration, the cluster size and
// the fault kinds. Which node is the leader is only known when a fault fires, so a fault aimed at
// the leader carries a fallback node, drawn here, for when no leader is known at that moment.
import { Prng } from "./prng.ts";

export const FAULT_KINDS = ["kill", "pause", "partition", "loss"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Which node a fault hits: the leader at the time it fires, or a node fixed by the schedule. */
export type FaultTarget =
  | { readonly rule: "leader"; readonly fallbackId: number }
  | { readonly rule: "node"; readonly id: number };

export type PartitionPlan =
  /** The target cannot exchange anything with the other nodes. */
  | { readonly shape: "isolate"; readonly target: FaultTarget }
  /** Two sides that cannot reach each other; the minority side holds these ids. */
  | { readonly shape: "split"; readonly minority: readonly number[] }
  /** Packets from the other nodes to the target are dropped ("in"), or from the target ("out"). */
  | { readonly shape: "one-way"; readonly target: FaultTarget; readonly direction: "in" | "out" };

export type ScheduledFault = {
  readonly index: number;
  /** Start, from the beginning of the drill's load. */
  readonly atMs: number;
  /** How long the fault lasts before it is reverted (restart, SIGCONT, heal). */
  readonly holdMs: number;
} & (
  | { readonly kind: "kill"; readonly target: FaultTarget }
  | { readonly kind: "pause"; readonly target: FaultTarget }
  | { readonly kind: "partition"; readonly partition: PartitionPlan }
  | {
      readonly kind: "loss";
      readonly target: FaultTarget;
      readonly lossPercent: number;
      readonly delayMs: number;
      readonly jitterMs: number;
    }
);

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly nodes: number;
  readonly kinds: readonly FaultKind[];
  /** Load without faults at the start. */
  readonly warmupMs?: number;
  /** Load without faults at the end, before the drill heals and checks. */
  readonly cooldownMs?: number;
}

/** Fault-free time between two faults, so that every fault's failover can be seen on its own. */
const QUIET_MS_MIN = 1500;
const QUIET_MS_MAX = 3500;
const HOLD_MS: Record<FaultKind, readonly [number, number]> = {
  kill: [1000, 4000],
  // Longer than an election timeout, so that the others notice the silence.
  pause: [1000, 5000],
  partition: [2000, 6000],
  loss: [2000, 6000],
};
/** Bound on the schedule's length whatever the duration (a drill of days is still bounded). */
export const MAX_FAULTS = 10_000;

function target(prng: Prng, nodes: number): FaultTarget {
  // Half the faults hit the leader: that is where failover happens.
  if (prng.next() < 0.5) return { rule: "leader", fallbackId: prng.between(1, nodes) };
  return { rule: "node", id: prng.between(1, nodes) };
}

function partition(prng: Prng, nodes: number): PartitionPlan {
  const shape = prng.pick(["isolate", "split", "one-way"] as const);
  if (shape === "isolate") return { shape, target: target(prng, nodes) };
  if (shape === "one-way") {
    return { shape, target: target(prng, nodes), direction: prng.pick(["in", "out"] as const) };
  }
  const ids = Array.from({ length: nodes }, (_, index) => index + 1);
  const minority: number[] = [];
  const size = Math.floor((nodes - 1) / 2);
  while (minority.length < size) {
    const [id] = ids.splice(prng.int(ids.length), 1);
    minority.push(id!);
  }
  return { shape, minority: minority.sort((a, b) => a - b) };
}

export function buildSchedule(options: ScheduleOptions): ScheduledFault[] {
  const { seed, durationMs, nodes, kinds } = options;
  const warmupMs = options.warmupMs ?? 2000;
  const cooldownMs = options.cooldownMs ?? 2000;
  if (nodes < 1) throw new Error(`a schedule needs at least one node, got ${nodes}`);
  const prng = new Prng(seed);
  const faults: ScheduledFault[] = [];
  if (kinds.length === 0) return faults;
  let atMs = warmupMs;
  while (faults.length < MAX_FAULTS) {
    const kind = prng.pick(kinds);
    const [holdMin, holdMax] = HOLD_MS[kind];
    const holdMs = prng.between(holdMin, holdMax);
    if (atMs + holdMs + cooldownMs > durationMs) break;
    const base = { index: faults.length, atMs, holdMs };
    switch (kind) {
      case "kill":
      case "pause":
        faults.push({ ...base, kind, target: target(prng, nodes) });
        break;
      case "partition":
        faults.push({ ...base, kind, partition: partition(prng, nodes) });
        break;
      case "loss":
        faults.push({
          ...base,
          kind,
          target: target(prng, nodes),
          lossPercent: prng.between(5, 40),
          delayMs: prng.between(10, 150),
          jitterMs: prng.between(0, 30),
        });
        break;
    }
    atMs += holdMs + prng.between(QUIET_MS_MIN, QUIET_MS_MAX);
  }
  return faults;
}

function describeTarget(target: FaultTarget): string {
  return target.rule === "leader" ? "the leader" : `node ${target.id}`;
}

/** One line a person can read, e.g. "kill -9 the leader, restart after 2.1 s". */
export function describeFault(fault: ScheduledFault): string {
  const hold = `${(fault.holdMs / 1000).toFixed(1)} s`;
  switch (fault.kind) {
    case "kill":
      return `kill -9 ${describeTarget(fault.target)}, restart after ${hold}`;
    case "pause":
      return `SIGSTOP ${describeTarget(fault.target)} for ${hold}`;
    case "partition": {
      const plan = fault.partition;
      if (plan.shape === "isolate") return `isolate ${describeTarget(plan.target)} for ${hold}`;
      if (plan.shape === "split") return `split off nodes ${plan.minority.join(",")} for ${hold}`;
      return `one-way: ${describeTarget(plan.target)} ${plan.direction === "in" ? "hears nothing from" : "cannot send to"} the others for ${hold}`;
    }
    case "loss":
      return `${fault.lossPercent}% loss, ${fault.delayMs}±${fault.jitterMs} ms delay on ${describeTarget(fault.target)} for ${hold}`;
  }
}
