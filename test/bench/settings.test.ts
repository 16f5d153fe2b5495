import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseInteger } from "../../bench/lib/settings.ts";

const NAME = "KV_BENCH_ROUNDS";

describe("parseInteger (benchmark settings)", () => {
  it("gives the fallback when the variable is unset or empty", () => {
    assert.equal(parseInteger(NAME, undefined, 7, 1, 99), 7);
    assert.equal(parseInteger(NAME, "", 7, 1, 99), 7);
    assert.equal(parseInteger(NAME, "  ", 7, 1, 99), 7);
  });

  it("reads an integer within the bounds, the bounds included", () => {
    for (const [raw, expected] of [
      ["1", 1],
      ["42", 42],
      ["99", 99],
      [" 9 ", 9],
    ] as const) {
      assert.equal(parseInteger(NAME, raw, 7, 1, 99), expected);
    }
  });

  it("refuses anything else, naming the variable, the range and the value", () => {
    for (const raw of ["0", "100", "-3", "2.5", "seven", "1e9", "NaN", "0x10z"]) {
      assert.throws(
        () => parseInteger(NAME, raw, 7, 1, 99),
        (error: Error) =>
          error instanceof RangeError &&
          error.message === `${NAME} must be an integer from 1 to 99, got ${JSON.stringify(raw)}`,
        raw,
      );
    }
  });
});
