// Property tests: histories produced by a sequential run with random concurrency are always
// linearizable, and corrupting one read to a value nobody wrote always makes them not.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { checkHistory, parseHistory } from "../../../src/testing/linearizability/index.ts";
import { buildHistory, corruptRead, type PlannedKind, plannedOperation } from "./generate.ts";

const REGISTER_KINDS: PlannedKind[] = ["read", "read", "write", "cas"];
const KV_KINDS: PlannedKind[] = ["read", "read", "write", "cas", "append", "delete"];
// Fixed seeds keep the suite deterministic; change them locally to explore further.
const RUNS = { numRuns: 300 } as const;

function verdictOf(lines: readonly string[]): string {
  const result = checkHistory(parseHistory(`${lines.join("\n")}\n`, "generated.jsonl"), {
    timeoutMs: 30_000,
  });
  return result.verdict;
}

for (const model of ["register", "kv"] as const) {
  const kinds = model === "register" ? REGISTER_KINDS : KV_KINDS;
  const plan = fc.array(plannedOperation(kinds, 3), { minLength: 1, maxLength: 40 });

  test(`${model}: a sequential run with random concurrency is linearizable`, () => {
    fc.assert(
      fc.property(plan, (operations) => {
        const { lines } = buildHistory(operations, model);
        assert.equal(verdictOf(lines), "linearizable", lines.join("\n"));
      }),
      { ...RUNS, seed: model === "register" ? 1 : 2 },
    );
  });

  test(`${model}: the same history with one read corrupted is not linearizable`, () => {
    const withRead = plan.filter((operations) =>
      operations.some((operation) => operation.kind === "read"),
    );
    fc.assert(
      fc.property(withRead, fc.nat(), (operations, choice) => {
        const { lines, readCompletionLines } = buildHistory(operations, model);
        fc.pre(readCompletionLines.length > 0);
        const index = readCompletionLines[choice % readCompletionLines.length]!;
        const corrupted = corruptRead(lines, index, model);
        assert.equal(verdictOf(corrupted), "not-linearizable", corrupted.join("\n"));
      }),
      { ...RUNS, seed: model === "register" ? 3 : 4 },
    );
  });
}

test("kv: many clients on few keys stay linearizable and fast", () => {
  const plan = fc.array(plannedOperation(KV_KINDS, 2), { minLength: 150, maxLength: 200 });
  fc.assert(
    fc.property(plan, (operations) => {
      const { lines } = buildHistory(operations, "kv");
      const result = checkHistory(parseHistory(lines.join("\n"), "generated.jsonl"), {
        timeoutMs: 30_000,
      });
      assert.equal(result.verdict, "linearizable");
    }),
    { numRuns: 20, seed: 5 },
  );
});
