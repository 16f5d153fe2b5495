// Builds JSON-lines histories by running the sequential model and then smearing every
// operation's interval around its linearization point, so the result is linearizable by
// construction. Test helper, not a test file.
import fc from "fast-check";

export type PlannedKind = "read" | "write" | "cas" | "append" | "delete";

export interface PlannedOperation {
  readonly kind: PlannedKind;
  readonly key: number;
  readonly value: number;
  /** cas: compare against the current value (matching) or a stale guess. */
  readonly casMatches: boolean;
  /** How far before / after its linearization point the operation was invoked / completed. */
  readonly leadMs: number;
  readonly lagMs: number;
  /** none: normal completion; took-effect / never: unknown outcome with or without effect. */
  readonly unknown: "none" | "took-effect" | "never";
  /** For unknown outcomes: write an explicit unknown completion, or leave the invocation open. */
  readonly unknownCompletion: boolean;
}

export interface GeneratedHistory {
  readonly lines: string[];
  /** Line indexes (0-based) of ok read completions, for corruption. */
  readonly readCompletionLines: number[];
}

/** Spacing of linearization points; leads and lags larger than it create overlap. */
const STEP_MS = 10;

export function plannedOperation(
  kinds: readonly PlannedKind[],
  keys: number,
): fc.Arbitrary<PlannedOperation> {
  return fc.record({
    kind: fc.constantFrom(...kinds),
    key: fc.integer({ min: 0, max: keys - 1 }),
    value: fc.integer({ min: 0, max: 4 }),
    casMatches: fc.boolean(),
    leadMs: fc.integer({ min: 0, max: 60 }),
    lagMs: fc.integer({ min: 0, max: 60 }),
    unknown: fc.oneof(
      { arbitrary: fc.constant("none" as const), weight: 16 },
      { arbitrary: fc.constant("took-effect" as const), weight: 1 },
      { arbitrary: fc.constant("never" as const), weight: 1 },
    ),
    unknownCompletion: fc.boolean(),
  });
}

type State = string | number | null;

/** Runs the plan against the sequential model and writes the history as JSON lines. */
export function buildHistory(
  plan: readonly PlannedOperation[],
  model: "register" | "kv",
): GeneratedHistory {
  const state = new Map<number, State>();
  interface Event {
    timeMs: number;
    isInvoke: boolean;
    order: number;
    json: Record<string, unknown>;
    isOkRead: boolean;
  }
  const events: Event[] = [];
  const processFreeAtMs: number[] = [];
  plan.forEach((planned, index) => {
    const pointMs = (index + 1) * STEP_MS + 100;
    const invokeMs = pointMs - planned.leadMs;
    const completeMs = pointMs + planned.lagMs;
    // A process runs one operation at a time: reuse the first process that is free again.
    let process = processFreeAtMs.findIndex((freeAtMs) => freeAtMs < invokeMs);
    if (process === -1) process = processFreeAtMs.length;
    const key = model === "register" ? "r" : `k${planned.key}`;
    const cell = model === "register" ? 0 : planned.key;
    const current = state.get(cell) ?? null;
    const takesEffect = planned.unknown !== "never";
    const invoke: Record<string, unknown> = {
      type: "invoke",
      process,
      op: planned.kind,
      key,
      timeMs: invokeMs,
    };
    const complete: Record<string, unknown> = {
      type: "complete",
      process,
      outcome: "ok",
      timeMs: completeMs,
    };
    switch (planned.kind) {
      case "read":
        complete.value = current;
        break;
      case "write":
        {
          // Map values are strings so that appends always apply; registers hold integers.
          const written = model === "kv" ? `w${planned.value}` : planned.value;
          invoke.value = written;
          if (takesEffect) state.set(cell, written);
        }
        break;
      case "append": {
        const piece = `<${index}>`;
        invoke.value = piece;
        if (takesEffect) state.set(cell, `${typeof current === "string" ? current : ""}${piece}`);
        break;
      }
      case "delete":
        if (takesEffect) state.set(cell, null);
        break;
      case "cas": {
        const from = planned.casMatches
          ? current
          : planned.value === current
            ? null
            : planned.value;
        const to = model === "kv" ? `v${index}` : planned.value + 10;
        invoke.from = from;
        invoke.to = to;
        const swapped = from === current;
        complete.swapped = swapped;
        if (takesEffect && swapped) state.set(cell, to);
        break;
      }
    }
    const unknown = planned.unknown !== "none" && planned.kind !== "read";
    processFreeAtMs[process] = unknown ? Number.POSITIVE_INFINITY : completeMs;
    events.push({ timeMs: invokeMs, isInvoke: true, order: index, json: invoke, isOkRead: false });
    if (unknown) {
      if (planned.unknownCompletion) {
        events.push({
          timeMs: completeMs,
          isInvoke: false,
          order: index,
          json: {
            type: "complete",
            process,
            outcome: "unknown",
            timeMs: completeMs,
            error: "timeout",
          },
          isOkRead: false,
        });
      }
    } else {
      events.push({
        timeMs: completeMs,
        isInvoke: false,
        order: index,
        json: complete,
        isOkRead: planned.kind === "read",
      });
    }
  });
  // File order is real-time order; at equal times invocations first, as the checker reads them.
  events.sort(
    (a, b) => a.timeMs - b.timeMs || Number(b.isInvoke) - Number(a.isInvoke) || a.order - b.order,
  );
  const lines = [JSON.stringify({ type: "meta", version: 1, model })];
  const readCompletionLines: number[] = [];
  for (const event of events) {
    if (event.isOkRead) readCompletionLines.push(lines.length);
    lines.push(JSON.stringify(event.json));
  }
  return { lines, readCompletionLines };
}

/** Replaces the value of the read completed on line `index` with one no operation ever writes. */
export function corruptRead(
  lines: readonly string[],
  index: number,
  model: "register" | "kv",
): string[] {
  const copy = [...lines];
  const event = JSON.parse(copy[index]!) as Record<string, unknown>;
  event.value = model === "kv" ? "never written" : 999_999;
  copy[index] = JSON.stringify(event);
  return copy;
}
