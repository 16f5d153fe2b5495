// Randomized runs with faults over 3-node clusters. Together with seeds-5-nodes.test.ts (run in
// parallel by node:test) this covers 500 seeds per `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatReport, runSeeds } from "../../../src/testing/sim/index.ts";

test("300 seeds with faults on 3 nodes: no invariant violated, every run converges", async () => {
  const summary = await runSeeds({ from: 1, seeds: 300, nodes: 3, ticks: 2000, workers: 1 });
  const reports = summary.failures.map((failure) => formatReport(failure)).join("\n\n");
  assert.equal(summary.violations, 0, reports);
  assert.equal(summary.seeds, 300);
});
