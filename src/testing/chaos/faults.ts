// Injects one scheduled fault into a running cluster, holds it, reverts it, and watches for a
// leader that a majority follows. Every fault is reverted before the next one starts, and
// `healAll` reverts whatever an interrupted run left behind.
import type { LocalCluster } from "../../node/index.ts";
import { effectiveLeader } from "./analysis.ts";
import type { NetworkLab } from "./network-lab.ts";
import type { NodeApi } from "./node-api.ts";
import type { FaultTarget, ScheduledFault } from "./schedule.ts";

export interface FaultContext {
  readonly cluster: LocalCluster;
  readonly lab: NetworkLab | undefined;
  /** Status pollers, by node id. */
  readonly apis: ReadonlyMap<number, NodeApi>;
  readonly clock: () => number;
  readonly aborted: () => boolean;
  readonly leaderBoundMs: number;
  /** Nodes held by SIGSTOP right now. */
  readonly paused: Set<number>;
  readonly log: (line: string) => void;
}

export interface FaultOutcome {
  readonly nodes: number[];
  readonly leaderAfterMs: number | null;
  readonly problems: string[];
  /** How the fault was carried out, when that differs by machine (netem or iptables). */
  readonly how: string | null;
}

const LEADER_POLL_MS = 100;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sleeps until `untilMs` on the drill clock, waking early when the drill is aborted. */
export async function sleepUntil(
  clock: () => number,
  untilMs: number,
  aborted: () => boolean,
): Promise<void> {
  while (!aborted()) {
    const leftMs = untilMs - clock();
    if (leftMs <= 0) return;
    await sleep(Math.min(leftMs, 200));
  }
}

/** Statuses of the nodes that can answer (running, not paused), by a quick parallel poll. */
export async function pollStatuses(context: FaultContext) {
  const stopped = context.paused;
  const ids = context.cluster.nodes
    .map((node) => node.id)
    .filter((id) => context.cluster.isRunning(id) && !stopped.has(id));
  return Promise.all(ids.map((id) => context.apis.get(id)!.status()));
}

async function resolveTarget(context: FaultContext, target: FaultTarget): Promise<number> {
  if (target.rule === "node") return target.id;
  const statuses = await pollStatuses(context);
  const leader =
    effectiveLeader(statuses, context.cluster.nodes.length, new Set()) ??
    statuses.find((status) => status?.role === "leader")?.id;
  return leader ?? target.fallbackId;
}

/** Waits for a majority-followed leader outside `impaired()`; null when the bound passes first. */
async function watchLeader(
  context: FaultContext,
  startMs: number,
  impaired: () => ReadonlySet<number>,
): Promise<number | null> {
  const size = context.cluster.nodes.length;
  while (!context.aborted() && context.clock() - startMs <= context.leaderBoundMs) {
    const statuses = await pollStatuses(context);
    if (effectiveLeader(statuses, size, impaired()) !== undefined) return context.clock() - startMs;
    await sleep(LEADER_POLL_MS);
  }
  return null;
}

export async function runFault(
  context: FaultContext,
  fault: ScheduledFault,
): Promise<FaultOutcome> {
  const { cluster, lab } = context;
  const problems: string[] = [];
  const startMs = context.clock();
  let impaired = new Set<number>();
  let revert: () => void | Promise<void> = () => {};
  let nodes: number[] = [];
  let how: string | null = null;
  try {
    switch (fault.kind) {
      case "kill": {
        const id = await resolveTarget(context, fault.target);
        nodes = [id];
        impaired = new Set(nodes);
        await cluster.kill(id);
        revert = () => cluster.restart(id);
        break;
      }
      case "pause": {
        const id = await resolveTarget(context, fault.target);
        nodes = [id];
        impaired = new Set(nodes);
        context.paused.add(id);
        cluster.signal(id, "SIGSTOP");
        revert = () => {
          // Always resume, even if the drill is being torn down.
          if (cluster.isRunning(id)) cluster.signal(id, "SIGCONT");
          context.paused.delete(id);
        };
        break;
      }
      case "partition": {
        if (!lab) throw new Error("partition faults need the network namespaces");
        const plan = fault.partition;
        if (plan.shape === "split") {
          const all = cluster.nodes.map((node) => node.id);
          nodes = [...plan.minority];
          impaired = new Set(nodes);
          lab.split(
            plan.minority,
            all.filter((id) => !plan.minority.includes(id)),
          );
        } else {
          const id = await resolveTarget(context, plan.target);
          nodes = [id];
          impaired = new Set(nodes);
          if (plan.shape === "isolate") lab.isolate(id);
          else lab.oneWay(id, plan.direction);
        }
        revert = () => lab.heal();
        break;
      }
      case "loss": {
        if (!lab) throw new Error("loss faults need the network namespaces");
        const id = await resolveTarget(context, fault.target);
        nodes = [id];
        // A lossy node may well keep leading: it is not counted as impaired.
        how = lab.degrade(id, fault.lossPercent, fault.delayMs, fault.jitterMs);
        context.log(`  ${how}`);
        revert = () => lab.heal();
        break;
      }
    }
  } catch (error) {
    problems.push(`injecting failed: ${(error as Error).message}`);
  }
  const leader = watchLeader(context, startMs, () => impaired);
  await sleepUntil(context.clock, startMs + fault.holdMs, context.aborted);
  try {
    await revert();
  } catch (error) {
    problems.push(`reverting failed: ${(error as Error).message}`);
  }
  impaired = new Set();
  const leaderAfterMs = await leader;
  return { nodes, leaderAfterMs, problems, how };
}

/** Undo every fault: heal the network, resume paused nodes, start stopped ones. */
export function healAll(context: FaultContext): string[] {
  const problems: string[] = [];
  try {
    context.lab?.heal();
  } catch (error) {
    problems.push(`healing the network failed: ${(error as Error).message}`);
  }
  const stopped = context.paused;
  for (const node of context.cluster.nodes) {
    try {
      if (!context.cluster.isRunning(node.id)) context.cluster.restart(node.id);
      else if (stopped.has(node.id)) context.cluster.signal(node.id, "SIGCONT");
    } catch (error) {
      problems.push(`node ${node.id}: ${(error as Error).message}`);
    }
    stopped.delete(node.id);
  }
  return problems;
}
