// Differential test: on small random histories (linearizable or not), the search agrees with a
// brute-force enumeration of every order and every choice of which unknown operations happened.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkHistory,
  ILLEGAL,
  type Operation,
  parseHistory,
  stepCell,
  type Value,
} from "../../../src/testing/linearizability/index.ts";
import { jsonl } from "./helpers.ts";

/** Every order consistent with real time, with unknown operations optional: exponential, tiny inputs only. */
function bruteForce(operations: readonly Operation[], initial: Value): boolean {
  const relevant = operations.filter(
    (operation) =>
      operation.outcome !== "fail" &&
      !(operation.outcome === "unknown" && operation.kind === "read"),
  );
  const placed = new Array<boolean>(relevant.length).fill(false);
  const search = (state: Value, remainingDefinite: number): boolean => {
    if (remainingDefinite === 0) return true;
    for (let index = 0; index < relevant.length; index++) {
      if (placed[index]) continue;
      const operation = relevant[index]!;
      // Every operation that completed before this one was invoked must already be placed.
      const blocked = relevant.some(
        (other, position) => !placed[position] && other.returnOrder < operation.callOrder,
      );
      if (blocked) continue;
      const next = stepCell(state, operation);
      if (next === ILLEGAL) continue;
      placed[index] = true;
      const found = search(
        next,
        remainingDefinite - (Number.isFinite(operation.returnOrder) ? 1 : 0),
      );
      placed[index] = false;
      if (found) return true;
    }
    return false;
  };
  return search(
    initial,
    relevant.filter((operation) => Number.isFinite(operation.returnOrder)).length,
  );
}

const randomOperation = fc.record({
  kind: fc.constantFrom("read", "read", "write", "cas", "append", "delete"),
  callMs: fc.integer({ min: 0, max: 40 }),
  durationMs: fc.integer({ min: 0, max: 15 }),
  value: fc.constantFrom("a", "b", "ab", null),
  other: fc.constantFrom("a", "b", null),
  outcome: fc.constantFrom("ok", "ok", "ok", "ok", "fail", "unknown", "open"),
  swapped: fc.boolean(),
});

type RandomOperation = typeof randomOperation extends fc.Arbitrary<infer T> ? T : never;

function toEvents(operations: readonly RandomOperation[]): Record<string, unknown>[] {
  const events: { timeMs: number; isInvoke: boolean; json: Record<string, unknown> }[] = [];
  const busyUntilMs: number[] = [];
  for (const operation of operations) {
    const endMs = operation.callMs + operation.durationMs;
    const open =
      operation.outcome === "open" ||
      (operation.outcome === "unknown" && operation.kind !== "read");
    let process = busyUntilMs.findIndex((untilMs) => untilMs < operation.callMs);
    if (process === -1) process = busyUntilMs.length;
    busyUntilMs[process] = open ? Number.POSITIVE_INFINITY : endMs;
    const invoke: Record<string, unknown> = {
      type: "invoke",
      process,
      op: operation.kind,
      key: "k",
      timeMs: operation.callMs,
    };
    if (operation.kind === "write") invoke.value = operation.value;
    if (operation.kind === "append") invoke.value = operation.value ?? "a";
    if (operation.kind === "cas")
      Object.assign(invoke, { from: operation.other, to: operation.value });
    events.push({ timeMs: operation.callMs, isInvoke: true, json: invoke });
    if (operation.outcome === "open") continue;
    const complete: Record<string, unknown> = {
      type: "complete",
      process,
      outcome: operation.outcome,
      timeMs: endMs,
    };
    if (operation.kind === "read") complete.value = operation.value;
    if (operation.kind === "cas") complete.swapped = operation.swapped;
    events.push({ timeMs: endMs, isInvoke: false, json: complete });
  }
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isInvoke) - Number(a.isInvoke));
  return [{ type: "meta", version: 1, model: "kv" }, ...events.map((event) => event.json)];
}

test("the search agrees with brute force on small random histories", () => {
  let linearizable = 0;
  let violations = 0;
  fc.assert(
    fc.property(fc.array(randomOperation, { minLength: 1, maxLength: 7 }), (operations) => {
      const history = parseHistory(jsonl(toEvents(operations)), "random.jsonl");
      const expected = bruteForce(history.operations, history.initialValue);
      const result = checkHistory(history);
      assert.equal(result.verdict, expected ? "linearizable" : "not-linearizable");
      if (result.violation !== null) {
        // The explanation's prefix is itself a legal sequential run that respects real time.
        let state: Value | typeof ILLEGAL = history.initialValue;
        const prefix = result.violation.prefix;
        prefix.forEach((operation, index) => {
          assert.notEqual(state, ILLEGAL);
          state = stepCell(state as Value, operation);
          for (const later of prefix.slice(index + 1)) {
            assert.ok(!(later.returnOrder < operation.callOrder), "prefix breaks real-time order");
          }
        });
        assert.notEqual(state, ILLEGAL);
        assert.equal(state, result.violation.stateAfterPrefix);
      }
      if (expected) linearizable++;
      else violations++;
    }),
    { numRuns: 1500, seed: 11 },
  );
  // Both verdicts must be well represented, or the comparison proves little.
  assert.ok(
    linearizable > 300 && violations > 300,
    `${linearizable} linearizable, ${violations} not`,
  );
});
