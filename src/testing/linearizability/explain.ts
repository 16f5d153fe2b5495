// Human-readable text for verdicts: what the CLI prints under --explain.
import type { CheckResult, Operation, Value } from "./types.ts";

/** Prefix operations shown before the point of failure; the rest are summarized in a count. */
const PREFIX_SHOWN = 6;
/** Candidates shown; with 50 clients there can be many. */
const CANDIDATES_SHOWN = 12;

function showValue(value: Value): string {
  return value === null ? "absent" : JSON.stringify(value);
}

/** One operation as "line 12 process 3 cas "a"->"b" swapped". */
export function describeOperation(operation: Operation): string {
  const where = `line ${operation.invokeLine}${operation.completeLine === null ? "" : `-${operation.completeLine}`}`;
  let what: string;
  switch (operation.kind) {
    case "read":
      what =
        operation.outcome === "ok"
          ? `read -> ${showValue(operation.value)}`
          : "read (unknown result)";
      break;
    case "write":
      what = `write ${showValue(operation.value)}`;
      break;
    case "append":
      what = `append ${showValue(operation.value)}`;
      break;
    case "delete":
      what = "delete";
      break;
    case "cas":
      what = `cas ${showValue(operation.expected)} -> ${showValue(operation.value)}${
        operation.outcome === "ok" ? (operation.swapped ? " (swapped)" : " (not swapped)") : ""
      }`;
      break;
  }
  const outcome = operation.outcome === "unknown" ? " [outcome unknown]" : "";
  return `${where} process ${operation.process}: ${what}${outcome}`;
}

/** Indented lines explaining a not-linearizable verdict; empty for other verdicts. */
export function explainResult(result: CheckResult): string[] {
  const violation = result.violation;
  if (violation === null) return [];
  const lines: string[] = [];
  const keyText = result.model === "kv" ? ` on key ${JSON.stringify(violation.key)}` : "";
  lines.push(
    `  no linearization${keyText}: ${violation.partitionSize} operations${
      violation.minimized
        ? " left after shrinking (cut after the failure, unneeded reads dropped)"
        : ""
    }; the longest linearizable prefix places ${violation.prefix.length}`,
  );
  const shown = violation.prefix.slice(-PREFIX_SHOWN);
  if (violation.prefix.length > shown.length) {
    lines.push(`    … ${violation.prefix.length - shown.length} earlier operations`);
  }
  for (const operation of shown) lines.push(`    ${describeOperation(operation)}`);
  lines.push(`  state after that prefix: ${showValue(violation.stateAfterPrefix)}`);
  lines.push(
    `  due next (earliest completion not yet placed): ${describeOperation(violation.blocking)}`,
  );
  lines.push("  none of the operations that could come next leads to a linearization:");
  for (const { operation, legalNext } of violation.candidates.slice(0, CANDIDATES_SHOWN)) {
    lines.push(
      `    ${describeOperation(operation)} — ${legalNext ? "possible here, but every continuation fails" : "impossible in this state"}`,
    );
  }
  if (violation.candidates.length > CANDIDATES_SHOWN) {
    lines.push(`    … ${violation.candidates.length - CANDIDATES_SHOWN} more`);
  }
  return lines;
}
