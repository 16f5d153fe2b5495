import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { decodeCommand } from "../../src/kv/index.ts";
import { checkMsgpackShape } from "../../src/kv/msgpack-shape.ts";
import { defaultLimits } from "./helpers.ts";

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261127);

/** Levels of non-empty containers: what the shape check limits (an empty one nests nothing). */
function depthOf(value: unknown): number {
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.length === 0 ? 0 : 1 + Math.max(...children.map(depthOf));
}

test("every msgpack value within the depth limit passes the shape check", () => {
  const valueArb = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.maxSafeInteger(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 300 }).map((v) => Buffer.from(v)),
      fc.array(tie("value"), { maxLength: 20 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 20 }),
    ),
  })).value;
  // Wrap values in up to 12 more levels so both sides of the limit are exercised.
  const nestedArb = fc
    .tuple(valueArb, fc.nat({ max: 12 }), fc.boolean())
    .map(([value, levels, asMap]) => {
      let nested = value;
      for (let i = 0; i < levels; i++) nested = asMap ? { k: nested } : [nested];
      return nested;
    });
  let refused = 0;
  fc.assert(
    fc.property(nestedArb, (value) => {
      const bytes = packr.pack(value);
      const verdict = checkMsgpackShape(bytes);
      if (depthOf(value) <= 8) assert.equal(verdict, undefined, `refused ${JSON.stringify(value)}`);
      else {
        refused++;
        assert.match(verdict ?? "", /nest deeper/);
      }
    }),
    { seed, numRuns: 500 },
  );
  assert.ok(refused > 50, `only ${refused} values were deeper than the limit`);
});

test("whatever bytes pass the shape check, msgpackr decodes without throwing", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      if (checkMsgpackShape(bytes) === undefined) packr.unpack(bytes);
    }),
    { seed, numRuns: 5000 },
  );
});

test("deep nesting, extension types and long counts are refused before decoding", () => {
  const deep = new Uint8Array(200_000).fill(0x91); // [[[[...]]]]
  deep[deep.length - 1] = 0xc0;
  assert.match(checkMsgpackShape(deep) ?? "", /nest deeper than 8/);
  const nine = new Uint8Array(10).fill(0x91);
  nine[9] = 0xc0;
  assert.equal(checkMsgpackShape(nine.subarray(1)), undefined, "eight levels pass");
  assert.match(checkMsgpackShape(nine) ?? "", /nest deeper than 8/, "nine do not");
  const decoded = decodeCommand(new Uint8Array([1, ...deep]), defaultLimits);
  assert.deepEqual(decoded, {
    ok: false,
    code: "INVALID_COMMAND",
    message: "the command is not valid msgpack: values nest deeper than 8 levels",
  });
  assert.match(checkMsgpackShape(packr.pack(new Date(0))) ?? "", /extension/);
  assert.match(checkMsgpackShape(new Uint8Array([0xd4, 0x01, 0x00])) ?? "", /extension/);
  assert.match(
    checkMsgpackShape(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0])) ?? "",
    /more values/,
  );
  assert.match(checkMsgpackShape(new Uint8Array([0xc4, 0x05, 1, 2])) ?? "", /end inside/);
  assert.match(checkMsgpackShape(new Uint8Array([0xc0, 0xc0])) ?? "", /follow/);
  assert.match(checkMsgpackShape(new Uint8Array([])) ?? "", /end inside/);
  assert.equal(checkMsgpackShape(new Uint8Array([0x92, 0x01, 0x81, 0xa1, 0x61, 0xc3])), undefined);
});
