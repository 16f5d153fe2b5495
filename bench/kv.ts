// Key-value throughput: a local 3-node hothot cluster and a local 3-member etcd cluster (when
// installed), loaded the same way by wrk: 32 connections of durable writes of 100-byte values to
// the leader, then 32 connections of linearizable reads spread over all three nodes. The systems
// take turns for several rounds in alternating order, each round on a fresh cluster running
// alone; each figure is the median over the rounds. hothot runs as built by `npm run build`, as
// it ships.
//
// Each measured load is preceded by the same load for a warm-up period that is not counted, on
// both systems alike: the figures are the steady state a long-running cluster shows, not the first
// seconds of a fresh process (hothot's JavaScript is still being compiled then, and etcd's pages
// and Go heap are still growing). The warm-up figures are reported too (`warmup` in the JSON).
//
// Each round also reports the CPU time the cluster's three processes used per measured write
// (every thread, from /proc/<pid>/stat; `cpuUsPerWrite`), and deletes its data when it ends.
//
// The machines these run on are virtual, and their host at times takes 10-40% of the CPU time for
// a minute or so ("steal" in /proc/stat). A round measured in such a spell measures the host: it
// is measured again on a fresh cluster, for either system alike, when more than
// KV_BENCH_MAX_STEAL_PCT (5) percent was stolen during its measured writes or reads, at most
// KV_BENCH_STEAL_REPEATS (2) more times; and each round waits, up to KV_BENCH_QUIET_WAIT_S (60)
// seconds, for 3 quiet seconds before it starts. Every kept round's steal, the repeats, and the
// rounds kept over the limit are in the JSON (`steal`); KV_BENCH_MAX_STEAL_PCT=100 turns it off.
//
//   npm run bench:kv
//   KV_BENCH_DURATION_S=10 KV_BENCH_WARMUP_S=10 KV_BENCH_CONNECTIONS=32 KV_BENCH_ROUNDS=9 npm run bench:kv
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBuiltProduct } from "./lib/built.ts";
import { EtcdCluster, etcdAvailable, etcdPutBody, etcdRangeBody } from "./lib/etcd.ts";
import { envInteger } from "./lib/settings.ts";
import {
  measuringSteal,
  repeatWhileStolen,
  type StealPolicy,
  stealOver,
  untilQuiet,
} from "./lib/steal.ts";
import {
  combine,
  cpuMicros,
  describeErrors,
  rssKiB,
  runWrk,
  type WrkFigures,
  wrkAvailable,
} from "./lib/wrk.ts";

const durationSeconds = envInteger("KV_BENCH_DURATION_S", 8, 1, 600);
const connections = envInteger("KV_BENCH_CONNECTIONS", 32, 1, 10_000);
/** Seconds of the same load before each measured load, not counted (0: none). */
const warmupSeconds = envInteger("KV_BENCH_WARMUP_S", 10, 0, 600);
/** Load rounds per system and kind (writes, reads); the figures are the medians. Seven, because
 * the speed of these shared machines drifts by half within minutes: with five, one or two slow
 * rounds still moved the median by a tenth of the ratio between runs of the same code. */
const rounds = envInteger("KV_BENCH_ROUNDS", 7, 1, 99);
/** A round during whose measured writes or reads the host took more than this share of the CPU
 * time (percent; from /proc/stat) is measured again on a fresh cluster, for either system, at most
 * KV_BENCH_STEAL_REPEATS more times; 100 turns this off. See bench/lib/steal.ts. */
const stealPolicy: StealPolicy = {
  maxStealPct: envInteger("KV_BENCH_MAX_STEAL_PCT", 5, 0, 100),
  maxRepeats: envInteger("KV_BENCH_STEAL_REPEATS", 2, 0, 10),
};
/** Before each round, up to this many seconds of waiting, in 3-second windows, for one in which
 * the host takes no more than KV_BENCH_MAX_STEAL_PCT (0: no waiting). */
const quietWaitSeconds = envInteger("KV_BENCH_QUIET_WAIT_S", 60, 0, 3600);
const keys = 1000;
const value = "v".repeat(100);
const work = mkdtempSync(join(tmpdir(), "hothot-bench-kv-"));

