// The state machine's share of a write, in one process: a leader's encodeCommand of a put, then
// KvStateMachine.apply of committed batches (LMDB in "async" mode, commits every 100 ms, as a
// node runs it). Every node applies every write, so this cost is paid three times per write in a
// 3-node cluster. CPU time per put (user + system of the whole process, LMDB's writer thread
// included), best and median of several measured rounds after a warm-up.
//
//   npm run bench:apply
//   APPLY_BENCH_BATCH=1 APPLY_BENCH_KEYS=100000 npm run bench:apply
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildProduct } from "./lib/built.ts";
import { envInteger } from "./lib/settings.ts";

type KvModule = typeof import("../src/kv/index.ts");

const batch = envInteger("APPLY_BENCH_BATCH", 12, 1, 100_000);
const keys = envInteger("APPLY_BENCH_KEYS", 1000, 1, 10_000_000);
const valueBytes = envInteger("APPLY_BENCH_VALUE_BYTES", 100, 0, 1 << 20);
const rounds = envInteger("APPLY_BENCH_ROUNDS", 7, 1, 99);
const batchesPerRound = Math.max(1, Math.round(12_000 / batch));

function log(message: string): void {
  process.stderr.write(`[bench:apply] ${message}\n`);
}

for (const [name, value] of Object.entries({ batch, keys, valueBytes, rounds })) {
  if (!Number.isSafeInteger(value) || value < 1) {
    log(`${name} must be a positive integer, got ${value}`);
    process.exit(1);
  }
}

buildProduct(log);
const { KvStateMachine, encodeCommand } = (await import(
  pathToFileURL(join(import.meta.dirname, "../dist/kv/index.js")).href
)) as KvModule;

const dir = mkdtempSync(join(tmpdir(), "hothot-bench-apply-"));
try {
  const kv = KvStateMachine.open({ dir, syncMode: "async", commitIntervalMs: 100 });
  const value = Buffer.alloc(valueBytes, "v");
  let index = kv.appliedIndex();
  let next = 0;
  const run = (batches: number): void => {
    for (let b = 0; b < batches; b++) {
      const entries = [];
      for (let j = 0; j < batch; j++) {
        const command = { type: "put" as const, key: `key-${next++ % keys}`, value };
        entries.push({ index: ++index, data: encodeCommand(command, kv.limits) });
      }
      kv.apply(entries);
    }
  };
  log(`warming up (${batchesPerRound * 3} batches of ${batch} puts)`);
  run(batchesPerRound * 3);
  const perPut: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.cpuUsage();
    run(batchesPerRound);
    const used = process.cpuUsage(started);
    perPut.push((used.user + used.system) / (batchesPerRound * batch));
    // Let the timer-driven LMDB commits of this round happen between rounds.
    await new Promise((resolve) => setTimeout(resolve, 20));
    log(`round ${round + 1}/${rounds}: ${perPut[round]!.toFixed(2)} us of CPU per put`);
  }
  await kv.close();
  perPut.sort((a, b) => a - b);
  const best = Number(perPut[0]!.toFixed(2));
  const median = Number(perPut[Math.floor(perPut.length / 2)]!.toFixed(2));
  console.log(`puts per batch ${batch}, keys ${keys}, value ${valueBytes} B, ${rounds} rounds`);
  console.log(`${"cpu us/put best".padEnd(18)}${"median".padStart(8)}`);
  console.log(`${String(best).padEnd(18)}${String(median).padStart(8)}`);
  const result = { usPerPutBest: best, usPerPutMedian: median, batch, keys, valueBytes, rounds };
  console.log(JSON.stringify(result, null, 2));
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
