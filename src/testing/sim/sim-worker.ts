// Worker-thread entry: runs the chunks of seeds the runner sends and posts the results back.

import { parentPort } from "node:worker_threads";
import type { WorkerRequest } from "./runner.ts";
import { runSimulation, type SimResult } from "./simulation.ts";

const port = parentPort;
if (port === null) throw new Error("sim-worker must run in a worker thread");
port.on("message", (request: WorkerRequest) => {
  const results: SimResult[] = [];
  for (let seed = request.from; seed < request.from + request.count; seed++) {
    results.push(runSimulation({ ...request.options, seed }));
  }
  port.postMessage(results);
});
