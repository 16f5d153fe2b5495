// Unreadable histories are refused with a message naming the file and line and saying what to do.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CheckerError,
  checkHistory,
  detectFormat,
  HistoryParseError,
  parseHistory,
} from "../../../src/testing/linearizability/index.ts";

function parseFails(text: string, pattern: RegExp, format?: "jsonl" | "jepsen" | "edn"): void {
  assert.throws(
    () => parseHistory(text, "h.txt", format),
    (error: unknown) => {
      assert.ok(error instanceof CheckerError, String(error));
      assert.match(error.message, pattern);
      return true;
    },
  );
}

const put = '{"type":"invoke","process":1,"op":"put","key":"a","value":"x"}';

test("invalid JSON names the file and line", () => {
  parseFails(`${put}\n\n{"type":"complete",`, /^h\.txt:3: not valid JSON/);
});

test("the error is a HistoryParseError with code and position", () => {
  try {
    parseHistory(`${put}\n{"type":"bogus"}`, "h.txt");
    assert.fail("expected a parse error");
  } catch (error) {
    assert.ok(error instanceof HistoryParseError);
    assert.equal(error.code, "HISTORY_PARSE");
    assert.equal(error.line, 2);
    assert.match(error.message, /"type" must be "meta", "invoke" or "complete"/);
  }
});

test("JSONL events are validated field by field", () => {
  parseFails(
    '{"type":"invoke","process":1,"op":"increment"}',
    /h\.txt:1: "op" must be one of read, get, write, put/,
  );
  parseFails('{"type":"invoke","op":"get"}', /h\.txt:1: "process" must be/);
  parseFails('{"type":"invoke","process":1,"op":"put","key":"a"}', /needs "value"/);
  parseFails('{"type":"invoke","process":1,"op":"cas","from":1}', /needs "from" and "to"/);
  parseFails(
    `${put}\n{"type":"complete","process":1,"outcome":"maybe"}`,
    /h\.txt:2: "outcome" must be "ok", "fail" or "unknown"/,
  );
  parseFails(
    '{"type":"invoke","process":1,"op":"get","timeMs":-3}',
    /"timeMs" must be a non-negative number/,
  );
  parseFails('{"type":"meta","version":2}', /unsupported history version 2/);
});

test("an ok read must say what it read", () => {
  parseFails(
    '{"type":"invoke","process":1,"op":"get","key":"a"}\n{"type":"complete","process":1,"outcome":"ok"}',
    /h\.txt:2: an ok completion of a read must give the value read/,
  );
});

test("pairing errors point at both lines", () => {
  parseFails(
    '{"type":"complete","process":4,"outcome":"ok"}',
    /h\.txt:1: completion for process 4 without a preceding invocation/,
  );
  parseFails(
    `${put}\n${put}`,
    /h\.txt:2: process 1 invokes a new operation while its operation from line 1 has no completion/,
  );
  parseFails(
    `${put}\n{"type":"complete","process":1,"op":"get","outcome":"ok"}`,
    /says operation "read" but process 1 invoked "write" at line 1/,
  );
  parseFails(
    '{"type":"invoke","process":1,"op":"get","timeMs":10}\n{"type":"complete","process":1,"outcome":"ok","value":null,"timeMs":5}',
    /h\.txt:2: completion time .* is earlier than its invocation time/,
  );
  parseFails(
    '{"type":"invoke","process":1,"op":"get","timeMs":10}\n{"type":"complete","process":1,"outcome":"ok","value":null}',
    /h\.txt:2: this event has no timestamp but earlier ones do/,
  );
});

test("Jepsen and EDN lines are checked too", () => {
  parseFails(
    "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:frobnicate\t1",
    /h\.txt:2: not a Jepsen register event/,
  );
  parseFails("INFO  jepsen.util - 0\t:invoke\t:cas\t[1]", /h\.txt:1: a cas needs \[<from> <to>\]/);
  parseFails(
    '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n{:process 0, :type :ok, :f :get',
    /h\.txt:2: unexpected end of line/,
  );
  parseFails(
    '{:process 0, :type :invoke, :f :scan, :key "1", :value nil}',
    /h\.txt:1: :f must be one of/,
  );
  parseFails('{:process 0, :type :invoke, :f :get, :key "1", :value #{}}', /unsupported EDN token/);
});

test("an unrecognizable file says which formats exist", () => {
  assert.throws(
    () => detectFormat("\n\nhello world\n", "h.txt"),
    /h\.txt:3: cannot tell the history format .* or pass --format/,
  );
  assert.throws(() => detectFormat("  \n", "h.txt"), /h\.txt: the file is empty/);
  assert.equal(detectFormat('\n{"type":"invoke"}', "h"), "jsonl");
  assert.equal(detectFormat("{:process 1}", "h"), "edn");
  assert.equal(detectFormat("INFO  jepsen.util - 1 :invoke :read nil", "h"), "jepsen");
});

test("operations outside the chosen model are refused before the search", () => {
  const append = '{"type":"invoke","process":1,"op":"append","key":"a","value":"x"}';
  const history = parseHistory(append, "h.txt");
  assert.throws(
    () => checkHistory(history, { model: "register" }),
    /h\.txt:1: the register model has no "append" operation; use --model kv/,
  );
  const twoKeys = parseHistory(
    `${put}\n{"type":"invoke","process":2,"op":"put","key":"b","value":"y"}`,
    "h.txt",
  );
  assert.throws(
    () => checkHistory(twoKeys, { model: "register" }),
    /h\.txt:2: the register model takes one key/,
  );
  assert.equal(checkHistory(twoKeys).model, "kv");
});
