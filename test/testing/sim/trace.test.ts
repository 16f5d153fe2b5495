import assert from "node:assert/strict";
import { test } from "node:test";
import { Trace } from "../../../src/testing/sim/trace.ts";
import {
  formatEvent,
  MESSAGE_TYPE_CODES,
  packMessageFlags,
} from "../../../src/testing/sim/trace-format.ts";

test("the tail keeps the last events, oldest first, formatted", () => {
  const trace = new Trace({ tailSize: 3, formatter: formatEvent });
  for (let i = 1; i <= 5; i++) trace.record(i * 1000, "commit", 1, i, 2);
  trace.recordQuiet(6000, "tick", 1);
  assert.deepEqual(trace.tail(), [
    "t=3.000      n1 commit=3 term=2",
    "t=4.000      n1 commit=4 term=2",
    "t=5.000      n1 commit=5 term=2",
  ]);
  assert.equal(trace.eventCount, 6);
});

test("the digest depends on every event, quiet ones included", () => {
  const build = (quietNode: number) => {
    const trace = new Trace({ tailSize: 2, formatter: formatEvent });
    trace.record(10, "apply", 2, 7, 1, 1, 42);
    trace.recordQuiet(20, "tick", quietNode);
    return trace.digest();
  };
  assert.equal(build(1), build(1));
  assert.notEqual(build(1), build(2));
});

test("message events read like the protocol", () => {
  const line = formatEvent({
    time: 120431,
    kind: "deliver",
    node: 2,
    a: 1,
    b: packMessageFlags(MESSAGE_TYPE_CODES["append-response"], true, 0),
    c: 3,
    d: 41,
    e: 0,
    f: 40,
    note: "",
  });
  assert.equal(line, "t=120.431    n2 <- n1 append-response REJECT term=3 index=41 commit=40");
  const sink: string[] = [];
  const trace = new Trace({ tailSize: 1, formatter: formatEvent, sink: (text) => sink.push(text) });
  trace.record(0, "fault", 0, 0, 0, 0, 0, 0, 0, "partition {1} | {2,3}");
  assert.deepEqual(sink, ["t=0.000      FAULT partition {1} | {2,3}"]);
});
