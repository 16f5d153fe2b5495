import assert from "node:assert/strict";
import { test } from "node:test";
import { Packr } from "msgpackr";
import {
  COMMAND_FORMAT_VERSION,
  decodeCommand,
  encodeCommand,
  type KvCommand,
  type KvError,
  resolveKvLimits,
} from "../../src/kv/index.ts";
import { bytes, defaultLimits } from "./helpers.ts";

const packr = new Packr({ useRecords: false });
const raw = (value: unknown): Uint8Array => {
  const body = packr.pack(value);
  return new Uint8Array([COMMAND_FORMAT_VERSION, ...body]);
};
const code = (expected: string) => (error: unknown) => (error as KvError).code === expected;

function decodeError(data: Uint8Array, limits = defaultLimits): string {
  const decoded = decodeCommand(data, limits);
  assert.equal(decoded.ok, false, "expected a decode error");
  return decoded.ok ? "" : decoded.code;
}

test("every command type round-trips through the versioned encoding", () => {
  const commands: KvCommand[] = [
    { type: "put", key: "a/b", value: bytes("v") },
    { type: "put", key: "ключ-🔑", value: new Uint8Array(0) },
    { type: "delete", key: "a/b" },
    {
      type: "txn",
      compare: [
        { key: "k", target: "value", op: "=", value: bytes("x") },
        { key: "k", target: "version", op: ">", value: 2 },
        { key: "k", target: "modRevision", op: "<", value: 10 },
        { key: "k", target: "createRevision", op: "!=", value: 0 },
        { key: "k", target: "exists", op: "=", value: true },
      ],
      success: [
        { type: "put", key: "k", value: bytes("y") },
        { type: "get", key: "k" },
        { type: "delete", key: "j" },
      ],
      failure: [{ type: "get", key: "k" }],
    },
    { type: "txn", compare: [], success: [], failure: [] },
  ];
  for (const command of commands) {
    const encoded = encodeCommand(command, defaultLimits);
    assert.equal(encoded[0], COMMAND_FORMAT_VERSION);
    const decoded = decodeCommand(encoded, defaultLimits);
    assert.ok(decoded.ok);
    assert.deepEqual(JSON.stringify(decoded.command), JSON.stringify(command));
    assert.deepEqual(
      encodeCommand(decoded.command, defaultLimits),
      encoded,
      "same command, same bytes",
    );
  }
});

test("a txn without compare or failure lists decodes them as empty", () => {
  const decoded = decodeCommand(
    raw({ type: "txn", success: [{ type: "get", key: "a" }] }),
    defaultLimits,
  );
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.command, {
    type: "txn",
    compare: [],
    success: [{ type: "get", key: "a" }],
    failure: [],
  });
});

test("keys: empty, non-string, lone surrogate and oversized keys are refused with codes", () => {
  const limits = resolveKvLimits({ maxKeySizeBytes: 8 });
  const put = (key: unknown) => ({ type: "put", key, value: bytes("v") }) as KvCommand;
  assert.throws(() => encodeCommand(put(""), limits), code("INVALID_KEY"));
  assert.throws(() => encodeCommand(put(7), limits), code("INVALID_KEY"));
  assert.throws(() => encodeCommand(put("a\uD800b"), limits), code("INVALID_KEY"));
  assert.throws(() => encodeCommand(put("\uDC00"), limits), code("INVALID_KEY"));
  encodeCommand(put("12345678"), limits);
  assert.throws(() => encodeCommand(put("123456789"), limits), code("KEY_TOO_LARGE"));
  // Four 2-byte characters fit; five do not: the limit counts UTF-8 bytes, not characters.
  encodeCommand(put("éééé"), limits);
  assert.throws(() => encodeCommand(put("ééééé"), limits), code("KEY_TOO_LARGE"));
  assert.equal(decodeError(raw({ type: "delete", key: "123456789" }), limits), "KEY_TOO_LARGE");
  assert.equal(
    decodeError(
      raw({ type: "txn", compare: [{ key: "", target: "exists", op: "=", value: true }] }),
    ),
    "INVALID_KEY",
  );
});

test("values: must be bytes and within maxValueSizeBytes", () => {
  const limits = resolveKvLimits({ maxValueSizeBytes: 4 });
  encodeCommand({ type: "put", key: "k", value: new Uint8Array(4) }, limits);
  assert.throws(
    () => encodeCommand({ type: "put", key: "k", value: new Uint8Array(5) }, limits),
    code("VALUE_TOO_LARGE"),
  );
  assert.equal(decodeError(raw({ type: "put", key: "k", value: "text" })), "INVALID_COMMAND");
  assert.equal(
    decodeError(raw({ type: "put", key: "k", value: new Uint8Array(5) }), limits),
    "VALUE_TOO_LARGE",
  );
  assert.equal(
    decodeError(
      raw({
        type: "txn",
        compare: [{ key: "k", target: "value", op: "=", value: new Uint8Array(5) }],
      }),
      limits,
    ),
    "VALUE_TOO_LARGE",
  );
});

