// Put and delete are encoded and decoded without msgpackr (src/kv/simple-commands.ts). The bytes
// must be exactly msgpackr's, and every byte string must decode to the same result as through
// msgpackr, or nodes running either path would disagree.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  COMMAND_FORMAT_VERSION,
  decodeCommand,
  encodeCommand,
  type KvCommand,
  parseCommand,
  resolveKvLimits,
} from "../../src/kv/index.ts";
import { checkMsgpackShape } from "../../src/kv/msgpack-shape.ts";
import { decodeSimpleCommand } from "../../src/kv/simple-commands.ts";

// The general encoding, configured as src/kv/commands.ts configures it.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
// The largest key the store takes (LMDB's key size) and values past 64 KiB.
const limits = resolveKvLimits({ maxKeySizeBytes: 1977, maxValueSizeBytes: 100_000 });

function msgpackrBytes(command: KvCommand): Uint8Array {
  const wire =
    command.type === "put"
      ? { type: command.type, key: command.key, value: command.value }
      : { type: command.type, key: (command as { key: string }).key };
  return Uint8Array.from([COMMAND_FORMAT_VERSION, ...packr.pack(wire)]);
}

/** decodeCommand's answer as the general path alone would give it. */
function decodeThroughMsgpackr(bytes: Uint8Array): unknown {
  try {
    if (bytes[0] !== COMMAND_FORMAT_VERSION) return "version";
    const body = bytes.subarray(1);
    if (checkMsgpackShape(body) !== undefined) return "shape";
    return { ok: true, command: parseCommand(packr.unpack(body), limits) };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? "INVALID_COMMAND" };
  }
}

function normalize(result: ReturnType<typeof decodeCommand>): unknown {
  if (!result.ok) return { error: result.code };
  const { command } = result;
  return JSON.stringify(command, (_, value) =>
    value instanceof Uint8Array ? Array.from(value) : value,
  );
}

// Keys: any well-formed Unicode text, short and long (every string header a key can need).
const keyArbitrary = fc.oneof(
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 450 }),
  fc.integer({ min: 1, max: 1977 }).map((length) => "k".repeat(length)),
);
// Values: empty to past 64 KiB (every bin header size).
const valueArbitrary = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }),
  fc.integer({ min: 0, max: 70_000 }).map((length) => new Uint8Array(length).fill(length % 251)),
);
const commandArbitrary: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ type: fc.constant("put" as const), key: keyArbitrary, value: valueArbitrary }),
  fc.record({ type: fc.constant("delete" as const), key: keyArbitrary }),
);

test("put and delete encode to exactly msgpackr's bytes", () => {
  fc.assert(
    fc.property(commandArbitrary, (command) => {
      assert.deepEqual(encodeCommand(command, limits), msgpackrBytes(command));
    }),
    { numRuns: 400 },
  );
});

test("they decode to the same command as through msgpackr, and back to the same bytes", () => {
  fc.assert(
    fc.property(commandArbitrary, (command) => {
      const bytes = msgpackrBytes(command);
      const decoded = decodeCommand(bytes, limits);
      assert.ok(decoded.ok);
      assert.ok(decodeSimpleCommand(bytes.subarray(1)) !== undefined, "the fast path took it");
      assert.equal(normalize(decoded), JSON.stringify(decodeThroughMsgpackr(bytes), replacer));
      assert.deepEqual(encodeCommand(decoded.command, limits), bytes);
    }),
    { numRuns: 400 },
  );
});

function replacer(_: string, value: unknown): unknown {
  if (value && typeof value === "object" && "command" in value)
    return (value as { command: unknown }).command;
  return value instanceof Uint8Array ? Array.from(value) : value;
}

test("any damaged or foreign bytes decode the same with or without the fast path", () => {
  const sample = (command: KvCommand) => encodeCommand(command, limits);
  const damaged = fc
    .tuple(
      commandArbitrary.filter((command) => (command as { key: string }).key.length < 200),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: -3, max: 3 }),
    )
    .map(([command, edits, lengthChange]) => {
      const bytes = Array.from(sample(command));
      // Half of the inputs keep their length and are damaged only in their last bytes (the key
      // and value), where the layout survives and the fast path decides.
      const inPayload = lengthChange === 0 || lengthChange === 1;
      for (const [at, value] of edits) {
        const position = inPayload
          ? bytes.length - 1 - (at % Math.min(bytes.length - 1, 24))
          : at % bytes.length;
        bytes[position] = value;
      }
      if (!inPayload && lengthChange > 0) for (let i = 0; i < lengthChange; i++) bytes.push(i);
      else if (!inPayload) bytes.length = Math.max(1, bytes.length + lengthChange);
      bytes[0] = COMMAND_FORMAT_VERSION;
      return Uint8Array.from(bytes);
    });
  let tookFastPath = 0;
  fc.assert(
    fc.property(damaged, (bytes) => {
      if (decodeSimpleCommand(bytes.subarray(1)) !== undefined) tookFastPath++;
      const fast = decodeCommand(bytes, limits);
      const general = decodeThroughMsgpackr(bytes);
      if (typeof general === "string") {
        // The general path refuses these before decoding; so must the fast one.
        assert.equal(fast.ok, false);
        return;
      }
      if ("error" in (general as object)) {
        assert.equal(fast.ok, false);
        assert.equal(fast.ok ? "" : fast.code, (general as { error: string }).error);
        return;
      }
      assert.equal(normalize(fast), JSON.stringify(general, replacer));
    }),
    { numRuns: 2000 },
  );
  // Damage inside the key or value keeps the layout: the fast path must have been compared too.
  assert.ok(tookFastPath > 100, `only ${tookFastPath} of 2000 damaged inputs took the fast path`);
});

test("the fast path leaves invalid UTF-8, trailing bytes and other shapes to the general path", () => {
  const put = encodeCommand({ type: "put", key: "abc", value: Uint8Array.from([1]) }, limits);
  const body = put.subarray(1);
  assert.ok(decodeSimpleCommand(body));
  assert.equal(decodeSimpleCommand(Uint8Array.from([...body, 0])), undefined, "trailing byte");
  const invalidUtf8 = Uint8Array.from(body);
  invalidUtf8[body.indexOf(0x61)] = 0xff; // the key's "a"
  assert.equal(decodeSimpleCommand(invalidUtf8), undefined);
  const txn = encodeCommand({ type: "txn", compare: [], success: [], failure: [] }, limits);
  assert.equal(decodeSimpleCommand(txn.subarray(1)), undefined);
});
