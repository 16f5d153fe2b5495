// `npm run sim` end to end: the RESULT line, exit codes, the violation report and its replay.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const main = new URL("../../../src/testing/sim-main.ts", import.meta.url).pathname;

function sim(...args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", main, ...args], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const lines = run.stdout.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  assert.match(last, /^RESULT \{/, `last stdout line: ${last}\nstderr: ${run.stderr}`);
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    result: JSON.parse(last.slice(7)),
  };
}

test("a clean range of seeds exits 0 with the RESULT figures", () => {
  const run = sim("--seeds", "4", "--from", "10", "--ticks", "300", "--workers", "2");
  assert.equal(run.status, 0, run.stdout);
  assert.equal(run.result.seeds, 4);
  assert.equal(run.result.violations, 0);
  assert.equal(run.result.ticks, 300);
  assert.equal(run.result.nodes, 3);
  assert.ok(run.result.seedsPerSec > 0);
  assert.match(run.stderr, /4\/4 seeds, 0 violation\(s\)/);
});

test("a violation prints the seed, invariant, trace tail and replay command, and exits 1", () => {
  const run = sim("--seeds", "2", "--from", "1", "--ticks", "400", "--mutation", "local-reads");
  assert.equal(run.status, 1);
  assert.equal(run.result.violations, 2);
  assert.match(run.stdout, /VIOLATION seed 1 /);
  assert.match(run.stdout, /invariant: read-consistency/);
  assert.match(run.stdout, /trace tail \(last \d+ events\):\n {4}t=/);
  const replay = /replay: npm run sim -- (.*)/.exec(run.stdout)?.[1];
  assert.equal(replay, "--seed 1 --nodes 3 --ticks 400 --mutation local-reads --verbose");
  // The replay command reproduces the same violation, with the full trace.
  const again = sim(...replay!.split(" "));
  assert.equal(again.status, 1);
  assert.match(again.stdout, /becomes leader/);
  assert.match(again.stdout, /invariant: read-consistency/);
});

test("one seed replays with the same digest every time", () => {
  const first = sim("--seed", "31", "--nodes", "5", "--ticks", "300");
  const second = sim("--seed", "31", "--nodes", "5", "--ticks", "300");
  assert.equal(first.status, 0, first.stdout);
  assert.equal(second.result.digest, first.result.digest);
});

test("bad usage exits 2 with the usage text", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", main, "--nodes", "4"], {
    encoding: "utf8",
  });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /--nodes must be 3 or 5/);
  assert.match(run.stderr, /usage:/);
});