test("malformed commands decode to INVALID_COMMAND and never throw", () => {
  const cases: unknown[] = [
    null,
    42,
    "put",
    [1, 2],
    {},
    { type: "increment", key: "k" },
    { type: "put", key: "k" },
    { type: "put", key: "k", value: bytes("v"), lease: 5 },
    { type: "delete", key: "k", extra: true },
    { type: "txn", compare: "nope" },
    { type: "txn", success: {} },
    { type: "txn", success: [{ type: "range", key: "k" }] },
    { type: "txn", compare: [{ key: "k", target: "owner", op: "=", value: 1 }] },
    { type: "txn", compare: [{ key: "k", target: "version", op: ">=", value: 1 }] },
    { type: "txn", compare: [{ key: "k", target: "version", op: "=", value: -1 }] },
    { type: "txn", compare: [{ key: "k", target: "version", op: "=", value: 1.5 }] },
    { type: "txn", compare: [{ key: "k", target: "version", op: "=", value: "1" }] },
    { type: "txn", compare: [{ key: "k", target: "exists", op: "<", value: true }] },
    { type: "txn", compare: [{ key: "k", target: "exists", op: "=", value: 1 }] },
    { type: "txn", compare: [{ key: "k", target: "value", op: "=", value: 1 }] },
    {
      type: "txn",
      success: [
        { type: "put", key: "k", value: bytes("1") },
        { type: "delete", key: "k" },
      ],
    },
  ];
  for (const value of cases) {
    assert.equal(decodeError(raw(value)), "INVALID_COMMAND", JSON.stringify(value));
  }
  assert.equal(decodeError(new Uint8Array([COMMAND_FORMAT_VERSION, 0xc1])), "INVALID_COMMAND");
  assert.equal(
    decodeError(new Uint8Array([COMMAND_FORMAT_VERSION, 0x81, 0xa1])),
    "INVALID_COMMAND",
  );
  assert.equal(decodeError(new Uint8Array([COMMAND_FORMAT_VERSION])), "INVALID_COMMAND");
  const trailing = raw({ type: "delete", key: "k" });
  assert.equal(decodeError(new Uint8Array([...trailing, 0x00])), "INVALID_COMMAND");
  assert.equal(
    decodeError(new Uint8Array([2, ...trailing.subarray(1)])),
    "UNSUPPORTED_COMMAND_VERSION",
  );
  assert.equal(decodeError(new Uint8Array([0])), "UNSUPPORTED_COMMAND_VERSION");
  // msgpackr renames a __proto__ key instead of touching the prototype: still just unknown.
  assert.equal(
    decodeError(raw(JSON.parse('{"type":"delete","key":"k","__proto__":{"x":1}}'))),
    "INVALID_COMMAND",
  );
});

test("transactions are bounded: compares, ops per branch and the encoded size", () => {
  const limits = resolveKvLimits({ maxTxnOps: 2, maxTxnCompares: 1 });
  const get = { type: "get" as const, key: "k" };
  encodeCommand({ type: "txn", compare: [], success: [get, get], failure: [get, get] }, limits);
  assert.throws(
    () =>
      encodeCommand({ type: "txn", compare: [], success: [get, get, get], failure: [] }, limits),
    code("TOO_MANY_TXN_OPS"),
  );
  const exists = { key: "k", target: "exists" as const, op: "=" as const, value: true };
  assert.throws(
    () =>
      encodeCommand({ type: "txn", compare: [exists, exists], success: [], failure: [] }, limits),
    code("TOO_MANY_TXN_OPS"),
  );
  const small = resolveKvLimits({
    maxValueSizeBytes: 100,
    maxKeySizeBytes: 10,
    maxCommandSizeBytes: 150,
  });
  const put = (key: string) => ({ type: "put" as const, key, value: new Uint8Array(100) });
  encodeCommand(put("k"), small);
  assert.throws(
    () =>
      encodeCommand(
        { type: "txn", compare: [], success: [put("a"), put("b")], failure: [] },
        small,
      ),
    code("COMMAND_TOO_LARGE"),
  );
  assert.equal(decodeError(new Uint8Array(151).fill(1), small), "COMMAND_TOO_LARGE");
});

test("limits are validated once: unknown names, non-integers and the storage ceiling", () => {
  assert.throws(() => resolveKvLimits({ maxKeySizeBytes: 0 }), code("INVALID_OPTIONS"));
  assert.throws(() => resolveKvLimits({ maxValueSizeBytes: 1.5 }), code("INVALID_OPTIONS"));
  assert.throws(() => resolveKvLimits({ maxKeySizeBytes: 1978 }), code("INVALID_OPTIONS"));
  assert.throws(
    () => resolveKvLimits({ maxValueSizeBytes: 10, maxCommandSizeBytes: 5 }),
    code("INVALID_OPTIONS"),
  );
  assert.throws(() => resolveKvLimits({ maxKeys: 3 } as never), code("INVALID_OPTIONS"));
  assert.equal(resolveKvLimits({ maxKeySizeBytes: 1977 }).maxKeySizeBytes, 1977);
  assert.deepEqual(resolveKvLimits(), {
    maxKeySizeBytes: 1024,
    maxValueSizeBytes: 1048576,
    maxCommandSizeBytes: 2097152,
    maxTxnCompares: 128,
    maxTxnOps: 128,
    maxListLimit: 10000,
    maxListSizeBytes: 4194304,
  });
});
