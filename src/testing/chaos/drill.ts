// A drill: start a cluster of real node processes, run clients against it while faults fire on a
// seeded schedule, heal, wait for convergence, read the final state, and check the history.
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LOG_LEVELS, LocalCluster, type LogLevel } from "../../node/index.ts";
import { checkHistory, explainResult, parseHistory } from "../linearizability/index.ts";
import {
  availability,
  checkFinalState,
  compareDigests,
  countOutcomes,
  effectiveLeader,
  failoverGapMs,
  percentile,
} from "./analysis.ts";
import { DrillError } from "./errors.ts";
import { type FaultContext, healAll, pollStatuses, runFault, sleepUntil } from "./faults.ts";
import { HistoryRecorder } from "./history.ts";
import { LbProcess } from "./lb-process.ts";
import { NetworkLab, networkLabAvailability } from "./network-lab.ts";
import { NodeApi } from "./node-api.ts";
import {
  type DrillReport,
  type FaultReport,
  judgeDrill,
  type LinearizableVerdict,
  type NodeCrash,
} from "./report.ts";
import { buildSchedule, describeFault, FAULT_KINDS, type FaultKind } from "./schedule.ts";
import { clientExecutor, type Executor, keyEpoch, pinnedExecutor, runClient } from "./workload.ts";

/** The nodes' log levels, as the node configuration takes them. */
export const DRILL_LOG_LEVELS = LOG_LEVELS;
export type DrillLogLevel = LogLevel;

export interface DrillOptions {
  readonly nodes: number;
  readonly durationMs: number;
  readonly faults: readonly FaultKind[];
  readonly clients: number;
  readonly seed: number;
  /** Where to put the cluster, history and report; a new temporary directory when absent. */
  readonly dir?: string;
  readonly keys?: number;
  /** Clients move to fresh keys this often (see WorkloadOptions.epochMs). */
  readonly keyEpochMs?: number;
  /** A leader followed by a majority must exist this soon after every fault. */
  readonly leaderBoundMs?: number;
  readonly checkTimeoutMs?: number;
  readonly convergeTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /**
   * Route every fourth client through a `hothot lb --cluster` process. The load balancer sends
   * no bearer token, so with namespaces the nodes run with `insecure: true` instead of a token.
   */
  readonly lb?: boolean;
  /** The nodes' log level (default "info"); "debug" also logs role changes and peer redials. */
  readonly logLevel?: DrillLogLevel;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export const DRILL_DEFAULTS = {
  nodes: 3,
  durationMs: 60_000,
  clients: 8,
  keys: 4,
  keyEpochMs: 20_000,
  leaderBoundMs: 15_000,
  checkTimeoutMs: 120_000,
  convergeTimeoutMs: 60_000,
  requestTimeoutMs: 3000,
} as const;
export const DRILL_LIMITS = {
  clientsMax: 64,
  durationMsMin: 5_000,
  durationMsMax: 24 * 3600 * 1000,
  keysMax: 64,
} as const;
/** Operations per client at most, whatever the duration: bounds a client loop by count. */
const OPS_PER_CLIENT_MAX = 1_000_000;
const CLUSTER_START_TIMEOUT_MS = 60_000;
const NETNS_BASE_PORT = 7000;

export function validateDrillOptions(options: DrillOptions): void {
  const fail = (message: string): never => {
    throw new DrillError("INVALID_OPTION", message);
  };
  if (options.nodes !== 3 && options.nodes !== 5)
    fail(`--nodes must be 3 or 5, got ${options.nodes}`);
  if (
    !Number.isSafeInteger(options.clients) ||
    options.clients < 1 ||
    options.clients > DRILL_LIMITS.clientsMax
  )
    fail(
      `--clients must be a whole number from 1 to ${DRILL_LIMITS.clientsMax}, got ${options.clients}`,
    );
  if (
    !(
      options.durationMs >= DRILL_LIMITS.durationMsMin &&
      options.durationMs <= DRILL_LIMITS.durationMsMax
    )
  )
    fail(`--duration must be from 5s to 24h, got ${options.durationMs} ms`);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0 || options.seed > 0xffffffff)
    fail(`--seed must be a whole number from 0 to ${0xffffffff}, got ${options.seed}`);
  for (const kind of options.faults) {
    if (!FAULT_KINDS.includes(kind))
      fail(`unknown fault kind ${JSON.stringify(kind)}; use ${FAULT_KINDS.join(",")}`);
  }
  const keys = options.keys ?? DRILL_DEFAULTS.keys;
  if (!Number.isSafeInteger(keys) || keys < 1 || keys > DRILL_LIMITS.keysMax)
    fail(`keys must be from 1 to ${DRILL_LIMITS.keysMax}`);
  if (options.logLevel !== undefined && !DRILL_LOG_LEVELS.includes(options.logLevel))
    fail(
      `--log-level must be one of ${DRILL_LOG_LEVELS.join(", ")}, got ${JSON.stringify(options.logLevel)}`,
    );
}

