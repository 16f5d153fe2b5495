// Hand-made drill histories for the tests of the checks.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { HistoryRecorder, type OpRecord } from "../../../src/testing/chaos/index.ts";

const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");

/** A recorder on a clock the test moves by hand. */
export function manualRecorder(path?: string) {
  let nowMs = 0;
  const recorder = new HistoryRecorder(path, () => nowMs);
  return {
    recorder,
    at(ms: number) {
      nowMs = ms;
    },
  };
}

type Step = [start: number, end: number];

/** Adds one operation that ran from `start` to `end` (ms). */
export function op(
  history: ReturnType<typeof manualRecorder>,
  process: number | string,
  [start, end]: Step,
  operation:
    | { read: string; result: string | null }
    | { write: string; value: string; outcome?: "ok" | "fail" | "unknown" }
    | { cas: string; from: string | null; to: string; swapped: boolean },
): OpRecord {
  history.at(start);
  let record: OpRecord;
  if ("read" in operation) {
    record = history.recorder.invoke(process, "read", operation.read, null);
    history.at(end);
    history.recorder.complete(record, { outcome: "ok", result: operation.result });
  } else if ("write" in operation) {
    record = history.recorder.invoke(process, "write", operation.write, operation.value);
    history.at(end);
    history.recorder.complete(record, { outcome: operation.outcome ?? "ok" });
  } else {
    record = history.recorder.invoke(process, "cas", operation.cas, operation.to, operation.from);
    history.at(end);
    history.recorder.complete(record, { outcome: "ok", swapped: operation.swapped });
  }
  return record;
}

/** Runs the `hothot` CLI from source; SIGINT after `timeoutMs`. */
export function runCli(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    // SIGINT lets the drill heal and clean up its namespaces if it ever overruns.
    const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
    child.on("error", fail);
    child.on("exit", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}
