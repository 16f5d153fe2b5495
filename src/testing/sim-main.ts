// `npm run sim`: runs simulator seeds and reports violations. See docs/simulator.md.
//   npm run sim -- --seeds N [--from S] [--nodes 3|5] [--ticks T] [--workers W] [--no-faults]
//   npm run sim -- --seed S [--nodes 3|5] [--ticks T] [--verbose]
// Progress goes to stderr; the last line of stdout is `RESULT {...}`. Exit code 1 on any
// violation, 2 on bad usage.

import { parseArgs } from "node:util";
import {
  formatReport,
  type Mutation,
  replayCommand,
  runSeeds,
  runSimulation,
  type SimResult,
} from "./sim/index.ts";

const MUTATIONS: readonly Mutation[] = [
  "local-reads",
  "lose-log-tail",
  "forget-votes",
  "never-heal",
];

const USAGE = `usage:
  npm run sim -- --seeds N [--from S] [--nodes 3|5] [--ticks T] [--workers W] [--no-faults]
  npm run sim -- --seed S [--nodes 3|5] [--ticks T] [--verbose]
defaults: --from 1 --nodes 3 --ticks 2000 --workers 1
--mutation local-reads|lose-log-tail|forget-votes|never-heal plants a deliberate bug (to see what a violation report looks like)`;

/** Violations printed in full; the rest are listed by seed only. */
const MAX_REPORTS = 5;

class UsageError extends Error {
  readonly code = "USAGE";
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0)
    throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return parsed;
}

function parse() {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string" },
      from: { type: "string" },
      seed: { type: "string" },
      nodes: { type: "string" },
      ticks: { type: "string" },
      workers: { type: "string" },
      verbose: { type: "boolean", default: false },
      "no-faults": { type: "boolean", default: false },
      mutation: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  const nodes = integer("nodes", values.nodes, 3);
  if (nodes !== 3 && nodes !== 5) throw new UsageError(`--nodes must be 3 or 5, got ${nodes}`);
  if (values.seed !== undefined && values.seeds !== undefined)
    throw new UsageError("give either --seed or --seeds, not both");
  if (values.verbose && values.seed === undefined)
    throw new UsageError("--verbose replays one seed: add --seed S");
  const mutation = values.mutation as Mutation | undefined;
  if (mutation !== undefined && !MUTATIONS.includes(mutation)) {
    throw new UsageError(`--mutation must be one of ${MUTATIONS.join(", ")}, got "${mutation}"`);
  }
  return {
    help: values.help,
    single: values.seed === undefined ? undefined : integer("seed", values.seed, 0),
    seeds: integer("seeds", values.seeds, 100),
    from: integer("from", values.from, 1),
    nodes: nodes as 3 | 5,
    ticks: integer("ticks", values.ticks, 2000),
    workers: integer("workers", values.workers, 1),
    verbose: values.verbose,
    faults: !values["no-faults"],
    mutation,
  };
}

function printResultLine(summary: object): void {
  process.stdout.write(`RESULT ${JSON.stringify(summary)}\n`);
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  if (args.single !== undefined) {
    const started = performance.now();
    const result = runSimulation({
      seed: args.single,
      nodes: args.nodes,
      ticks: args.ticks,
      faults: args.faults,
      ...(args.mutation === undefined ? {} : { mutation: args.mutation }),
      ...(args.verbose ? { sink: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    });
    const elapsedSec = (performance.now() - started) / 1000;
    process.stdout.write(`${formatReport(result, args.faults)}\n`);
    process.stdout.write(`stats ${JSON.stringify(result.stats)}\n`);
    printResultLine({
      seeds: 1,
      violations: result.ok ? 0 : 1,
      ticks: args.ticks,
      nodes: args.nodes,
      seed: args.single,
      simulatedTicks: result.simulatedTicks,
      digest: result.digest,
      seedsPerSec: Math.round((1 / elapsedSec) * 10) / 10,
    });
    return result.ok ? 0 : 1;
  }

  let done = 0;
  let failed = 0;
  let lastProgress = performance.now();
  const started = lastProgress;
  const onResult = (result: SimResult): void => {
    done++;
    if (!result.ok) {
      failed++;
      process.stderr.write(`seed ${result.seed}: ${result.violation?.invariant} violated\n`);
    }
    const now = performance.now();
    if (now - lastProgress > 2000 || done === args.seeds) {
      lastProgress = now;
      const rate = done / ((now - started) / 1000);
      process.stderr.write(
        `${done}/${args.seeds} seeds, ${failed} violation(s), ${rate.toFixed(1)} seeds/s\n`,
      );
    }
  };
  const summary = await runSeeds({
    from: args.from,
    seeds: args.seeds,
    nodes: args.nodes,
    ticks: args.ticks,
    workers: Math.max(1, args.workers),
    faults: args.faults,
    ...(args.mutation === undefined ? {} : { mutation: args.mutation }),
    onResult,
  });
  for (const failure of summary.failures.slice(0, MAX_REPORTS)) {
    process.stdout.write(`\n${formatReport(failure, args.faults)}\n`);
  }
  if (summary.failures.length > MAX_REPORTS) {
    process.stdout.write(
      `\n${summary.failures.length - MAX_REPORTS} more violation(s), replay each with:\n`,
    );
    for (const failure of summary.failures.slice(MAX_REPORTS)) {
      process.stdout.write(
        `  ${failure.violation?.invariant}: ${replayCommand(failure, args.faults)}\n`,
      );
    }
  }
  const { failures: _failures, ...figures } = summary;
  printResultLine(figures);
  return summary.violations === 0 ? 0 : 1;
}

process.exitCode = await main();
