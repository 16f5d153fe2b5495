// Failover: repeated trials of killing the leader (kill -9: a crashed process) and of freezing it
// (SIGSTOP: a silent, hung process) under a steady writer; each trial measures the gap from the
// fault to the next acknowledged write. The same trials against a local 3-member etcd cluster
// when etcd is installed (default timings, and tuned to 10 ms heartbeats).
//
//   npm run bench:failover
//   FAILOVER_TRIALS=30 FAILOVER_SILENT_TRIALS=5 FAILOVER_ETCD_TRIALS=0 npm run bench:failover
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LocalCluster as LocalClusterInstance } from "../src/node/index.ts";
import { loadBuiltProduct } from "./lib/built.ts";
import { EtcdCluster, type EtcdMember, etcdAvailable, etcdPut } from "./lib/etcd.ts";
import { envInteger } from "./lib/settings.ts";

const crashTrials = envInteger("FAILOVER_TRIALS", 10, 0, 200);
const silentTrials = envInteger("FAILOVER_SILENT_TRIALS", 5, 0, 200);
const etcdTrials = envInteger("FAILOVER_ETCD_TRIALS", 5, 0, 200);
const work = mkdtempSync(join(tmpdir(), "hothot-bench-failover-"));
/**
 * An etcd put that has not answered within this long is abandoned and the next member tried,
 * like the hothot client abandons a request to a hung node after 250 ms (so neither side's
 * gap is dominated by a client timeout).
 */
const ETCD_ATTEMPT_TIMEOUT_MS = 250;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function log(message: string): void {
  process.stderr.write(`[bench:failover] ${message}\n`);
}

const {
  client: { HothotClient },
  node: { LocalCluster },
} = await loadBuiltProduct(log);

interface Summary {
  trials: number;
  gapsMs: number[];
  p50Ms: number;
  maxMs: number;
}

function summarize(gaps: number[]): Summary {
  const sorted = [...gaps].sort((a, b) => a - b);
  return {
    trials: sorted.length,
    gapsMs: gaps.map((gap) => Math.round(gap)),
    p50Ms: Math.round(sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN),
    maxMs: Math.round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

/**
 * A writer that keeps one write in flight at a time against `write`, and reports the time of
 * the first acknowledgement at or after a given instant. Bounded by count and time.
 */
class SteadyWriter {
  private stopped = false;
  private readonly acks: Array<{ startedAt: number; ackedAt: number }> = [];
  private loop: Promise<void> | undefined;
  private sequence = 0;

  constructor(private readonly write: (key: string, value: string) => Promise<void>) {}

  start(): void {
    const deadline = Date.now() + 30 * 60_000;
    this.loop = (async () => {
      while (!this.stopped && Date.now() < deadline && this.sequence < 10_000_000) {
        const sequence = this.sequence++;
        const startedAt = performance.now();
        try {
          await this.write(`failover-${sequence % 100}`, String(sequence));
          // Only a write sent after the fault shows the cluster serving again: one in flight
          // when the fault hit may have been acknowledged by the old leader just before.
          this.acks.push({ startedAt, ackedAt: performance.now() });
          if (this.acks.length > 10_000) this.acks.splice(0, 5_000);
        } catch {
          await sleep(1);
        }
      }
    })();
  }

  /** When the first write started at or after `instant` was acknowledged. */
  async firstAckAfter(instant: number, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const ack = this.acks.find((entry) => entry.startedAt >= instant);
      if (ack !== undefined) return ack.ackedAt;
      await sleep(1);
    }
    throw new Error(`no write was acknowledged within ${timeoutMs} ms after the fault`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

async function hothotLeader(cluster: LocalClusterInstance, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const node of cluster.nodes) {
      if (!cluster.isRunning(node.id)) continue;
      try {
        const response = await fetch(`${node.api}/v1/health/leader`, {
          signal: AbortSignal.timeout(300),
        });
        if (response.status === 200) return node.id;
      } catch {
        // down or starting
      }
    }
    await sleep(20);
  }
  throw new Error("no hothot leader");
}

async function converged(cluster: LocalClusterInstance, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const statuses = await Promise.all(
        cluster.nodes.map(
          async (node) =>
            (await (
              await fetch(`${node.api}/v1/status`, { signal: AbortSignal.timeout(500) })
            ).json()) as { leaderId: number | null; appliedIndex: number },
        ),
      );
      const leaders = new Set(statuses.map((status) => status.leaderId));
      if (leaders.size === 1 && !leaders.has(null)) return;
    } catch {
      // a node is still starting
    }
    await sleep(50);
  }
  throw new Error("the cluster did not converge after the trial");
}

async function benchHothot(): Promise<{ crash: Summary; silent: Summary }> {
  const cluster = new LocalCluster({
    dir: join(work, "hothot"),
    nodes: 3,
    basePort: 29100,
    autoRestart: false,
  });
  await cluster.start();
  // The client with its default settings (timeouts, retries, backoff), as an application
  // would use it: its behaviour during the failover is part of what is measured.
  const client = new HothotClient({ endpoints: cluster.nodes.map((node) => node.api) });
  const writer = new SteadyWriter(async (key, value) => {
    await client.put(key, value);
  });
  try {
    await hothotLeader(cluster);
    await converged(cluster);
    writer.start();
    const crashGaps: number[] = [];
    for (let trial = 0; trial < crashTrials; trial++) {
      await sleep(300);
      const leader = await hothotLeader(cluster);
      const faultAt = performance.now();
      await cluster.kill(leader).catch(() => undefined);
      const gap = (await writer.firstAckAfter(faultAt, 10_000)) - faultAt;
      crashGaps.push(gap);
      log(
        `crash trial ${trial + 1}/${crashTrials}: leader ${leader} killed, next write acknowledged after ${gap.toFixed(1)} ms`,
      );
      cluster.restart(leader);
      await converged(cluster);
    }
    const silentGaps: number[] = [];
    for (let trial = 0; trial < silentTrials; trial++) {
      await sleep(300);
      const leader = await hothotLeader(cluster);
      const faultAt = performance.now();
      cluster.signal(leader, "SIGSTOP");
      const gap = (await writer.firstAckAfter(faultAt, 10_000)) - faultAt;
      silentGaps.push(gap);
      log(
        `silent trial ${trial + 1}/${silentTrials}: leader ${leader} stopped, next write acknowledged after ${gap.toFixed(1)} ms`,
      );
      cluster.signal(leader, "SIGCONT");
      await converged(cluster);
    }
    return { crash: summarize(crashGaps), silent: summarize(silentGaps) };
  } finally {
    await writer.stop();
    await client.close();
    await cluster.stop();
  }
}

