// Runs a range of seeds, in this thread or spread over worker threads, and summarises them.
// Each seed is independent and deterministic, so the split over workers changes nothing but
// the wall time.

import { Worker } from "node:worker_threads";
import type { Mutation } from "./cluster.ts";
import { runSimulation, type SimOptions, type SimResult } from "./simulation.ts";

export interface RunSeedsOptions {
  readonly from: number;
  readonly seeds: number;
  readonly nodes: 3 | 5;
  readonly ticks: number;
  readonly workers: number;
  readonly faults?: boolean;
  readonly mutation?: Mutation;
  /** Called after each finished seed, in completion order (not seed order with workers). */
  readonly onResult?: (result: SimResult) => void;
}

export interface RunSummary {
  readonly seeds: number;
  readonly violations: number;
  readonly ticks: number;
  readonly nodes: number;
  readonly from: number;
  readonly workers: number;
  readonly simulatedTicks: number;
  readonly elapsedSec: number;
  readonly seedsPerSec: number;
  /** Failing results, in seed order. */
  readonly failures: readonly SimResult[];
}

/** Seeds handed to a worker at once: large enough to amortise messaging, small enough to balance. */
const CHUNK_SEEDS = 8;
export const MAX_WORKERS = 64;

/** Work item sent to a worker thread. */
export interface WorkerRequest {
  readonly from: number;
  readonly count: number;
  readonly options: Omit<SimOptions, "seed" | "sink">;
}

export function validateRunOptions(options: RunSeedsOptions): void {
  if (!Number.isSafeInteger(options.from) || options.from < 0)
    throw new RangeError(`--from must be a non-negative integer, got ${options.from}`);
  if (!Number.isSafeInteger(options.seeds) || options.seeds < 1)
    throw new RangeError(`--seeds must be a positive integer, got ${options.seeds}`);
  if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > MAX_WORKERS) {
    throw new RangeError(
      `--workers must be an integer in [1, ${MAX_WORKERS}], got ${options.workers}`,
    );
  }
}

export async function runSeeds(options: RunSeedsOptions): Promise<RunSummary> {
  validateRunOptions(options);
  const started = performance.now();
  const results: SimResult[] = [];
  const collect = (result: SimResult): void => {
    results.push(result);
    options.onResult?.(result);
  };
  const simOptions = {
    nodes: options.nodes,
    ticks: options.ticks,
    faults: options.faults ?? true,
    ...(options.mutation === undefined ? {} : { mutation: options.mutation }),
  };
  if (options.workers === 1) {
    for (let seed = options.from; seed < options.from + options.seeds; seed++) {
      collect(runSimulation({ ...simOptions, seed }));
    }
  } else {
    await runInWorkers(options, simOptions, collect);
  }
  const elapsedSec = (performance.now() - started) / 1000;
  const failures = results.filter((result) => !result.ok).sort((a, b) => a.seed - b.seed);
  return {
    seeds: results.length,
    violations: failures.length,
    ticks: options.ticks,
    nodes: options.nodes,
    from: options.from,
    workers: options.workers,
    simulatedTicks: results.reduce((sum, result) => sum + result.simulatedTicks, 0),
    elapsedSec: Math.round(elapsedSec * 100) / 100,
    seedsPerSec: Math.round((results.length / Math.max(elapsedSec, 1e-9)) * 10) / 10,
    failures,
  };
}

function startWorker(): Worker {
  if (!import.meta.url.endsWith(".ts"))
    return new Worker(new URL("./sim-worker.js", import.meta.url));
  // Run from source: a worker thread does not inherit tsx's loader hooks, so it registers them
  // itself before importing the TypeScript worker entry.
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./sim-worker.ts", import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
}

async function runInWorkers(
  options: RunSeedsOptions,
  simOptions: WorkerRequest["options"],
  collect: (result: SimResult) => void,
): Promise<void> {
  const end = options.from + options.seeds;
  let next = options.from;
  const workerCount = Math.min(options.workers, Math.ceil(options.seeds / CHUNK_SEEDS));
  const runOne = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = startWorker();
      const send = (): void => {
        if (next >= end) {
          void worker.terminate().then(() => resolve(), reject);
          return;
        }
        const count = Math.min(CHUNK_SEEDS, end - next);
        const request: WorkerRequest = { from: next, count, options: simOptions };
        next += count;
        worker.postMessage(request);
      };
      worker.on("message", (batch: SimResult[]) => {
        for (const result of batch) collect(result);
        send();
      });
      worker.on("error", reject);
      worker.on("exit", (code) => {
        if (code !== 0 && code !== 1)
          reject(new Error(`simulator worker exited with code ${code}`));
      });
      send();
    });
  await Promise.all(Array.from({ length: workerCount }, runOne));
}
