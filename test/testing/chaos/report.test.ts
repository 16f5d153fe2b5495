import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type DrillReport,
  exitCode,
  formatReport,
  judgeDrill,
  resultLine,
} from "../../../src/testing/chaos/index.ts";

const clean = {
  linearizable: true as const,
  unknownReason: null,
  lostAckedWrites: 0,
  unexplainedKeys: 0,
  convergence: { converged: true, diverged: false, detail: "all at 10" },
  leaderBoundMs: 15_000,
  slowLeaderFaults: [],
  faultsWithoutWrite: [],
  crashes: [],
};

test("a clean run has no violations", () => {
  assert.deepEqual(judgeDrill(clean), { violations: [], inconclusive: [] });
});

test("each broken promise is a violation: order, lost writes, divergence, no leader", () => {
  assert.match(judgeDrill({ ...clean, linearizable: false }).violations.join(), /not linearizable/);
  assert.match(
    judgeDrill({ ...clean, lostAckedWrites: 2 }).violations.join(),
    /2 acknowledged write/,
  );
  assert.match(
    judgeDrill({ ...clean, unexplainedKeys: 1 }).violations.join(),
    /no operation wrote/,
  );
  const diverged = judgeDrill({
    ...clean,
    convergence: { converged: false, diverged: true, detail: "node 2 differs" },
  });
  assert.match(diverged.violations.join(), /diverged: node 2 differs/);
  const stuck = judgeDrill({
    ...clean,
    convergence: { converged: false, diverged: false, detail: "node 3 at 9" },
  });
  assert.match(stuck.violations.join(), /did not converge/);
  assert.match(
    judgeDrill({ ...clean, slowLeaderFaults: [4] }).violations.join(),
    /no leader within 15000 ms after fault\(s\) 4/,
  );
});

test("a check that could not finish makes the run inconclusive, not passed", () => {
  const judged = judgeDrill({ ...clean, linearizable: "unknown", unknownReason: "time limit" });
  assert.deepEqual(judged.violations, []);
  assert.match(judged.inconclusive.join(), /did not finish: time limit/);
});

function report(violations: string[], inconclusive: string[]): DrillReport {
  return {
    version: 1,
    seed: 9,
    nodes: 3,
    clients: 2,
    keys: ["k0"],
    keyEpochMs: 20_000,
    durationMs: 10_000,
    faultKinds: ["kill"],
    refusedFaultKinds: [{ kind: "partition", reason: "needs root" }],
    network: "loopback",
    loadBalancer: null,
    dir: "/tmp/x",
    historyFile: "/tmp/x/history.jsonl",
    command: "hothot drill --seed 9",
    startedAt: "2026-01-01T00:00:00.000Z",
    loadStartedAt: "2026-01-01T00:00:03.000Z",
    elapsedMs: 12_000,
    faults: [
      {
        index: 0,
        kind: "kill",
        description: "kill -9 the leader, restart after 2.0 s",
        nodes: [2],
        atMs: 2000,
        holdMs: 2000,
        gapMs: 640,
        leaderAfterMs: 600,
        leaderWithinBound: true,
        problems: [],
      },
    ],
    crashes: [],
    ops: {
      total: 3,
      outcomes: { ok: 2, fail: 1, unknown: 0 },
      byKind: { write: { ok: 2, fail: 1, unknown: 0 } },
      errorCodes: { NO_LEADER: 1 },
    },
    availability: { okShare: 2 / 3, perSecond: [[2, 3]] },
    checks: {
      linearizability: { verdict: "linearizable", elapsedMs: 3, details: [] },
      finalState: { finalValues: { k0: "c0-1" }, lost: [], unexplained: [], problems: [] },
      convergence: { converged: true, diverged: false, detail: "all at 10", elapsedMs: 5 },
      leaderBound: { boundMs: 15_000, violations: [] },
    },
    result: {
      linearizable: true,
      lostAckedWrites: 0,
      converged: true,
      faults: 1,
      gapP50Ms: 640,
      gapMaxMs: 640,
      ops: 3,
      crashes: 0,
    },
    violations,
    inconclusive,
  };
}

test("exit status: 0 passed, 1 violation, 2 inconclusive", () => {
  assert.equal(exitCode(report([], [])), 0);
  assert.equal(exitCode(report(["the history is not linearizable"], ["x"])), 1);
  assert.equal(exitCode(report([], ["the check did not finish"])), 2);
});

test("the text report names the faults, the checks and how to re-check; RESULT is one JSON line", () => {
  const text = formatReport(report([], []));
  assert.match(text, /PASSED/);
  assert.match(text, /not injected: partition — needs root/);
  assert.match(text, /kill -9 the leader.*\[node 2\]/);
  assert.match(text, /640 ms/);
  assert.match(text, /linearizable: +linearizable/);
  assert.match(text, /hothot check-history \/tmp\/x\/history.jsonl/);
  assert.match(
    formatReport(report(["the nodes diverged: x"], [])),
    /FAILED[\s\S]*VIOLATIONS:\n {2}- the nodes diverged: x/,
  );
  const line = resultLine(report([], []).result);
  assert.match(line, /^RESULT \{/);
  assert.deepEqual(Object.keys(JSON.parse(line.slice(7))), [
    "linearizable",
    "lostAckedWrites",
    "converged",
    "faults",
    "gapP50Ms",
    "gapMaxMs",
    "ops",
    "crashes",
  ]);
});
