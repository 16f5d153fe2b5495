// Worker-thread entry: runs the search on one part of a history per message.
import { parentPort } from "node:worker_threads";
import { searchPartition } from "./search.ts";
import type { Operation, Value } from "./types.ts";

export interface PartitionTask {
  readonly index: number;
  readonly operations: readonly Operation[];
  readonly initialValue: Value;
  /** Remaining budget; each thread has its own clock origin, so a deadline would not transfer. */
  readonly remainingMs: number;
  readonly maxCacheBytes: number;
}

export type PartitionReply =
  | { readonly index: number; readonly kind: "linearizable" }
  | { readonly index: number; readonly kind: "timeout" }
  | { readonly index: number; readonly kind: "cache-limit"; readonly message: string }
  | {
      readonly index: number;
      readonly kind: "violation";
      /** Operation ids of the longest linearizable prefix, in order. */
      readonly prefixIds: readonly number[];
      readonly stateAfterPrefix: Value;
    };

const port = parentPort;
if (port === null) throw new Error("partition-worker.ts runs only as a worker thread");
port.on("message", (task: PartitionTask) => {
  const outcome = searchPartition(task.operations, task.initialValue, {
    deadline: performance.now() + task.remainingMs,
    maxCacheBytes: task.maxCacheBytes,
  });
  let reply: PartitionReply;
  switch (outcome.kind) {
    case "violation":
      reply = {
        index: task.index,
        kind: "violation",
        prefixIds: outcome.prefix.map((operation) => operation.id),
        stateAfterPrefix: outcome.stateAfterPrefix,
      };
      break;
    case "cache-limit":
      reply = { index: task.index, kind: "cache-limit", message: outcome.message };
      break;
    case "timeout":
      reply = { index: task.index, kind: "timeout" };
      break;
    case "linearizable":
      reply = { index: task.index, kind: "linearizable" };
      break;
  }
  port.postMessage(reply);
});