function log(message: string): void {
  process.stderr.write(`[bench:kv] ${message}\n`);
}

const {
  client: { HothotClient },
  node: { LocalCluster },
} = await loadBuiltProduct(log);

interface SystemFigures {
  writesPerSec: number;
  writeP50Ms: number;
  writeP99Ms: number;
  readsPerSec: number;
  readP50Ms: number;
  readP99Ms: number;
  errors: number;
  rssIdleMiB: number[];
  rssLoadedMiB: number[];
  /** The loads' rates during the uncounted warm-up (medians over the rounds; null: no warm-up). */
  warmup: { writesPerSec: number | null; readsPerSec: number | null };
  /** Rounds (every attempt) after whose measured writes the write target was no longer the leader. */
  leaderMoves: number;
  /** CPU time of the cluster's processes (all three, every thread) per write during the measured
   * writes, in microseconds: median over the kept rounds, and each kept round's. */
  cpuUsPerWrite: number | null;
  cpuUsPerWritePerRound: Array<number | null>;
  steal: StealFigures;
}

/** How much CPU time the host took while the rounds were measured, and what was done about it. */
interface StealFigures {
  /** Percent of the CPU time stolen during each kept round's measured writes and reads. */
  perRound: WindowSteal[];
  /** Attempts measured again because too much was stolen (not counted in the figures). */
  repeatedRounds: number;
  /** Kept rounds still over the limit: every attempt of theirs was. */
  stolenRounds: number;
  /** Errors in the attempts measured again (counted in `errors` too). */
  errorsInRepeated: number;
  /** The medians over every attempt, the ones measured again included: the figures as they
   * would be without the rule. */
  everyAttempt: { attempts: number; writesPerSec: number; readsPerSec: number };
}

const luaPrelude = (body: string) => `
local counter = 0
local keys = ${keys}
local value = "${value}"
${body}
`;

function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0),
  );
}

/** One system under test: where its writes and reads go, and its processes. */
interface Target {
  readonly name: string;
  /** The cluster's data, deleted once it has stopped. */
  readonly dir: string;
  readonly pids: () => Array<number | undefined>;
  readonly writeUrl: string;
  readonly writeScript: string;
  readonly readUrls: string[];
  readonly readScript: string;
  readonly stop: () => Promise<void>;
  /** Whether the write target was no longer the leader after the writes (writes then took an
   * extra hop through a follower: a slow round is told from a slow machine this way). */
  readonly leaderMoved: () => Promise<boolean>;
}

async function runWrites(target: Target, seconds = durationSeconds): Promise<WrkFigures> {
  return runWrk({
    url: target.writeUrl,
    connections,
    threads: 2,
    durationSeconds: seconds,
    script: target.writeScript,
    scriptDir: work,
    name: `${target.name}-put`,
  });
}

async function runReads(target: Target, seconds = durationSeconds): Promise<WrkFigures> {
  const runs = await Promise.all(
    target.readUrls.map((url, index) =>
      runWrk({
        url,
        connections: split(connections, target.readUrls.length)[index]!,
        threads: 1,
        durationSeconds: seconds,
        script: target.readScript,
        scriptDir: work,
        name: `${target.name}-get-${index}`,
      }),
    ),
  );
  return combine(runs);
}

const errorsOf = (figures: WrkFigures) => figures.errors + figures.non2xx;
const round = (value: number) => Math.round(value * 100) / 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
}