/** The command that repeats this plan. */
export function drillCommand(options: DrillOptions): string {
  const parts = [
    "hothot drill",
    `--nodes ${options.nodes}`,
    `--duration ${Math.round(options.durationMs / 1000)}s`,
    `--faults ${options.faults.length > 0 ? options.faults.join(",") : "none"}`,
    `--clients ${options.clients}`,
    `--seed ${options.seed}`,
  ];
  if (options.lb) parts.push("--lb");
  if (options.logLevel !== undefined && options.logLevel !== "info")
    parts.push(`--log-level ${options.logLevel}`);
  return parts.join(" ");
}

function prepareDir(dir: string | undefined): string {
  if (dir === undefined) return mkdtempSync(join(tmpdir(), "hothot-drill-"));
  const path = resolve(dir);
  if (existsSync(path) && readdirSync(path).length > 0) {
    throw new DrillError(
      "DIRECTORY_NOT_EMPTY",
      `${path} is not empty; name a new or empty directory with --dir`,
    );
  }
  mkdirSync(path, { recursive: true });
  return path;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    const ports = Array.from({ length: nodes }, (_, index) => [
      base + index + 1,
      base + 101 + index,
    ]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new DrillError(
    "CLUSTER_NOT_READY",
    "no free range of loopback ports found for the cluster",
  );
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  validateDrillOptions(options);
  const started = Date.now();
  // The history's clock starts with the load (reset below), so that times in the history and the
  // report count from the first operation; progress lines count from the start of the drill.
  let t0 = performance.now();
  const clock = () => performance.now() - t0;
  const log = (line: string) =>
    options.progress?.(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
  const aborted = () => options.signal?.aborted === true;
  const leaderBoundMs = options.leaderBoundMs ?? DRILL_DEFAULTS.leaderBoundMs;
  const requestTimeoutMs = options.requestTimeoutMs ?? DRILL_DEFAULTS.requestTimeoutMs;
  const keys = Array.from(
    { length: options.keys ?? DRILL_DEFAULTS.keys },
    (_, index) => `k${index}`,
  );

  const dir = prepareDir(options.dir);
  const historyFile = join(dir, "history.jsonl");
  const recorder = new HistoryRecorder(historyFile, clock);
  // Partition and loss need namespaces; without them those kinds are refused and the rest run.
  const refusedFaultKinds: Array<{ kind: FaultKind; reason: string }> = [];
  let kinds = [...new Set(options.faults)];
  const wantsNetwork = kinds.some((kind) => kind === "partition" || kind === "loss");
  let lab: NetworkLab | undefined;
  if (wantsNetwork) {
    const availability = networkLabAvailability();
    let reason = availability.reason;
    if (availability.available) {
      try {
        lab = NetworkLab.create(options.nodes, options.seed);
      } catch (error) {
        reason = (error as Error).message;
      }
    }
    if (!lab) {
      for (const kind of kinds.filter((kind) => kind === "partition" || kind === "loss")) {
        refusedFaultKinds.push({ kind, reason });
        log(`refusing ${kind} faults: ${reason}`);
      }
      kinds = kinds.filter((kind) => kind !== "partition" && kind !== "loss");
    }
  }
  const schedule = buildSchedule({
    seed: options.seed,
    durationMs: options.durationMs,
    nodes: options.nodes,
    kinds,
  });
  log(
    `drill in ${dir}: ${options.nodes} nodes, ${options.clients} clients, ${schedule.length} faults planned (${kinds.join(",") || "none"}), seed ${options.seed}`,
  );

  const crashes: NodeCrash[] = [];
  const token = lab && !options.lb ? randomBytes(24).toString("hex") : undefined;
  const cluster = new LocalCluster({
    dir: join(dir, "cluster"),
    nodes: options.nodes,
    basePort: lab ? NETNS_BASE_PORT : await freeBasePort(options.nodes),
    autoRestart: false,
    ...(lab
      ? {
          hosts: Array.from({ length: options.nodes }, (_, index) => lab!.address(index + 1)),
          commandPrefix: (id: number) => lab!.prefix(id),
        }
      : {}),
    nodeOverrides: {
      log: { level: options.logLevel ?? "info", pretty: false },
      ...(token ? { token } : {}),
      ...(lab && options.lb ? { insecure: true } : {}),
    },
    onEvent: (event) => {
      // A node that exits without being told to is a finding in its own right.
      if (event.type !== "exited" || event.expected) return;
      const how = event.signal ? `signal ${event.signal}` : `code ${event.code}`;
      crashes.push({
        node: event.id,
        atMs: clock(),
        how,
        lastError: lastFatalLine(cluster, event.id),
      });
      log(`node ${event.id} EXITED ON ITS OWN (${how}); see ${cluster.node(event.id).logPath}`);
    },
  });
  const apiOptions = { requestTimeoutMs, ...(token ? { token } : {}) };
  const statusApis = new Map<number, NodeApi>();
  const executors: Executor[] = [];
  const pinnedApis: NodeApi[] = [];
  const paused = new Set<number>();
  let lb: LbProcess | undefined;
  let lbUrl: string | null = null;
  let loadStartedAt: string | null = null;
  // A drill killed by a second Ctrl-C still removes its namespaces and stops its nodes.
  const emergency = () => {
    for (const node of cluster.nodes) {
      if (node.pid === undefined) continue;
      try {
        process.kill(node.pid, "SIGCONT");
        process.kill(node.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    lb?.killNow();
    lab?.cleanup();
  };
  process.once("exit", emergency);
  const faultReports: FaultReport[] = [];
  const context: FaultContext = {
    cluster,
    lab,
    apis: statusApis,
    clock,
    aborted,
    leaderBoundMs,
    paused,
    log,
  };
  let convergence = { converged: false, diverged: false, detail: "not reached", elapsedMs: 0 };
  const finalValues = new Map<string, string | null>();
  const finalProblems: string[] = [];
  const inconclusive: string[] = [];
  try {
    await cluster.start();
    for (const node of cluster.nodes)
      statusApis.set(node.id, new NodeApi(node.api, { ...apiOptions, requestTimeoutMs: 1000 }));
    const leaderDeadline = clock() + CLUSTER_START_TIMEOUT_MS;
    while (effectiveLeader(await pollStatuses(context), options.nodes, new Set()) === undefined) {
      if (clock() > leaderDeadline || aborted()) {
        throw new DrillError(
          "CLUSTER_NOT_READY",
          `the cluster elected no leader within ${CLUSTER_START_TIMEOUT_MS} ms; see the logs in ${join(dir, "cluster", "logs")}`,
        );
      }
      await sleep(100);
    }
    if (options.lb) {
      lb = await LbProcess.start(
        cluster.nodes.map((node) => node.api),
        join(dir, "cluster", "logs", "lb.log"),
      );
      lbUrl = lb.url;
      log(`load balancer at ${lb.url} (pid ${lb.pid}); clients 3, 7, … go through it`);
    }
    log("cluster up, leader elected; starting clients");

    t0 = performance.now();
    loadStartedAt = new Date().toISOString();
    const loadStartMs = clock();
    const untilMs = loadStartMs + options.durationMs;
    const endpoints = cluster.nodes.map((node) => node.api);
    const clientRuns: Promise<void>[] = [];
    for (let client = 0; client < options.clients; client++) {
      let executor: Executor;
      if (lb && client % 4 === 3) {
        executor = clientExecutor({ endpoints: [lb.url], requestTimeoutMs });
      } else if (client % 2 === 0) {
        const node = cluster.nodes[(client / 2) % options.nodes]!;
        const api = new NodeApi(node.api, apiOptions);
        pinnedApis.push(api);
        executor = pinnedExecutor(api);
      } else {
        executor = clientExecutor({ endpoints, requestTimeoutMs, ...(token ? { token } : {}) });
      }
      executors.push(executor);
      clientRuns.push(
        runClient(client, executor, recorder, {
          seed: options.seed,
          keys,
          epochMs: options.keyEpochMs ?? DRILL_DEFAULTS.keyEpochMs,
          untilMs,
          maxOpsPerClient: OPS_PER_CLIENT_MAX,
          thinkMsMin: 5,
          thinkMsMax: 30,
          clock,
          stopped: aborted,
        }),
      );
    }
    const progressTimer = setInterval(() => {
      const counts = countOutcomes(recorder.records).all;
      log(
        `ops ${recorder.records.length}: ok ${counts.ok}, fail ${counts.fail}, unknown ${counts.unknown}`,
      );
    }, 5000);
    try {
      for (const fault of schedule) {
        await sleepUntil(clock, loadStartMs + fault.atMs, aborted);
        if (aborted()) break;
        // A node that crashed comes back, as a supervisor would bring it back, before the next fault.
        for (const node of cluster.nodes) {
          if (cluster.isRunning(node.id)) continue;
          log(`restarting node ${node.id}, which exited on its own`);
          cluster.restart(node.id);
        }
        const description = describeFault(fault);
        log(`fault ${fault.index}: ${description}`);
        const atMs = clock();
        const outcome = await runFault(context, fault);
        const leaderWithinBound = outcome.leaderAfterMs !== null;
        log(
          `fault ${fault.index} reverted [node ${outcome.nodes.join(",")}]; leader ${leaderWithinBound ? `after ${Math.round(outcome.leaderAfterMs!)} ms` : `NOT within ${leaderBoundMs} ms`}${outcome.problems.length > 0 ? `; ${outcome.problems.join("; ")}` : ""}`,
        );
        faultReports.push({
          index: fault.index,
          kind: fault.kind,
          description: outcome.how ? `${description} (${outcome.how})` : description,
          nodes: outcome.nodes,
          atMs,
          holdMs: fault.holdMs,
          gapMs: null,
          leaderAfterMs: outcome.leaderAfterMs,
          leaderWithinBound,
          problems: outcome.problems,
        });
      }
      await Promise.all(clientRuns);
    } finally {
      clearInterval(progressTimer);
    }
    log(`load done: ${recorder.records.length} operations; healing and waiting for convergence`);
    finalProblems.push(...healAll(context));

    // Convergence: every node at one applied index with one digest.
    const convergeStartMs = clock();
    const convergeTimeoutMs = options.convergeTimeoutMs ?? DRILL_DEFAULTS.convergeTimeoutMs;
    let detail = "no answer yet";
    while (!aborted()) {
      const samples = await Promise.all(
        cluster.nodes.map(async (node) => ({
          node: node.id,
          digest: await statusApis.get(node.id)!.digest(),
        })),
      );
      const verdict = compareDigests(samples);
      if (verdict.state === "converged") {
        convergence = {
          converged: true,
          diverged: false,
          detail: `all nodes at applied index ${verdict.appliedIndex}, digest ${verdict.sha256.slice(0, 12)}`,
          elapsedMs: clock() - convergeStartMs,
        };
        break;
      }
      if (verdict.state === "diverged") {
        const digests = verdict.digests
          .map((entry) => `node ${entry.node} ${entry.sha256.slice(0, 12)}`)
          .join(", ");
        convergence = {
          converged: false,
          diverged: true,
          detail: `different digests at applied index ${verdict.appliedIndex}: ${digests}`,
          elapsedMs: clock() - convergeStartMs,
        };
        break;
      }
      detail = verdict.reason;
      if (clock() - convergeStartMs > convergeTimeoutMs) {
        convergence = {
          converged: false,
          diverged: false,
          detail: `not converged within ${convergeTimeoutMs} ms: ${detail}`,
          elapsedMs: clock() - convergeStartMs,
        };
        break;
      }
      await sleep(250);
    }
    log(`convergence: ${convergence.detail}`);

    // Final reads through every node, recorded in the history so the checker sees them too.
    const finalApis = cluster.nodes.map((node) => ({
      id: node.id,
      api: new NodeApi(node.api, apiOptions),
    }));
    pinnedApis.push(...finalApis.map((entry) => entry.api));
    // Every key written or read: through every node for the last epoch's keys, through one node
    // (in turn) for older ones, so that a long drill's final reads stay few.
    const usedKeys = [
      ...new Set(
        recorder.records
          .filter((record) => typeof record.process === "number")
          .map((record) => record.key),
      ),
    ].sort();
    const lastEpoch = Math.max(-1, ...usedKeys.map(keyEpoch));
    for (const [index, key] of usedKeys.entries()) {
      const readers =
        keyEpoch(key) === lastEpoch ? finalApis : [finalApis[index % finalApis.length]!];
      for (const { id, api } of readers) {
        for (let attempt = 0; attempt < 10 && !aborted(); attempt++) {
          const record = recorder.invoke(`final-${id}`, "read", key, null);
          const completion = await api.read(key);
          recorder.complete(record, completion);
          if (completion.outcome === "ok") {
            if (!finalValues.has(key)) finalValues.set(key, completion.result ?? null);
            break;
          }
          if (attempt === 9)
            finalProblems.push(
              `node ${id} could not read ${key} at the end: ${completion.errorCode}`,
            );
          await sleep(300);
        }
      }
      if (!finalValues.has(key)) inconclusive.push(`no node answered a final read of ${key}`);
    }
  } finally {
    await Promise.all([
      ...executors.map((executor) => executor.close()),
      ...pinnedApis.map((api) => api.close()),
      ...[...statusApis.values()].map((api) => api.close()),
    ]);
    healAll(context);
    await lb?.stop();
    await cluster.stop();
    lab?.cleanup();
    process.removeListener("exit", emergency);
    recorder.close();
  }
  if (aborted())
    throw new DrillError(
      "INTERRUPTED",
      `the drill was interrupted; the partial history is in ${historyFile}`,
    );

  log("checking the history");
  const records = recorder.records;
  const history = parseHistory(readFileSync(historyFile, "utf8"), historyFile, "jsonl");
  const checked = checkHistory(history, {
    model: "kv",
    timeoutMs: options.checkTimeoutMs ?? DRILL_DEFAULTS.checkTimeoutMs,
    minimize: true,
  });
  const linearizable: LinearizableVerdict =
    checked.verdict === "linearizable"
      ? true
      : checked.verdict === "not-linearizable"
        ? false
        : "unknown";
  const finalState = checkFinalState(records, finalValues);
  const loadRecords = records.filter((record) => typeof record.process === "number");
  for (const [index, fault] of faultReports.entries()) {
    const next = faultReports[index + 1];
    faultReports[index] = {
      ...fault,
      gapMs: failoverGapMs(loadRecords, fault.atMs, next?.atMs ?? Infinity),
    };
  }
  const gaps = faultReports
    .map((fault) => fault.gapMs)
    .filter((gap): gap is number => gap !== null);
  const counts = countOutcomes(loadRecords);
  const slowLeaders = faultReports
    .filter((fault) => !fault.leaderWithinBound)
    .map((fault) => fault.index);
  const judged = judgeDrill({
    linearizable,
    unknownReason: checked.unknownReason,
    lostAckedWrites: finalState.lost.length,
    unexplainedKeys: finalState.unexplained.length,
    convergence,
    leaderBoundMs,
    slowLeaderFaults: slowLeaders,
    crashes,
    faultsWithoutWrite: faultReports
      .filter((fault) => fault.gapMs === null)
      .map((fault) => fault.index),
  });
  const violations = judged.violations;
  inconclusive.push(...judged.inconclusive);

  const report: DrillReport = {
    version: 1,
    seed: options.seed,
    nodes: options.nodes,
    clients: options.clients,
    keys,
    keyEpochMs: options.keyEpochMs ?? DRILL_DEFAULTS.keyEpochMs,
    durationMs: options.durationMs,
    faultKinds: kinds,
    refusedFaultKinds,
    network: lab
      ? `network namespaces ${lab.namespace(1).replace(/n1$/, "n*")} on bridge ${lab.bridge} (10.77.${lab.octet}.0/24, ${lab.netem ? "netem" : "no netem"})`
      : "loopback",
    loadBalancer: lbUrl,
    dir,
    historyFile,
    command: drillCommand(options),
    startedAt: new Date(started).toISOString(),
    loadStartedAt,
    elapsedMs: Date.now() - started,
    faults: faultReports,
    crashes,
    ops: {
      total: loadRecords.length,
      outcomes: counts.all,
      byKind: counts.byKind,
      errorCodes: counts.errorCodes,
    },
    availability: availability(loadRecords),
    checks: {
      linearizability: {
        verdict: checked.verdict,
        elapsedMs: checked.elapsedMs,
        details: checked.verdict === "linearizable" ? [] : explainResult(checked),
      },
      finalState: {
        finalValues: Object.fromEntries(finalValues),
        lost: finalState.lost,
        unexplained: finalState.unexplained,
        problems: finalProblems,
      },
      convergence,
      leaderBound: { boundMs: leaderBoundMs, violations: slowLeaders },
    },
    result: {
      linearizable,
      lostAckedWrites: finalState.lost.length,
      converged: convergence.converged,
      faults: faultReports.length,
      gapP50Ms: round(percentile(gaps, 0.5)),
      gapMaxMs: round(gaps.length > 0 ? Math.max(...gaps) : null),
      ops: loadRecords.length,
      crashes: crashes.length,
    },
    violations,
    inconclusive,
  };
  return report;
}

/** The node's last fatal or error log line (pino levels 50 and 60), for the report. */
function lastFatalLine(cluster: LocalCluster, id: number): string | null {
  const lines = cluster
    .readLog(id)
    .split("\n")
    .filter((line) => /"level":(50|60)/.test(line));
  const last = lines.at(-1);
  if (last === undefined) return null;
  try {
    const parsed = JSON.parse(last) as { msg?: string; error?: string };
    return `${parsed.msg ?? ""}${parsed.error ? `: ${parsed.error}` : ""}`.slice(0, 500);
  } catch {
    return last.slice(0, 500);
  }
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value);
}

/** Writes report.json and report.txt beside the history. */
export function saveReport(report: DrillReport, text: string): void {
  writeFileSync(join(report.dir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(report.dir, "report.txt"), text);
}
