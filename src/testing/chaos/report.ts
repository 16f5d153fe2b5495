// The drill's report: the JSON an operator's tooling reads, the text a person reads, and the
// one-line RESULT summary.
import type { Availability, LostWrite, OutcomeCounts } from "./analysis.ts";
import type { FaultKind } from "./schedule.ts";

export interface FaultReport {
  readonly index: number;
  readonly kind: FaultKind;
  readonly description: string;
  /** The node(s) hit, resolved when the fault fired. */
  readonly nodes: readonly number[];
  readonly atMs: number;
  readonly holdMs: number;
  /** From the fault to the completion of the first acknowledged write invoked after it. */
  readonly gapMs: number | null;
  /** From the fault until a leader not hit by it was followed by a majority (or the fault ended and one was). */
  readonly leaderAfterMs: number | null;
  readonly leaderWithinBound: boolean;
  /** Anything that went wrong injecting or reverting the fault. */
  readonly problems: readonly string[];
}

/** A node process that exited without being told to (not a kill -9 of the drill). */
export interface NodeCrash {
  readonly node: number;
  readonly atMs: number;
  /** "code 1" or "signal SIGABRT". */
  readonly how: string;
  /** The last error line of its log, if any. */
  readonly lastError: string | null;
}

export type LinearizableVerdict = true | false | "unknown";

export interface DrillResultLine {
  readonly linearizable: LinearizableVerdict;
  readonly lostAckedWrites: number;
  readonly converged: boolean;
  readonly faults: number;
  readonly gapP50Ms: number | null;
  readonly gapMaxMs: number | null;
  readonly ops: number;
  /** Node processes that exited on their own. */
  readonly crashes: number;
}

export interface DrillReport {
  readonly version: 1;
  readonly seed: number;
  readonly nodes: number;
  readonly clients: number;
  readonly keys: readonly string[];
  /** Clients move to fresh keys (`<key>.e<epoch>`) this often. */
  readonly keyEpochMs: number;
  readonly durationMs: number;
  readonly faultKinds: readonly FaultKind[];
  readonly refusedFaultKinds: ReadonlyArray<{ kind: FaultKind; reason: string }>;
  readonly network: string;
  /** The load balancer some clients went through, if any. */
  readonly loadBalancer: string | null;
  readonly dir: string;
  readonly historyFile: string;
  readonly command: string;
  readonly startedAt: string;
  /** Wall-clock time of the history's zero: add a history or fault time to it to find the node log lines. */
  readonly loadStartedAt: string | null;
  readonly elapsedMs: number;
  readonly faults: readonly FaultReport[];
  readonly crashes: readonly NodeCrash[];
  readonly ops: {
    readonly total: number;
    readonly outcomes: OutcomeCounts;
    readonly byKind: Record<string, OutcomeCounts>;
    readonly errorCodes: Record<string, number>;
  };
  readonly availability: Availability;
  readonly checks: {
    readonly linearizability: {
      readonly verdict: "linearizable" | "not-linearizable" | "unknown";
      readonly elapsedMs: number;
      readonly details: readonly string[];
    };
    readonly finalState: {
      readonly finalValues: Record<string, string | null>;
      readonly lost: readonly LostWrite[];
      readonly unexplained: ReadonlyArray<{ key: string; finalValue: string }>;
      readonly problems: readonly string[];
    };
    readonly convergence: {
      readonly converged: boolean;
      readonly diverged: boolean;
      readonly detail: string;
      readonly elapsedMs: number;
    };
    readonly leaderBound: { readonly boundMs: number; readonly violations: readonly number[] };
  };
  readonly result: DrillResultLine;
  /** Every check that failed, in words; empty when the drill passed. */
  readonly violations: readonly string[];
  /** The run proved nothing either way (a check could not finish). */
  readonly inconclusive: readonly string[];
}

