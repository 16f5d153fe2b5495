// The drill's clients: concurrent loops of reads, writes and compare-and-swaps on a few keys.
// Even-numbered clients are pinned to one node each (so reads and writes also go through
// followers, which forward writes); odd-numbered clients use the TypeScript client with every
// node, which follows the leader and retries what is safe to retry. Every value written is
// unique (client number and sequence), so the final state says which write it came from.
import { HothotClient, HothotError } from "../../client/index.ts";
import type { Completion, HistoryRecorder, OpKind } from "./history.ts";
import { casRequest, NOT_WRITTEN_CODES, type NodeApi } from "./node-api.ts";
import { Prng } from "./prng.ts";

export interface Executor {
  read(key: string): Promise<Completion>;
  write(key: string, value: string): Promise<Completion>;
  cas(key: string, from: string | null, to: string): Promise<Completion>;
  close(): Promise<void>;
}

/** A client pinned to one node. */
export function pinnedExecutor(api: NodeApi): Executor {
  return {
    read: (key) => api.read(key),
    write: (key, value) => api.write(key, value),
    cas: (key, from, to) => api.cas(key, from, to),
    close: () => Promise.resolve(),
  };
}

/** The project's client over every node: leader-following, with its own safe retries. */
export function clientExecutor(options: {
  endpoints: readonly string[];
  token?: string;
  requestTimeoutMs: number;
}): Executor {
  const client = new HothotClient({
    endpoints: options.endpoints,
    ...(options.token ? { token: options.token } : {}),
    requestTimeoutMs: options.requestTimeoutMs,
    maxAttempts: 3,
    retryDelayMs: 20,
    retryDelayMaxMs: 200,
  });
  const failed = (error: unknown, write: boolean): Completion => {
    const code = error instanceof HothotError ? error.code : "ERROR";
    // The client throws a retryable error only when every attempt provably wrote nothing
    // (connection refused, NO_LEADER, OVERLOADED); anything else may have been written.
    const notWritten =
      error instanceof HothotError && (error.retryable || NOT_WRITTEN_CODES.has(code));
    return { outcome: !write || notWritten ? "fail" : "unknown", errorCode: code };
  };
  return {
    async read(key) {
      try {
        const kv = await client.get(key);
        return { outcome: "ok", result: kv?.value ?? null };
      } catch (error) {
        return failed(error, false);
      }
    },
    async write(key, value) {
      try {
        await client.put(key, value);
        return { outcome: "ok" };
      } catch (error) {
        return failed(error, true);
      }
    },
    async cas(key, from, to) {
      try {
        const result = await client.txn(casRequest(key, from, to));
        return { outcome: "ok", swapped: result.succeeded };
      } catch (error) {
        return failed(error, true);
      }
    },
    close: () => client.close(),
  };
}

export interface WorkloadOptions {
  readonly seed: number;
  /** Base names of the keys; each epoch uses fresh keys `<base>.e<epoch>`. */
  readonly keys: readonly string[];
  /**
   * Clients move to fresh keys every epoch. Keys never interact, so the checker checks each on
   * its own; short per-key histories with few operations of unknown outcome keep its search
   * small on long drills (the independent-keys technique of Jepsen).
   */
  readonly epochMs: number;
  /** The clients stop starting operations at this time (recorder clock). */
  readonly untilMs: number;
  /** Operations per client at most. */
  readonly maxOpsPerClient: number;
  /** Pause between a client's operations, drawn in [min, max]. */
  readonly thinkMsMin: number;
  readonly thinkMsMax: number;
  readonly clock: () => number;
  readonly stopped: () => boolean;
}

export function epochKey(base: string, timeMs: number, epochMs: number): string {
  return `${base}.e${Math.floor(Math.max(0, timeMs) / epochMs)}`;
}

/** The epoch of a key made by `epochKey`, or -1. */
export function keyEpoch(key: string): number {
  const match = /\.e(\d+)$/.exec(key);
  return match ? Number(match[1]) : -1;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One client's loop. Its choices come from its own PRNG stream of the drill's seed. */
export async function runClient(
  client: number,
  executor: Executor,
  recorder: HistoryRecorder,
  options: WorkloadOptions,
): Promise<void> {
  const prng = Prng.derive(options.seed, 1000 + client);
  // The last value this client saw per key: what its compare-and-swaps expect.
  const seen = new Map<string, string | null>();
  for (let sequence = 0; sequence < options.maxOpsPerClient; sequence++) {
    if (options.clock() >= options.untilMs || options.stopped() || recorder.full) return;
    const key = epochKey(prng.pick(options.keys), options.clock(), options.epochMs);
    const roll = prng.next();
    const kind: OpKind = roll < 0.4 ? "read" : roll < 0.75 ? "write" : "cas";
    const value = `c${client}-${sequence}`;
    if (kind === "read") {
      const record = recorder.invoke(client, "read", key, null);
      const completion = await executor.read(key);
      recorder.complete(record, completion);
      if (completion.outcome === "ok") seen.set(key, completion.result ?? null);
    } else if (kind === "write") {
      const record = recorder.invoke(client, "write", key, value);
      const completion = await executor.write(key, value);
      recorder.complete(record, completion);
      if (completion.outcome === "ok") seen.set(key, value);
    } else {
      const from = seen.get(key) ?? null;
      const record = recorder.invoke(client, "cas", key, value, from);
      const completion = await executor.cas(key, from, value);
      recorder.complete(record, completion);
      if (completion.outcome === "ok" && completion.swapped) seen.set(key, value);
    }
    await sleep(prng.between(options.thinkMsMin, options.thinkMsMax));
  }
}
