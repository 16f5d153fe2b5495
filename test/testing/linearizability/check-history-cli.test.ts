// `hothot check-history`: one line per file, explanations on request, exit codes 0 / 1 / 2.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { exponentialHistory, jsonl } from "./helpers.ts";

// Runs the command from source through tsx, so the test does not depend on a prior build.
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const testdata = fileURLToPath(new URL("../../../../shared/testdata/porcupine/", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "hothot-check-history-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "check-history", ...args],
    {
      cwd: repo,
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

const linearizable = join(testdata, "jepsen/etcd_002.log");
const violating = join(testdata, "kv/c10-bad.txt");

test("all linearizable: one tab-separated line per file, exit 0", () => {
  const kvOk = join(testdata, "kv/c10-ok.txt");
  const { status, stdout, stderr } = run(linearizable, kvOk);
  assert.equal(status, 0, stderr);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, new RegExp(`^${linearizable}\\tlinearizable\\t\\d+$`));
  assert.match(lines[1]!, new RegExp(`^${kvOk}\\tlinearizable\\t\\d+$`));
});

test("a violation exits 1 and --explain says what cannot be ordered", () => {
  const plain = run(linearizable, violating);
  assert.equal(plain.status, 1);
  assert.match(plain.stdout, /c10-bad\.txt\tnot-linearizable\t\d+\n$/);
  const explained = run("--explain", violating);
  assert.equal(explained.status, 1);
  assert.match(explained.stdout, /no linearization on key "\d+"/);
  assert.match(
    explained.stdout,
    /due next \(earliest completion not yet placed\): line \d+-\d+ process \d+/,
  );
});

test("format and model can be forced; a wrong model is a clear error with exit 2", () => {
  assert.equal(run("--format", "edn", "--model", "kv", violating).status, 1);
  const wrong = run("--model", "register", violating);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stdout, /c10-bad\.txt\tunknown\t\d+/);
  assert.match(
    wrong.stderr,
    /c10-bad\.txt:2: the register model takes one key, .*; use --model kv/,
  );
});

test("an unreadable or malformed file exits 2 with a message naming the file and line", () => {
  const malformed = join(scratch, "malformed.jsonl");
  writeFileSync(
    malformed,
    '{"type":"invoke","process":1,"op":"get"}\n{"type":"complete","process":1,"outcome":"ok","value":null}\nnot json\n',
  );
  const missing = join(scratch, "missing.jsonl");
  const { status, stdout, stderr } = run(linearizable, malformed, missing);
  assert.equal(status, 2);
  assert.match(stdout, /etcd_002\.log\tlinearizable/);
  assert.match(stderr, new RegExp(`${malformed}:3: not valid JSON`));
  assert.match(stderr, new RegExp(`${missing}: cannot read the file`));
});

test("a history past its time limit is unknown, exit 2", () => {
  const hard = join(scratch, "hard.jsonl");
  writeFileSync(hard, jsonl(exponentialHistory(40)));
  const { status, stdout, stderr } = run("--timeout-ms", "300", hard);
  assert.equal(status, 2);
  assert.match(stdout, /hard\.jsonl\tunknown\t\d+/);
  assert.match(stderr, /verdict unknown: time limit of 300 ms reached/);
});

test("--jobs checks the keys in worker threads with the same verdicts", () => {
  const { status, stdout } = run("--jobs", "2", violating, join(testdata, "kv/c10-ok.txt"));
  assert.equal(status, 1);
  assert.match(stdout, /c10-bad\.txt\tnot-linearizable\t\d+\n.*c10-ok\.txt\tlinearizable\t\d+\n$/);
  assert.equal(run("--jobs", "0", violating).status, 2);
});

test("a violation outranks unknown: exit 1", () => {
  assert.equal(run(violating, join(scratch, "missing.jsonl")).status, 1);
});

test("usage errors exit 2, not 1 (which means a violation)", () => {
  const badTimeout = run("--timeout-ms", "soon", linearizable);
  assert.equal(badTimeout.status, 2);
  assert.match(badTimeout.stderr, /expected a whole number of milliseconds/);
  assert.equal(run("--format", "csv", linearizable).status, 2);
  assert.equal(run().status, 2);
});