export interface DrillFindings {
  readonly linearizable: LinearizableVerdict;
  readonly unknownReason: string | null;
  readonly lostAckedWrites: number;
  readonly unexplainedKeys: number;
  readonly convergence: {
    readonly converged: boolean;
    readonly diverged: boolean;
    readonly detail: string;
  };
  readonly leaderBoundMs: number;
  readonly slowLeaderFaults: readonly number[];
  readonly faultsWithoutWrite: readonly number[];
  readonly crashes: readonly NodeCrash[];
}

/** Turns the checks' findings into violations (the cluster broke a promise) and reasons the run is inconclusive. */
export function judgeDrill(findings: DrillFindings): {
  violations: string[];
  inconclusive: string[];
} {
  const violations: string[] = [];
  const inconclusive: string[] = [];
  if (findings.linearizable === false) violations.push("the history is not linearizable");
  if (findings.linearizable === "unknown") {
    inconclusive.push(
      `the linearizability check did not finish: ${findings.unknownReason ?? "no reason given"}`,
    );
  }
  if (findings.lostAckedWrites > 0) {
    violations.push(
      `${findings.lostAckedWrites} acknowledged write(s) missing from the final state`,
    );
  }
  if (findings.unexplainedKeys > 0) {
    violations.push(`${findings.unexplainedKeys} key(s) end with a value no operation wrote`);
  }
  if (findings.convergence.diverged)
    violations.push(`the nodes diverged: ${findings.convergence.detail}`);
  else if (!findings.convergence.converged) {
    violations.push(`the nodes did not converge: ${findings.convergence.detail}`);
  }
  if (findings.slowLeaderFaults.length > 0) {
    violations.push(
      `no leader within ${findings.leaderBoundMs} ms after fault(s) ${findings.slowLeaderFaults.join(", ")}`,
    );
  }
  for (const crash of findings.crashes) {
    violations.push(
      `node ${crash.node} exited on its own at ${(crash.atMs / 1000).toFixed(1)} s (${crash.how})${crash.lastError ? `: ${crash.lastError}` : ""}`,
    );
  }
  if (findings.faultsWithoutWrite.length > 0) {
    inconclusive.push(
      `no acknowledged write after fault(s) ${findings.faultsWithoutWrite.join(", ")} before the next one`,
    );
  }
  return { violations, inconclusive };
}

/** Exit status: 0 passed, 1 a violation, 2 inconclusive. */
export function exitCode(report: DrillReport): number {
  if (report.violations.length > 0) return 1;
  if (report.inconclusive.length > 0) return 2;
  return 0;
}

export function resultLine(result: DrillResultLine): string {
  return `RESULT ${JSON.stringify(result)}`;
}

