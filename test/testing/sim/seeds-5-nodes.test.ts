// Randomized runs with faults over 5-node clusters (see seeds-3-nodes.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatReport, runSeeds } from "../../../src/testing/sim/index.ts";

test("200 seeds with faults on 5 nodes: no invariant violated, every run converges", async () => {
  const summary = await runSeeds({ from: 100_001, seeds: 200, nodes: 5, ticks: 2000, workers: 1 });
  const reports = summary.failures.map((failure) => formatReport(failure)).join("\n\n");
  assert.equal(summary.violations, 0, reports);
  assert.equal(summary.seeds, 200);
});
