// A short drill against real node processes, as `hothot drill` runs it: about a minute of kill -9
// and SIGSTOP faults, plus partitions when this runs as root (CI does).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type DrillReport, networkLabAvailability } from "../../../src/testing/chaos/index.ts";
import { runCli } from "./helpers.ts";

const network = networkLabAvailability();

test("a one-minute drill with kill -9, SIGSTOP (and partitions as root) passes every check", {
  timeout: 300_000,
}, async (t) => {
  // Partitions need network namespaces, which need root; without root the drill still runs the rest.
  const faults = network.available ? "kill,pause,partition" : "kill,pause";
  if (!network.available) t.diagnostic(`partitions left out: ${network.reason}`);
  const parent = mkdtempSync(join(tmpdir(), "hothot-drill-test-"));
  const dir = join(parent, "run");
  try {
    const result = await runCli(
      [
        "drill",
        "--nodes",
        "3",
        "--duration",
        "45s",
        "--faults",
        faults,
        "--clients",
        "6",
        "--seed",
        "20261127",
        "--dir",
        dir,
        "--log-level",
        "debug",
        "--json",
      ],
      240_000,
    );
    const lines = result.stdout.trim().split("\n");
    const last = lines.at(-1) ?? "";
    assert.match(last, /^RESULT \{/, `no RESULT line; stderr:\n${result.stderr.slice(-3000)}`);
    const summary = JSON.parse(last.slice("RESULT ".length)) as DrillReport["result"];
    const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as DrillReport;
    const explain = `${readFileSync(join(dir, "report.txt"), "utf8")}\n${result.stderr.slice(-2000)}`;
    assert.equal(result.code, 0, explain);
    assert.deepEqual(summary, report.result);
    assert.equal(summary.linearizable, true, explain);
    assert.equal(summary.lostAckedWrites, 0, explain);
    assert.equal(summary.converged, true, explain);
    assert.ok(summary.faults >= 5, `only ${summary.faults} faults in 45 s`);
    assert.ok(summary.ops > 500, `only ${summary.ops} operations`);
    assert.ok(summary.gapMaxMs !== null && summary.gapMaxMs < 15_000, explain);
    const kinds = new Set(report.faults.map((fault) => fault.kind));
    assert.ok(kinds.has("kill") && kinds.has("pause"), `fault kinds run: ${[...kinds].join(",")}`);
    assert.deepEqual(report.refusedFaultKinds, []);
    // The saved history re-checks with the stand-alone checker.
    const recheck = await runCli(["check-history", join(dir, "history.jsonl")], 120_000);
    assert.equal(recheck.code, 0, recheck.stdout + recheck.stderr);
    assert.match(recheck.stdout, /\tlinearizable\t/);
    assert.ok(existsSync(join(dir, "cluster", "logs", "node-1.log")));
    // --log-level debug reached the nodes: the role changes of the faults are logged.
    assert.match(readFileSync(join(dir, "cluster", "logs", "node-1.log"), "utf8"), /"level":20,/);
    assert.match(report.command, /--log-level debug/);
    if (network.available) {
      const octet = /10\.77\.(\d+)\.0/.exec(report.network)?.[1];
      assert.ok(octet, report.network);
      assert.doesNotMatch(
        execFileSync("ip", ["netns", "list"], { encoding: "utf8" }),
        new RegExp(`hhd${octet}n`),
      );
      assert.doesNotMatch(
        execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }),
        new RegExp(`hhd${octet}br`),
      );
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