function ms(value: number | null): string {
  return value === null ? "-" : `${Math.round(value)} ms`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

export function formatReport(report: DrillReport): string {
  const lines: string[] = [];
  const passed = report.violations.length === 0 && report.inconclusive.length === 0;
  lines.push(
    `hothot drill — ${passed ? "PASSED" : report.violations.length > 0 ? "FAILED" : "INCONCLUSIVE"}`,
  );
  lines.push(
    `seed ${report.seed}, ${report.nodes} nodes, ${report.clients} clients, keys ${report.keys.join(",")} (fresh every ${Math.round(report.keyEpochMs / 1000)} s), ${(report.durationMs / 1000).toFixed(0)} s of load, ${report.network}`,
  );
  lines.push(
    `started ${report.startedAt}, took ${(report.elapsedMs / 1000).toFixed(1)} s; files in ${report.dir}`,
  );
  for (const refused of report.refusedFaultKinds)
    lines.push(`not injected: ${refused.kind} — ${refused.reason}`);
  lines.push("");
  lines.push(`Faults (${report.faults.length}):`);
  lines.push(`  ${pad("#", 4)}${pad("at", 9)}${pad("gap", 10)}${pad("leader", 10)}fault`);
  for (const fault of report.faults) {
    const leader = `${ms(fault.leaderAfterMs)}${fault.leaderWithinBound ? "" : "!"}`;
    lines.push(
      `  ${pad(String(fault.index), 4)}${pad(`${(fault.atMs / 1000).toFixed(1)} s`, 9)}${pad(ms(fault.gapMs), 10)}${pad(leader, 10)}${fault.description}${fault.nodes.length > 0 ? ` [node ${fault.nodes.join(",")}]` : ""}`,
    );
    for (const problem of fault.problems) lines.push(`      problem: ${problem}`);
  }
  lines.push(
    "  gap = fault to the next acknowledged write; leader = fault to a leader followed by a majority (! = over the bound)",
  );
  lines.push(`  failover gap p50 ${ms(report.result.gapP50Ms)}, max ${ms(report.result.gapMaxMs)}`);
  lines.push("");
  const { outcomes } = report.ops;
  lines.push(
    `Operations: ${report.ops.total} (ok ${outcomes.ok}, fail ${outcomes.fail}, unknown ${outcomes.unknown})`,
  );
  for (const [kind, counts] of Object.entries(report.ops.byKind)) {
    lines.push(`  ${pad(kind, 6)} ok ${counts.ok}, fail ${counts.fail}, unknown ${counts.unknown}`);
  }
  const codes = Object.entries(report.ops.errorCodes).sort((a, b) => b[1] - a[1]);
  if (codes.length > 0)
    lines.push(`  errors: ${codes.map(([code, count]) => `${code} ${count}`).join(", ")}`);
  lines.push(`Availability: ${(report.availability.okShare * 100).toFixed(1)}% of operations ok`);
  // One figure per second reads well for a minute; longer runs are summed into wider buckets.
  const perSecond = report.availability.perSecond;
  const bucketSeconds = Math.max(1, Math.ceil(perSecond.length / 120));
  const buckets: Array<[number, number]> = [];
  for (let start = 0; start < perSecond.length; start += bucketSeconds) {
    const slice = perSecond.slice(start, start + bucketSeconds);
    buckets.push([
      slice.reduce((sum, [ok]) => sum + ok, 0),
      slice.reduce((sum, [, all]) => sum + all, 0),
    ]);
  }
  lines.push(
    `  per ${bucketSeconds === 1 ? "second" : `${bucketSeconds} s`} (% ok): ${buckets.map(([ok, all]) => (all === 0 ? "-" : String(Math.round((100 * ok) / all)))).join(" ")}`,
  );
  lines.push("");
  const { linearizability, finalState, convergence, leaderBound } = report.checks;
  lines.push("Checks:");
  lines.push(
    `  linearizable:        ${linearizability.verdict} (${Math.round(linearizability.elapsedMs)} ms)`,
  );
  for (const detail of linearizability.details) lines.push(`      ${detail}`);
  lines.push(`  lost acked writes:   ${finalState.lost.length}`);
  for (const lost of finalState.lost.slice(0, 10)) {
    lines.push(
      `      key ${lost.key}: ${JSON.stringify(lost.value)} by client ${lost.process} acknowledged at ${lost.completeMs.toFixed(0)} ms; final ${JSON.stringify(lost.finalValue)}: ${lost.reason}`,
    );
  }
  for (const entry of finalState.unexplained)
    lines.push(
      `      key ${entry.key}: final value ${JSON.stringify(entry.finalValue)} was written by no operation`,
    );
  for (const problem of finalState.problems) lines.push(`      ${problem}`);
  lines.push(
    `  converged:           ${convergence.converged ? "yes" : "no"} (${convergence.detail})`,
  );
  lines.push(
    `  leader within bound: ${leaderBound.violations.length === 0 ? "yes" : `no, after fault ${leaderBound.violations.join(", ")}`} (bound ${leaderBound.boundMs} ms)`,
  );
  lines.push("");
  if (report.violations.length > 0) {
    lines.push("VIOLATIONS:");
    for (const violation of report.violations) lines.push(`  - ${violation}`);
  }
  if (report.inconclusive.length > 0) {
    lines.push("INCONCLUSIVE:");
    for (const reason of report.inconclusive) lines.push(`  - ${reason}`);
  }
  lines.push(`Re-check the history: hothot check-history ${report.historyFile}`);
  lines.push(`Repeat the plan:      ${report.command}`);
  return `${lines.join("\n")}\n`;
}
