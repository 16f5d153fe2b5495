// `hothot drill`: runs a chaos drill against a cluster of real node processes it starts itself
// (see docs/drill.md). Progress goes to stderr; the report to stdout (text, or JSON with --json);
// the last line is `RESULT {...}`. Exit 0 when every check passed, 1 on a violation, 2 when the
// run proved nothing (a check could not finish) or the command line is wrong.
import { randomInt } from "node:crypto";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  DRILL_DEFAULTS,
  DRILL_LOG_LEVELS,
  DrillError,
  type DrillLogLevel,
  exitCode,
  FAULT_KINDS,
  type FaultKind,
  formatReport,
  resultLine,
  runDrill,
  saveReport,
} from "../testing/chaos/index.ts";
import { integerOption } from "./output.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "5m", "1h", "1500ms"; a bare number is seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match)
    throw new InvalidArgumentError(
      `expected a duration such as 60s, 5m or 1h, got ${JSON.stringify(text)}`,
    );
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? "s"]!;
  if (ms < 5000 || ms > 24 * 3_600_000)
    throw new InvalidArgumentError("the duration must be from 5s to 24h");
  return Math.round(ms);
}

export function parseFaults(text: string): FaultKind[] {
  if (text.trim() === "none") return [];
  const kinds = text
    .split(",")
    .map((kind) => kind.trim())
    .filter((kind) => kind !== "");
  if (kinds.length === 0)
    throw new InvalidArgumentError(
      `expected a comma-separated list of ${FAULT_KINDS.join(",")} (or none)`,
    );
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new InvalidArgumentError(
        `unknown fault kind ${JSON.stringify(kind)}; choose from ${FAULT_KINDS.join(",")} (or none)`,
      );
    }
  }
  return [...new Set(kinds)] as FaultKind[];
}

function parseNodes(text: string): number {
  if (text !== "3" && text !== "5") throw new InvalidArgumentError("expected 3 or 5");
  return Number(text);
}

interface DrillFlags {
  nodes: number;
  duration: number;
  faults: FaultKind[];
  clients: number;
  seed?: number;
  json: boolean;
  dir?: string;
  keys: number;
  leaderBoundMs: number;
  checkTimeoutMs: number;
  lb: boolean;
  logLevel: DrillLogLevel;
}

export function registerDrillCommand(program: Command): void {
  program
    .command("drill")
    .description(
      "start a local cluster, run clients against it under seeded faults (kill -9, SIGSTOP, partitions, packet loss), then check the history: linearizable, no acknowledged write lost, all nodes converged",
    )
    .option("--nodes <n>", "cluster size, 3 or 5", parseNodes, DRILL_DEFAULTS.nodes)
    .addOption(
      new Option("--duration <time>", "how long the clients and faults run, e.g. 60s, 5m")
        .argParser(parseDuration)
        .default(DRILL_DEFAULTS.durationMs, "60s"),
    )
    .addOption(
      new Option(
        "--faults <kinds>",
        `fault kinds, comma-separated, or none (partition and loss need root)`,
      )
        .argParser(parseFaults)
        .default([...FAULT_KINDS], FAULT_KINDS.join(",")),
    )
    .option("--clients <n>", "concurrent clients", integerOption(1, 64), DRILL_DEFAULTS.clients)
    .option(
      "--seed <n>",
      "seed of the fault schedule and the clients' choices (default: random)",
      integerOption(0, 0xffffffff),
    )
    .option(
      "--lb",
      "send every fourth client through a `hothot lb --cluster` process (nodes then run insecure instead of with a token)",
      false,
    )
    .option("--json", "print the report as JSON instead of text", false)
    .option(
      "--dir <dir>",
      "directory for the cluster, history.jsonl and the report (default: a new temporary directory)",
    )
    .option("--keys <n>", "keys the clients use", integerOption(1, 64), DRILL_DEFAULTS.keys)
    .option(
      "--leader-bound-ms <ms>",
      "a leader must be followed by a majority this soon after each fault",
      integerOption(100, 3_600_000),
      DRILL_DEFAULTS.leaderBoundMs,
    )
    .option(
      "--check-timeout-ms <ms>",
      "time limit of the linearizability check (past it: unknown)",
      integerOption(1000, 86_400_000),
      DRILL_DEFAULTS.checkTimeoutMs,
    )
    .addOption(
      new Option(
        "--log-level <level>",
        "the nodes' log level (debug also logs role changes and peer redials)",
      )
        .choices(DRILL_LOG_LEVELS)
        .default("info"),
    )
    .action(async (flags: DrillFlags) => {
      const controller = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts === 1) {
          process.stderr.write(
            "interrupted: stopping clients, healing faults and cleaning up (again to quit at once)\n",
          );
          controller.abort();
        } else {
          process.exit(130);
        }
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const report = await runDrill({
          nodes: flags.nodes,
          durationMs: flags.duration,
          faults: flags.faults,
          clients: flags.clients,
          seed: flags.seed ?? randomInt(0, 2 ** 32 - 1),
          keys: flags.keys,
          leaderBoundMs: flags.leaderBoundMs,
          checkTimeoutMs: flags.checkTimeoutMs,
          lb: flags.lb,
          logLevel: flags.logLevel,
          ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
          progress: (line) => process.stderr.write(`${line}\n`),
          signal: controller.signal,
        });
        const text = formatReport(report);
        saveReport(report, text);
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : text);
        process.stdout.write(`${resultLine(report.result)}\n`);
        process.exitCode = exitCode(report);
      } catch (error) {
        const prefix = error instanceof DrillError ? `${error.code}: ` : "";
        process.stderr.write(`error: ${prefix}${(error as Error).message}\n`);
        process.exitCode = 2;
      } finally {
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
      }
    });
}