async function benchEtcd(
  label: string,
  timing: { heartbeatMs?: number; electionMs?: number },
): Promise<{ crash: Summary; silent: Summary }> {
  const cluster = new EtcdCluster({
    dir: join(work, `etcd-${label}`),
    basePort: label === "default" ? 29300 : 29500,
    ...timing,
  });
  cluster.start();
  // The writer tries the members in turn, as an etcd client with all endpoints does.
  let preferred = 0;
  const writer = new SteadyWriter(async (key, value) => {
    for (let attempt = 0; attempt < cluster.members.length; attempt++) {
      const member = cluster.members[(preferred + attempt) % cluster.members.length]!;
      if (!member.process) continue;
      try {
        await etcdPut(member.clientUrl, key, value, ETCD_ATTEMPT_TIMEOUT_MS);
        preferred = (preferred + attempt) % cluster.members.length;
        return;
      } catch {
        // next member
      }
    }
    throw new Error("no etcd member took the write");
  });
  const trial = async (kind: "crash" | "silent", leader: EtcdMember): Promise<number> => {
    const faultAt = performance.now();
    if (kind === "crash") {
      const child = leader.process!;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(child.pid!, "SIGKILL");
      await exited;
    } else {
      process.kill(leader.process!.pid!, "SIGSTOP");
    }
    const gap = (await writer.firstAckAfter(faultAt, 20_000)) - faultAt;
    if (kind === "crash") cluster.startMember(leader);
    else process.kill(leader.process!.pid!, "SIGCONT");
    await sleep(2000);
    return gap;
  };
  try {
    await cluster.leader();
    writer.start();
    const crashGaps: number[] = [];
    const silentGaps: number[] = [];
    for (let index = 0; index < etcdTrials; index++) {
      await sleep(300);
      const gap = await trial("crash", await cluster.leader());
      crashGaps.push(gap);
      log(`etcd (${label}) crash trial ${index + 1}/${etcdTrials}: ${gap.toFixed(1)} ms`);
    }
    for (let index = 0; index < Math.min(etcdTrials, silentTrials); index++) {
      await sleep(300);
      const gap = await trial("silent", await cluster.leader());
      silentGaps.push(gap);
      log(`etcd (${label}) silent trial ${index + 1}: ${gap.toFixed(1)} ms`);
    }
    return { crash: summarize(crashGaps), silent: summarize(silentGaps) };
  } finally {
    await writer.stop();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const hothot = await benchHothot();
  let etcd: {
    default: { crash: Summary; silent: Summary };
    tuned: { crash: Summary; silent: Summary };
  } | null = null;
  if (etcdTrials === 0) {
    log("FAILOVER_ETCD_TRIALS=0: no etcd comparison");
  } else if (etcdAvailable()) {
    etcd = {
      default: await benchEtcd("default", {}),
      tuned: await benchEtcd("tuned", { heartbeatMs: 10, electionMs: 100 }),
    };
  } else {
    log("etcd is not installed (apt-get install etcd-server): no comparison");
  }
  const rows = [["system", "fault", "trials", "p50 gap", "max gap"]];
  const add = (system: string, fault: string, summary: Summary) =>
    rows.push([
      system,
      fault,
      String(summary.trials),
      `${summary.p50Ms} ms`,
      `${summary.maxMs} ms`,
    ]);
  add("hothot", "kill -9 leader", hothot.crash);
  add("hothot", "SIGSTOP leader", hothot.silent);
  if (etcd) {
    add("etcd (defaults)", "kill -9 leader", etcd.default.crash);
    add("etcd (defaults)", "SIGSTOP leader", etcd.default.silent);
    add("etcd (10 ms heartbeat)", "kill -9 leader", etcd.tuned.crash);
    add("etcd (10 ms heartbeat)", "SIGSTOP leader", etcd.tuned.silent);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
  const result = {
    crash: { p50Ms: hothot.crash.p50Ms, maxMs: hothot.crash.maxMs, trials: hothot.crash.trials },
    silent: {
      p50Ms: hothot.silent.p50Ms,
      maxMs: hothot.silent.maxMs,
      trials: hothot.silent.trials,
    },
    etcd: etcd
      ? {
          crash: { p50Ms: etcd.default.crash.p50Ms, maxMs: etcd.default.crash.maxMs },
          silent: { p50Ms: etcd.default.silent.p50Ms, maxMs: etcd.default.silent.maxMs },
          tuned10msCrash: { p50Ms: etcd.tuned.crash.p50Ms, maxMs: etcd.tuned.crash.maxMs },
        }
      : null,
  };
  console.log(JSON.stringify({ hothot, etcd }, null, 2));
  console.log(`RESULT ${JSON.stringify(result)}`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
