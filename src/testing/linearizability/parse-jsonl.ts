// The project's own history format: JSON lines, one event per line (see docs/checker.md).
//   {"type":"meta","version":1,"model":"kv"}                                    (optional, first line)
//   {"type":"invoke","process":1,"op":"put","key":"a","value":"x","timeMs":1000}
//   {"type":"complete","process":1,"outcome":"ok","timeMs":1003}
// Unknown fields are ignored so that writers can add context (error text, node ids).
import { HistoryParseError } from "./errors.ts";
import { HistoryBuilder } from "./history-builder.ts";
import type { History, ModelName, OperationKind, Outcome, Value } from "./types.ts";

/** JSON value of a register or key in the format: strings, numbers, null (absent). */
export type JsonlValue = string | number | null;
/** Timestamp fields: one unit for the whole file, or none at all. */
export type JsonlTime = { readonly timeMs?: number } | { readonly timeNs?: number | string };

/** The lines a history writer produces, as types (docs/checker.md describes them). */
export type JsonlEvent =
  | {
      readonly type: "meta";
      readonly version: 1;
      readonly model?: ModelName;
      readonly initialValue?: JsonlValue;
    }
  | ({
      readonly type: "invoke";
      readonly process: string | number;
      readonly key?: string;
    } & (
      | { readonly op: "read" | "get" | "delete" }
      | { readonly op: "write" | "put"; readonly value: JsonlValue }
      | { readonly op: "append"; readonly value: string }
      | { readonly op: "cas"; readonly from: JsonlValue; readonly to: JsonlValue }
    ) &
      JsonlTime)
  | ({
      readonly type: "complete";
      readonly process: string | number;
      readonly outcome: "ok" | "fail" | "unknown" | "info";
      readonly op?: string;
      /** Required for an ok read/get. */
      readonly value?: JsonlValue;
      /** For an ok cas; default true. */
      readonly swapped?: boolean;
    } & JsonlTime);

const KINDS: ReadonlyMap<string, OperationKind> = new Map(
  Object.entries({
    read: "read",
    get: "read",
    write: "write",
    put: "write",
    cas: "cas",
    append: "append",
    delete: "delete",
  }) as [string, OperationKind][],
);
// "info" is Jepsen's name for an unknown outcome; accepted so that Jepsen-minded writers need not translate.
const OUTCOMES: ReadonlyMap<string, Outcome> = new Map<string, Outcome>([
  ["ok", "ok"],
  ["fail", "fail"],
  ["unknown", "unknown"],
  ["info", "unknown"],
]);

type Fail = (problem: string) => never;

function valueField(event: Record<string, unknown>, name: string, fail: Fail): Value {
  const value = event[name];
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  return fail(`"${name}" must be a string, a number or null, got ${JSON.stringify(value)}`);
}

function timeField(event: Record<string, unknown>, fail: Fail): bigint | null {
  const ms = event.timeMs;
  const ns = event.timeNs;
  if (ms !== undefined && ns !== undefined) fail('give "timeMs" or "timeNs", not both');
  if (ms !== undefined) {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      fail(`"timeMs" must be a non-negative number, got ${JSON.stringify(ms)}`);
    }
    // Kept in microseconds so that fractional milliseconds (performance.now()) still order events.
    return BigInt(Math.round((ms as number) * 1000));
  }
  if (ns !== undefined) {
    if (typeof ns === "number" && Number.isSafeInteger(ns) && ns >= 0) return BigInt(ns);
    // Wall-clock nanoseconds exceed 2^53, so they may be written as a decimal string.
    if (typeof ns === "string" && /^\d{1,30}$/.test(ns)) return BigInt(ns);
    fail(
      `"timeNs" must be a non-negative integer or a string of digits, got ${JSON.stringify(ns)}`,
    );
  }
  return null;
}

function processField(event: Record<string, unknown>, fail: Fail): string {
  const process = event.process;
  if (typeof process === "string" && process !== "") return process;
  if (typeof process === "number" && Number.isSafeInteger(process)) return String(process);
  return fail(`"process" must be a non-empty string or an integer, got ${JSON.stringify(process)}`);
}

function kindField(
  event: Record<string, unknown>,
  required: boolean,
  fail: Fail,
): OperationKind | null {
  const op = event.op;
  if (op === undefined && !required) return null;
  const kind = typeof op === "string" ? KINDS.get(op) : undefined;
  if (kind === undefined) {
    fail(`"op" must be one of ${[...KINDS.keys()].join(", ")}, got ${JSON.stringify(op)}`);
  }
  return kind!;
}

export function parseJsonl(text: string, source: string): History {
  const builder = new HistoryBuilder(source);
  let declaredModel: ModelName | null = null;
  let initialValue: Value = null;
  let sawEvent = false;
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!.trim();
    if (raw === "") continue;
    const line = index + 1;
    const fail: Fail = (problem) => {
      throw new HistoryParseError(source, line, problem);
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      fail(`not valid JSON (${(error as Error).message}); each line must be one JSON object`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      fail("each line must be one JSON object");
    }
    const event = parsed as Record<string, unknown>;
    switch (event.type) {
      case "meta": {
        if (sawEvent) fail('the "meta" line must come before every event');
        if (event.version !== 1)
          fail(
            `unsupported history version ${JSON.stringify(event.version)}; this checker reads version 1`,
          );
        if (event.model !== undefined) {
          if (event.model !== "register" && event.model !== "kv")
            fail('"model" must be "register" or "kv"');
          declaredModel = event.model as ModelName;
        }
        initialValue = valueField(event, "initialValue", fail);
        break;
      }
      case "invoke": {
        sawEvent = true;
        const kind = kindField(event, true, fail)!;
        const key = event.key === undefined ? "" : event.key;
        if (typeof key !== "string") fail(`"key" must be a string, got ${JSON.stringify(key)}`);
        let value: Value = null;
        let expected: Value = null;
        if (kind === "cas") {
          if (!("from" in event) || !("to" in event))
            fail('a cas invocation needs "from" and "to"');
          expected = valueField(event, "from", fail);
          value = valueField(event, "to", fail);
        } else if (kind === "write" || kind === "append") {
          if (!("value" in event)) fail(`a ${event.op} invocation needs "value"`);
          value = valueField(event, "value", fail);
          if (kind === "append" && typeof value !== "string")
            fail("an append needs a string value");
        }
        builder.invoke({
          process: processField(event, fail),
          kind,
          key: key as string,
          value,
          expected,
          time: timeField(event, fail),
          line,
        });
        break;
      }
      case "complete": {
        sawEvent = true;
        const outcome = event.outcome;
        const known = typeof outcome === "string" ? OUTCOMES.get(outcome) : undefined;
        if (known === undefined) {
          fail(
            `"outcome" must be "ok", "fail" or "unknown" (or "info"), got ${JSON.stringify(outcome)}`,
          );
        }
        const swapped = event.swapped === undefined ? true : event.swapped;
        if (typeof swapped !== "boolean") fail('"swapped" must be true or false');
        builder.complete({
          process: processField(event, fail),
          kind: kindField(event, false, fail),
          outcome: known!,
          value: valueField(event, "value", fail),
          valuePresent: "value" in event,
          swapped: swapped as boolean,
          time: timeField(event, fail),
          line,
        });
        break;
      }
      default:
        fail(`"type" must be "meta", "invoke" or "complete", got ${JSON.stringify(event.type)}`);
    }
  }
  return builder.build("jsonl", initialValue, declaredModel);
}
