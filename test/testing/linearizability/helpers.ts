// Small builders for hand-written JSON-lines histories. Test helper, not a test file.
import {
  type CheckOptions,
  type CheckResult,
  checkHistory,
  parseHistory,
} from "../../../src/testing/linearizability/index.ts";

export type Event = Record<string, unknown>;

export const invoke = (process: number, op: string, timeMs: number, fields: Event = {}): Event => ({
  type: "invoke",
  process,
  op,
  timeMs,
  ...fields,
});

export const complete = (process: number, timeMs: number, fields: Event = {}): Event => ({
  type: "complete",
  process,
  outcome: "ok",
  timeMs,
  ...fields,
});

export function jsonl(events: readonly Event[]): string {
  return `${events.map((event) => JSON.stringify(event)).join("\n")}\n`;
}

export function check(events: readonly Event[], options: CheckOptions = {}): CheckResult {
  return checkHistory(parseHistory(jsonl(events), "test.jsonl"), options);
}

/**
 * `count` writes of distinct values, all concurrent, then a read of a value none of them wrote:
 * not linearizable, but the search must visit every subset of the writes to prove it.
 */
export function exponentialHistory(count: number): Event[] {
  const events: Event[] = [];
  for (let process = 0; process < count; process++) {
    events.push(invoke(process, "write", process, { value: process }));
  }
  for (let process = 0; process < count; process++) events.push(complete(process, 100 + process));
  events.push(invoke(count, "read", 200), complete(count, 201, { value: -1 }));
  return events;
}
