// Human-readable output: the violation report and the command that replays one seed.

import type { SimResult } from "./simulation.ts";

export function replayCommand(
  result: Pick<SimResult, "seed" | "nodes" | "ticks" | "mutation">,
  faults = true,
): string {
  const noFaults = faults ? "" : " --no-faults";
  const mutation = result.mutation === undefined ? "" : ` --mutation ${result.mutation}`;
  return `npm run sim -- --seed ${result.seed} --nodes ${result.nodes} --ticks ${result.ticks}${noFaults}${mutation} --verbose`;
}

export function formatReport(result: SimResult, faults = true): string {
  const violation = result.violation;
  if (violation === undefined) {
    return `seed ${result.seed}: ok (${result.simulatedTicks} ticks, digest ${result.digest})\n  scenario: ${result.scenario}`;
  }
  return [
    `VIOLATION seed ${result.seed} (nodes ${result.nodes}, ticks ${result.ticks}) at tick ${violation.tick}`,
    `  scenario:  ${result.scenario}`,
    `  invariant: ${violation.invariant}`,
    `  detail:    ${violation.detail}`,
    "  state:",
    ...violation.state.map((line) => `    ${line}`),
    `  trace tail (last ${violation.traceTail.length} events):`,
    ...violation.traceTail.map((line) => `    ${line}`),
    `  replay: ${replayCommand(result, faults)}`,
  ].join("\n");
}