/** Each start gets a slot of its own: its directory and, cycling through 100, its ports. */
async function startHothot(slot: number): Promise<Target> {
  const dir = join(work, `hothot-${slot}`);
  const cluster = new LocalCluster({
    dir,
    nodes: 3,
    basePort: 27100 + (slot % 100) * 10,
    autoRestart: false,
  });
  await cluster.start();
  try {
    const client = new HothotClient({
      endpoints: cluster.nodes.map((node) => node.api),
      maxAttempts: 50,
    });
    let leaderApi: string | undefined;
    for (let attempt = 0; attempt < 300 && !leaderApi; attempt++) {
      await client.put("warmup", "x").catch(() => undefined);
      leaderApi = await client.refreshLeader();
    }
    if (!leaderApi) throw new Error("hothot elected no leader");
    for (let index = 0; index < keys; index += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, offset) => client.put(`key-${index + offset}`, value)),
      );
    }
    await client.close();
    return {
      name: "hothot",
      dir,
      pids: () => cluster.nodes.map((node) => node.pid),
      writeUrl: leaderApi,
      writeScript: luaPrelude(`
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/kv/key-" .. (counter % keys), nil, value)
end`),
      readUrls: cluster.nodes.map((node) => node.api),
      readScript: luaPrelude(`
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/kv/key-" .. (counter % keys))
end`),
      stop: () => cluster.stop(),
      leaderMoved: async () => {
        const response = await fetch(`${leaderApi}/v1/status`);
        const status = (await response.json()) as { role?: string };
        return status.role !== "leader";
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function startEtcd(slot: number): Promise<Target> {
  const dir = join(work, `etcd-${slot}`);
  const cluster = new EtcdCluster({
    dir,
    basePort: 28100 + (slot % 100) * 10,
  });
  cluster.start();
  try {
    const leader = await cluster.leader();
    for (let index = 0; index < keys; index += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, offset) =>
          fetch(`${leader.clientUrl}/v3/kv/put`, {
            method: "POST",
            body: etcdPutBody(`key-${index + offset}`, value),
          }).then((response) => response.text()),
        ),
      );
    }
    // The gateway takes JSON with base64 keys and values: precompute the bodies.
    const bodies = (make: (key: string) => string) =>
      `local bodies = {}\n${Array.from({ length: keys }, (_, index) => `bodies[${index}] = '${make(`key-${index}`)}'`).join("\n")}`;
    return {
      name: "etcd",
      dir,
      pids: () => cluster.members.map((member) => member.process?.pid),
      writeUrl: leader.clientUrl,
      writeScript: luaPrelude(`
${bodies((key) => etcdPutBody(key, value))}
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v3/kv/put", nil, bodies[counter % keys])
end`),
      readUrls: cluster.members.map((member) => member.clientUrl),
      readScript: luaPrelude(`
${bodies((key) => etcdRangeBody(key))}
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v3/kv/range", nil, bodies[counter % keys])
end`),
      stop: () => cluster.stop(),
      leaderMoved: async () => (await cluster.leader(5_000)).clientUrl !== leader.clientUrl,
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** One system's attempts: every one made, the ones kept (one per round), and how many of the
 * kept ones were still over the steal limit. */
interface Attempts {
  readonly every: RoundFigures[];
  readonly kept: RoundFigures[];
  stolenRounds: number;
}

/** Each figure's median over the kept rounds; errors and leader moves over every attempt. */
function summarize(
  attempts: Attempts,
  rssIdleMiB: number[],
  rssLoadedMiB: number[],
): SystemFigures {
  const { every, kept } = attempts;
  const writes = kept.map((one) => one.written);
  const reads = kept.map((one) => one.read);
  const warmWrites = kept.flatMap((one) => (one.warmWrites ? [one.warmWrites] : []));
  const warmReads = kept.flatMap((one) => (one.warmReads ? [one.warmReads] : []));
  const medianRate = (runs: WrkFigures[]) =>
    runs.length === 0 ? null : Math.round(median(runs.map((figures) => figures.requestsPerSec)));
  // Errors count whenever they happen: warm-up included, and attempts measured again too.
  const errorsIn = (ones: RoundFigures[]) =>
    ones
      .flatMap((one) => [one.written, one.read, one.warmWrites, one.warmReads])
      .reduce((sum, figures) => sum + (figures ? errorsOf(figures) : 0), 0);
  const errors = errorsIn(every);
  const cpuKnown = kept.flatMap((one) => (one.cpuUsPerWrite === null ? [] : [one.cpuUsPerWrite]));
  return {
    writesPerSec: medianRate(writes)!,
    writeP50Ms: round(median(writes.map((figures) => figures.p50Ms))),
    writeP99Ms: round(median(writes.map((figures) => figures.p99Ms))),
    readsPerSec: medianRate(reads)!,
    readP50Ms: round(median(reads.map((figures) => figures.p50Ms))),
    readP99Ms: round(median(reads.map((figures) => figures.p99Ms))),
    errors,
    rssIdleMiB,
    rssLoadedMiB,
    warmup: { writesPerSec: medianRate(warmWrites), readsPerSec: medianRate(warmReads) },
    leaderMoves: every.filter((one) => one.moved).length,
    cpuUsPerWrite: cpuKnown.length === 0 ? null : Math.round(median(cpuKnown)),
    cpuUsPerWritePerRound: kept.map((one) => one.cpuUsPerWrite),
    steal: {
      perRound: kept.map((one) => one.stealPct),
      repeatedRounds: every.length - kept.length,
      stolenRounds: attempts.stolenRounds,
      errorsInRepeated: errors - errorsIn(kept),
      everyAttempt: {
        attempts: every.length,
        writesPerSec: medianRate(every.map((one) => one.written))!,
        readsPerSec: medianRate(every.map((one) => one.read))!,
      },
    },
  };
}

async function main(): Promise<void> {
  if (!wrkAvailable()) {
    log("wrk is not installed (apt-get install wrk): cannot run");
    process.exitCode = 1;
    return;
  }
  // The systems take turns, round after round, in alternating order, each on a fresh cluster that
  // runs alone: a slow spell of a noisy machine then lands on both, and neither pays for the
  // other's idle processes.
  const systems: System[] = [{ name: "hothot", start: startHothot }];
  if (etcdAvailable()) systems.push({ name: "etcd", start: startEtcd });
  else log("etcd is not installed (apt-get install etcd-server): comparing against nothing");
  const results = await measureInTurns(systems);
  report(results.get("hothot")!, results.get("etcd"), results.ratios);
}

interface System {
  readonly name: string;
  readonly start: (slot: number) => Promise<Target>;
}

interface RoundResults extends Map<string, SystemFigures> {
  ratios?: { write: number[]; read: number[] };
}

/** Waits (bounded) until the host takes little enough of the CPU time to measure a round. */
async function quietHost(label: string): Promise<void> {
  const windowMs = 3000;
  const maxWindows = Math.floor((quietWaitSeconds * 1000) / windowMs);
  if (stealPolicy.maxStealPct >= 100 || maxWindows === 0) return;
  const { windows, stealPct } = await untilQuiet(
    () => stealOver(windowMs),
    stealPolicy.maxStealPct,
    maxWindows,
  );
  if (stealPct !== null && stealPct > stealPolicy.maxStealPct)
    log(
      `${label}: the host still took ${stealPct}% of the CPU time after ${(windows * windowMs) / 1000} s of waiting; measuring anyway`,
    );
  else if (windows > 1)
    log(
      `${label}: waited ${((windows - 1) * windowMs) / 1000} s for the host to take no more than ${stealPolicy.maxStealPct}% of the CPU time`,
    );
}

/** The share of the CPU time stolen by the host during a round's measured writes and reads. */
interface WindowSteal {
  writes: number | null;
  reads: number | null;
}

const worstSteal = (steal: WindowSteal): number | null =>
  steal.writes === null && steal.reads === null
    ? null
    : Math.max(steal.writes ?? 0, steal.reads ?? 0);

/** One system's round on a fresh cluster: writes, then reads, each after its warm-up. */
interface RoundFigures {
  written: WrkFigures;
  read: WrkFigures;
  warmWrites?: WrkFigures;
  warmReads?: WrkFigures;
  moved: boolean;
  stealPct: WindowSteal;
  /** The cluster's CPU time per measured write, in microseconds (null: not measurable here). */
  cpuUsPerWrite: number | null;
}

async function measureRound(
  system: System,
  label: string,
  slot: number,
  rssIdle: Map<string, number[]>,
  rssLoaded: Map<string, number[]>,
): Promise<RoundFigures> {
  log(`${label}: starting`);
  const target = await system.start(slot);
  try {
    const mib = () => target.pids().map((pid) => Math.round(rssKiB(pid) / 1024));
    if (!rssIdle.has(system.name)) rssIdle.set(system.name, mib());
    const peak = rssLoaded.get(system.name) ?? mib().map(() => 0);
    rssLoaded.set(system.name, peak);
    const sampler = setInterval(() => {
      mib().forEach((value, index) => {
        peak[index] = Math.max(peak[index] ?? 0, value);
      });
    }, 500);
    try {
      const warmUp = async (kind: string, load: () => Promise<WrkFigures>) => {
        if (warmupSeconds === 0) return undefined;
        log(`${label}: ${warmupSeconds} s of ${kind} to warm up`);
        const warm = await load();
        if (describeErrors(warm) !== "") log(`${label}: warm-up ${kind}: ${describeErrors(warm)}`);
        return warm;
      };
      const warmWrites = await warmUp("writes", () => runWrites(target, warmupSeconds));
      const cpuBefore = target.pids().map(cpuMicros);
      const writing = await measuringSteal(() => runWrites(target));
      const cpuAfter = target.pids().map(cpuMicros);
      const moved = await target.leaderMoved().catch(() => true);
      const warmReads = await warmUp("reads", () => runReads(target, warmupSeconds));
      const reading = await measuringSteal(() => runReads(target));
      const written = writing.result;
      const read = reading.result;
      const stealPct = { writes: writing.stealPct, reads: reading.stealPct };
      // Only when every process was measured at both ends (a process that restarted is not).
      const cpuUs = cpuAfter.map((after, index) => after - (cpuBefore[index] ?? 0));
      const cpuUsPerWrite =
        written.requests > 0 && cpuBefore.every((at) => at > 0) && cpuUs.every((us) => us > 0)
          ? Math.round(cpuUs.reduce((sum, us) => sum + us, 0) / written.requests)
          : null;
      const trouble = (figures: WrkFigures) => {
        const text = describeErrors(figures);
        return text === "" ? "" : `; ${text}`;
      };
      const stolen = (pct: number | null) => (pct === null ? "" : `, ${pct}% stolen`);
      const cpu = cpuUsPerWrite === null ? "" : `, ${cpuUsPerWrite} µs CPU per write`;
      log(
        `${label}: writes ${Math.round(written.requestsPerSec)}/s (p99 ${round(written.p99Ms)} ms${cpu}${stolen(stealPct.writes)}${trouble(written)}${moved ? "; the leader moved during the writes" : ""}), reads ${Math.round(read.requestsPerSec)}/s (p99 ${round(read.p99Ms)} ms${stolen(stealPct.reads)}${trouble(read)})`,
      );
      return { written, read, warmWrites, warmReads, moved, stealPct, cpuUsPerWrite };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await target.stop();
    // A run writes gigabytes over its rounds: each round's data goes when the round ends.
    rmSync(target.dir, { recursive: true, force: true });
  }
}

async function measureInTurns(systems: System[]): Promise<RoundResults> {
  const attempts = new Map<string, Attempts>(
    systems.map((system) => [system.name, { every: [], kept: [], stolenRounds: 0 }]),
  );
  const rssIdle = new Map<string, number[]>();
  const rssLoaded = new Map<string, number[]>();
  let slot = 0;
  for (let turn = 0; turn < rounds; turn++) {
    const order = turn % 2 === 0 ? systems : [...systems].reverse();
    for (const system of order) {
      const label = `round ${turn + 1}/${rounds}, ${system.name}`;
      const made = attempts.get(system.name)!;
      const { kept, stolen } = await repeatWhileStolen(
        async () => {
          await quietHost(label);
          const figures = await measureRound(system, label, slot++, rssIdle, rssLoaded);
          made.every.push(figures);
          return figures;
        },
        (figures) => worstSteal(figures.stealPct),
        stealPolicy,
        (stealPct, attempt, again) =>
          log(
            `${label}: ${stealPct}% of the CPU time was stolen by the host while it was measured` +
              (again
                ? `; measuring it again on a fresh cluster (attempt ${attempt + 1} of ${stealPolicy.maxRepeats + 1})`
                : `; keeping the least stolen of ${attempt} attempts`),
          ),
      );
      made.kept.push(kept);
      if (stolen) made.stolenRounds++;
    }
  }
  const results: RoundResults = new Map();
  for (const system of systems) {
    results.set(
      system.name,
      summarize(attempts.get(system.name)!, rssIdle.get(system.name)!, rssLoaded.get(system.name)!),
    );
  }
  const ours = attempts.get("hothot")!.kept;
  const theirs = attempts.get("etcd")?.kept;
  if (theirs) {
    const perRound = (rate: (one: RoundFigures) => number) =>
      ours.map((one, index) => round(rate(one) / rate(theirs[index]!)));
    results.ratios = {
      write: perRound((one) => one.written.requestsPerSec),
      read: perRound((one) => one.read.requestsPerSec),
    };
  }
  return results;
}

function report(
  hothot: SystemFigures,
  etcd: SystemFigures | undefined,
  ratios: { write: number[]; read: number[] } | undefined,
): void {
  const rows = [
    [
      "system",
      "writes/s",
      "write p50",
      "write p99",
      "reads/s",
      "read p50",
      "read p99",
      "errors",
      "CPU µs/write",
      "RSS idle MiB",
      "RSS loaded MiB",
    ],
  ];
  for (const [name, figures] of [
    ["hothot", hothot],
    ["etcd", etcd],
  ] as const) {
    if (!figures) continue;
    rows.push([
      name,
      String(figures.writesPerSec),
      `${figures.writeP50Ms} ms`,
      `${figures.writeP99Ms} ms`,
      String(figures.readsPerSec),
      `${figures.readP50Ms} ms`,
      `${figures.readP99Ms} ms`,
      String(figures.errors),
      figures.cpuUsPerWrite === null ? "-" : String(figures.cpuUsPerWrite),
      figures.rssIdleMiB.join("/"),
      figures.rssLoadedMiB.join("/"),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
  for (const [name, figures] of [
    ["hothot", hothot],
    ["etcd", etcd],
  ] as const) {
    if (!figures) continue;
    const { repeatedRounds, stolenRounds, everyAttempt } = figures.steal;
    if (repeatedRounds > 0 || stolenRounds > 0)
      console.log(
        `${name}: ${repeatedRounds} attempt(s) measured again, the host having taken over ${stealPolicy.maxStealPct}% of the CPU time` +
          (stolenRounds > 0 ? `; ${stolenRounds} round(s) kept over that limit` : "") +
          `; over all ${everyAttempt.attempts} attempts: ${everyAttempt.writesPerSec} writes/s, ${everyAttempt.readsPerSec} reads/s`,
      );
  }
  const result = {
    writesPerSec: hothot.writesPerSec,
    readsPerSec: hothot.readsPerSec,
    writeP99Ms: hothot.writeP99Ms,
    readP99Ms: hothot.readP99Ms,
    rssIdleMiB: hothot.rssIdleMiB,
    rssLoadedMiB: hothot.rssLoadedMiB,
    errors: hothot.errors,
    warmup: hothot.warmup,
    leaderMoves: hothot.leaderMoves,
    cpuUsPerWrite: hothot.cpuUsPerWrite,
    cpuUsPerWritePerRound: hothot.cpuUsPerWritePerRound,
    steal: hothot.steal,
    etcd: etcd ?? null,
    writeRatio: etcd ? round(hothot.writesPerSec / etcd.writesPerSec) : null,
    readRatio: etcd ? round(hothot.readsPerSec / etcd.readsPerSec) : null,
    writeRatioEveryAttempt: etcd
      ? round(hothot.steal.everyAttempt.writesPerSec / etcd.steal.everyAttempt.writesPerSec)
      : null,
    readRatioEveryAttempt: etcd
      ? round(hothot.steal.everyAttempt.readsPerSec / etcd.steal.everyAttempt.readsPerSec)
      : null,
    /** hothot's CPU time per write against etcd's (below 1: less). */
    cpuPerWriteRatio:
      etcd && hothot.cpuUsPerWrite !== null && etcd.cpuUsPerWrite !== null
        ? round(hothot.cpuUsPerWrite / etcd.cpuUsPerWrite)
        : null,
    writeRatioPerRound: ratios?.write ?? null,
    readRatioPerRound: ratios?.read ?? null,
    rounds,
    connections,
    durationSeconds,
    warmupSeconds,
    valueBytes: value.length,
    maxStealPct: stealPolicy.maxStealPct,
    stealRepeats: stealPolicy.maxRepeats,
    quietWaitSeconds,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`RESULT ${JSON.stringify(result)}`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
