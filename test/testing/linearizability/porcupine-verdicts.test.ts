// Every history of the Porcupine test data gets the verdict listed in expected.tsv.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { checkHistory, parseHistory } from "../../../src/testing/linearizability/index.ts";

// The test data lives beside the repository (CI copies shared/ next to its clone).
const testdata = new URL("../../../../shared/testdata/porcupine/", import.meta.url);

function expectedVerdicts(): [string, string][] {
  const table = readFileSync(new URL("expected.tsv", testdata), "utf8").trim().split("\n");
  assert.equal(table[0], "file\texpected", "expected.tsv header changed");
  return table.slice(1).map((row) => {
    const [file, verdict] = row.split("\t");
    assert.ok(file !== undefined && verdict !== undefined, `malformed row ${row}`);
    return [file, verdict];
  });
}

test("the Porcupine test data is where the tests look for it", () => {
  assert.ok(
    existsSync(new URL("expected.tsv", testdata)),
    `missing ${testdata.pathname}expected.tsv`,
  );
  const rows = expectedVerdicts();
  assert.equal(rows.length, 108);
  assert.equal(rows.filter(([, verdict]) => verdict === "linearizable").length, 26);
});

describe("Porcupine histories reproduce their expected verdicts", () => {
  for (const [file, expected] of expectedVerdicts()) {
    test(`${file} is ${expected}`, (t) => {
      const history = parseHistory(readFileSync(new URL(file, testdata), "utf8"), file);
      // Generous limit: a loaded CI machine must not turn a verdict into unknown.
      const result = checkHistory(history, { timeoutMs: 120_000 });
      assert.equal(result.verdict, expected, result.unknownReason ?? undefined);
      assert.equal(result.model, file.startsWith("kv/") ? "kv" : "register");
      if (file.includes("c50")) {
        t.diagnostic(
          `${file}: ${result.elapsedMs.toFixed(1)} ms, ${result.operationsChecked} operations, ${result.partitions} keys`,
        );
      }
    });
  }
});
