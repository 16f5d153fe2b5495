// Jepsen register logs (etcd tests), one event per line:
//   INFO  jepsen.util - <process> <:invoke|:ok|:fail|:info> <:read|:write|:cas> <value>
// Reading of outcomes: `:fail :cas` is a completed compare-and-swap whose comparison did not
// match (it observed a different value); `:fail :read` and every `:info` are unknown outcomes;
// `:fail` of a write means it did not take effect.
import { HistoryParseError } from "./errors.ts";
import { HistoryBuilder } from "./history-builder.ts";
import type { History, OperationKind, Value } from "./types.ts";

const LINE =
  /^INFO\s+jepsen\.util\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$/;
const INTEGER = /^-?\d+$/;
const PAIR = /^\[\s*(nil|-?\d+)\s+(nil|-?\d+)\s*\]$/;

function scalar(text: string): Value | undefined {
  if (text === "nil") return null;
  return INTEGER.test(text) ? Number(text) : undefined;
}

export function parseJepsen(text: string, source: string): History {
  const builder = new HistoryBuilder(source);
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!.trim();
    if (raw === "") continue;
    const line = index + 1;
    const match = LINE.exec(raw);
    if (match === null) {
      throw new HistoryParseError(
        source,
        line,
        `not a Jepsen register event; expected "INFO jepsen.util - <process> :invoke|:ok|:fail|:info :read|:write|:cas <value>", got ${JSON.stringify(raw.slice(0, 80))}`,
      );
    }
    const [, process, type, f, argument] = match as unknown as [
      string,
      string,
      string,
      OperationKind,
      string,
    ];
    const bad = (what: string): never => {
      throw new HistoryParseError(source, line, `${what} in ${JSON.stringify(raw.slice(0, 80))}`);
    };
    if (type === "invoke") {
      let value: Value = null;
      let expected: Value = null;
      if (f === "write") {
        const parsed = scalar(argument);
        if (parsed === undefined || parsed === null) bad("a write needs an integer value");
        value = parsed as Value;
      } else if (f === "cas") {
        const pair = PAIR.exec(argument);
        if (pair === null) bad("a cas needs [<from> <to>]");
        expected = scalar(pair![1]!)!;
        value = scalar(pair![2]!)!;
      }
      builder.invoke({ process, kind: f, key: "", value, expected, time: null, line });
      continue;
    }
    if (type === "ok") {
      let value: Value = null;
      if (f === "read") {
        const parsed = scalar(argument);
        if (parsed === undefined) bad("a read returns nil or an integer");
        value = parsed as Value;
      }
      builder.complete({ process, kind: f, outcome: "ok", value, swapped: true, time: null, line });
      continue;
    }
    if (type === "fail" && f === "cas") {
      builder.complete({
        process,
        kind: f,
        outcome: "ok",
        value: null,
        swapped: false,
        time: null,
        line,
      });
      continue;
    }
    const outcome = type === "fail" && f === "write" ? "fail" : "unknown";
    builder.complete({ process, kind: f, outcome, value: null, swapped: false, time: null, line });
  }
  return builder.build("jepsen", null, "register");
}
