import assert from "node:assert/strict";
import { test } from "node:test";
import { runSeeds, runSimulation } from "../../../src/testing/sim/index.ts";

test("the same seed replays the same run: identical trace digest, ticks and figures", () => {
  for (const nodes of [3, 5] as const) {
    const first = runSimulation({ seed: 4242, nodes, ticks: 600 });
    const second = runSimulation({ seed: 4242, nodes, ticks: 600 });
    assert.equal(first.ok, true, first.violation?.detail);
    assert.equal(second.digest, first.digest);
    assert.equal(second.events, first.events);
    assert.equal(second.simulatedTicks, first.simulatedTicks);
    assert.deepEqual(second.stats, first.stats);
  }
});

test("different seeds give different runs", () => {
  const digests = new Set<string>();
  for (let seed = 1; seed <= 5; seed++)
    digests.add(runSimulation({ seed, nodes: 3, ticks: 300 }).digest);
  assert.equal(digests.size, 5);
});

test("a verbose replay sees the same events as the run it replays", () => {
  const lines: string[] = [];
  const quiet = runSimulation({ seed: 77, nodes: 3, ticks: 300 });
  const verbose = runSimulation({
    seed: 77,
    nodes: 3,
    ticks: 300,
    sink: (line) => lines.push(line),
  });
  assert.equal(verbose.digest, quiet.digest);
  assert.equal(lines.length, quiet.events);
  assert.match(lines.join("\n"), /becomes leader/);
});

test("worker threads produce the same per-seed results as one thread", async () => {
  const digestsOf = async (workers: number) => {
    const digests = new Map<number, string>();
    const summary = await runSeeds({
      from: 500,
      seeds: 12,
      nodes: 3,
      ticks: 300,
      workers,
      onResult: (result) => digests.set(result.seed, result.digest),
    });
    assert.equal(summary.seeds, 12);
    return digests;
  };
  const single = await digestsOf(1);
  const parallel = await digestsOf(2);
  assert.deepEqual(new Map([...parallel].sort()), new Map([...single].sort()));
});
