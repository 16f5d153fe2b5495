// `hothot check-history FILE…`: checks recorded client histories for linearizability.
// One line per file on stdout: `<file>\t<verdict>\t<ms>`; problems with a file go to stderr.
// Exit status: 1 if any history is not linearizable (a proven violation outranks everything),
// else 2 if any is unknown or unreadable (or the command line is wrong), else 0.
import { readFileSync, statSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  CheckerError,
  type CheckResult,
  checkHistory,
  checkHistoryParallel,
  DEFAULT_TIMEOUT_MS,
  explainResult,
  HISTORY_FORMATS,
  type HistoryFormat,
  MAX_WORKERS,
  type ModelName,
  parseHistory,
  type Verdict,
} from "../testing/linearizability/index.ts";

/** A week; longer budgets are almost certainly a typo. */
const TIMEOUT_MS_MAX = 7 * 24 * 3600 * 1000;
/**
 * Refuse files that cannot be a client history run, instead of reading them into memory. Also
 * well under the engine's longest string (2^29 characters), and above what MAX_OPERATIONS needs.
 */
const FILE_SIZE_BYTES_MAX = 256 * 2 ** 20;

export interface CheckHistoryOptions {
  readonly model?: ModelName;
  readonly format?: HistoryFormat;
  readonly timeoutMs: number;
  readonly explain: boolean;
  /** Worker threads per history (one key per thread); 1 checks in the main thread. */
  readonly jobs: number;
}

export interface FileReport {
  readonly file: string;
  readonly verdict: Verdict;
  readonly elapsedMs: number;
  /** Lines for stdout after the verdict line (explanations). */
  readonly details: readonly string[];
  /** Message for stderr when the file could not be checked. */
  readonly problem: string | null;
}

function parseJobs(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_WORKERS) {
    throw new InvalidArgumentError(
      `expected a whole number of threads between 1 and ${MAX_WORKERS}`,
    );
  }
  return value;
}

function parseTimeoutMs(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0 || value > TIMEOUT_MS_MAX) {
    throw new InvalidArgumentError(
      `expected a whole number of milliseconds between 1 and ${TIMEOUT_MS_MAX}`,
    );
  }
  return value;
}

export async function checkFile(file: string, options: CheckHistoryOptions): Promise<FileReport> {
  const started = performance.now();
  const failed = (problem: string): FileReport => ({
    file,
    verdict: "unknown",
    elapsedMs: performance.now() - started,
    details: [],
    problem,
  });
  let text: string;
  try {
    if (statSync(file).size > FILE_SIZE_BYTES_MAX) {
      return failed(
        `${file}: larger than ${FILE_SIZE_BYTES_MAX / 2 ** 20} MiB; split the history into shorter runs`,
      );
    }
    text = readFileSync(file, "utf8");
  } catch (error) {
    return failed(`${file}: cannot read the file (${(error as Error).message})`);
  }
  let result: CheckResult;
  try {
    const history = parseHistory(text, file, options.format);
    const checkOptions = {
      ...(options.model === undefined ? {} : { model: options.model }),
      timeoutMs: options.timeoutMs,
      minimize: options.explain,
    };
    result =
      options.jobs > 1
        ? await checkHistoryParallel(history, { ...checkOptions, workers: options.jobs })
        : checkHistory(history, checkOptions);
  } catch (error) {
    if (error instanceof CheckerError) {
      return failed(error.message.startsWith(file) ? error.message : `${file}: ${error.message}`);
    }
    throw error;
  }
  return {
    file,
    verdict: result.verdict,
    elapsedMs: performance.now() - started,
    details: options.explain ? explainResult(result) : [],
    problem:
      result.verdict === "unknown" ? `${file}: verdict unknown: ${result.unknownReason}` : null,
  };
}

export function exitCodeFor(reports: readonly FileReport[]): number {
  if (reports.some((report) => report.verdict === "not-linearizable")) return 1;
  if (reports.some((report) => report.verdict === "unknown")) return 2;
  return 0;
}

export function registerCheckHistoryCommand(program: Command): void {
  program
    .command("check-history")
    .description(
      "check recorded client histories for linearizability; prints <file>\\t<verdict>\\t<ms> per file; exit 0 all linearizable, 1 a violation, 2 unknown or unreadable",
    )
    .argument(
      "<files...>",
      "history files (JSON lines, Jepsen register logs or EDN key-value histories)",
    )
    .addOption(
      new Option("--model <model>", "model to check against (default: inferred)").choices([
        "register",
        "kv",
      ]),
    )
    .addOption(
      new Option("--format <format>", "history format (default: inferred)").choices([
        ...HISTORY_FORMATS,
      ]),
    )
    .option(
      "--timeout-ms <ms>",
      "time limit per history; past it the verdict is unknown",
      parseTimeoutMs,
      DEFAULT_TIMEOUT_MS,
    )
    .option("--explain", "on a violation, print the operations that cannot be ordered", false)
    .option(
      "--jobs <n>",
      "worker threads per history, one key per thread (kv histories)",
      parseJobs,
      1,
    )
    // Usage errors exit 2 like unreadable input: exit 1 must keep meaning "a violation was found".
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    })
    .action(async (files: string[], options: CheckHistoryOptions) => {
      const reports: FileReport[] = [];
      // A reader that stops early (`| head`) is not a failure: end quietly.
      process.stdout.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "EPIPE") throw error;
        process.exit(exitCodeFor(reports));
      });
      for (const file of files) {
        const report = await checkFile(file, options);
        reports.push(report);
        process.stdout.write(`${file}\t${report.verdict}\t${Math.round(report.elapsedMs)}\n`);
        for (const line of report.details) process.stdout.write(`${line}\n`);
        if (report.problem !== null)
          process.stderr.write(`hothot check-history: ${report.problem}\n`);
      }
      process.exitCode = exitCodeFor(reports);
    });
}
