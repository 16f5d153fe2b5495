// Checks the independent parts of a history (one per key) in worker threads. Worth it for long
// map histories with several busy keys on a machine with idle cores; for a single key, or a
// small history, starting threads costs more than it saves and `checkHistory` is the better call.
import { Worker } from "node:worker_threads";
import { type CheckOptions, checkInTurn, prepareCheck } from "./check.ts";
import type { PartitionReply, PartitionTask } from "./partition-worker.ts";
import type { CheckResult, History, Operation } from "./types.ts";

/** More threads than this buys nothing on the machines this runs on and costs memory per thread. */
export const MAX_WORKERS = 64;

export interface ParallelCheckOptions extends CheckOptions {
  /** Worker threads to use, at most one per part; 1 checks in this thread. */
  readonly workers: number;
}

// Running from source (tsx) the worker is a .ts file, from the build a .js file.
const workerUrl = new URL(
  `./partition-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
  import.meta.url,
);

function startWorker(): Worker {
  if (!workerUrl.pathname.endsWith(".ts")) return new Worker(workerUrl);
  // From source, threads do not inherit the TypeScript loader of the main thread: register it
  // in the thread before loading the worker module.
  const loader = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(workerUrl.href);
  return new Worker(
    `(async () => { (await import(${loader})).register(); await import(${entry}); })();`,
    { eval: true },
  );
}

export async function checkHistoryParallel(
  history: History,
  options: ParallelCheckOptions,
): Promise<CheckResult> {
  if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > MAX_WORKERS) {
    throw new RangeError(
      `workers must be an integer from 1 to ${MAX_WORKERS}, got ${options.workers}`,
    );
  }
  const check = prepareCheck(history, options);
  const workerCount = Math.min(options.workers, check.parts.length);
  if (workerCount <= 1) return checkInTurn(check);

  const workers = Array.from({ length: workerCount }, startWorker);
  return new Promise<CheckResult>((resolve, reject) => {
    let next = 0;
    let active = 0;
    let settled = false;
    let unknownReason: string | null = null;
    const settle = (outcome: () => CheckResult): void => {
      if (settled) return;
      settled = true;
      for (const worker of workers) void worker.terminate();
      try {
        resolve(outcome());
      } catch (error) {
        reject(error);
      }
    };
    const dispatch = (worker: Worker): void => {
      if (next >= check.parts.length) {
        if (active === 0) settle(() => check.finish(unknownReason));
        return;
      }
      const index = next++;
      active++;
      const task: PartitionTask = {
        index,
        operations: check.parts[index]!.operations,
        initialValue: check.initialValue,
        remainingMs: check.deadline - performance.now(),
        maxCacheBytes: check.maxCacheBytes,
      };
      worker.postMessage(task);
    };
    for (const worker of workers) {
      worker.on("message", (reply: PartitionReply) => {
        active--;
        if (settled) return;
        const part = check.parts[reply.index]!;
        if (reply.kind === "violation") {
          const byId = new Map<number, Operation>(
            part.operations.map((operation) => [operation.id, operation]),
          );
          const prefix = reply.prefixIds.map((id) => byId.get(id)!);
          settle(() =>
            check.violation(part, {
              kind: "violation",
              prefix,
              stateAfterPrefix: reply.stateAfterPrefix,
            }),
          );
          return;
        }
        if (reply.kind === "timeout" || reply.kind === "cache-limit") {
          unknownReason ??= check.unknownReason(part, reply);
        }
        dispatch(worker);
      });
      worker.on("error", (error) => {
        if (settled) return;
        settled = true;
        for (const other of workers) void other.terminate();
        reject(error);
      });
      dispatch(worker);
    }
  });
}
