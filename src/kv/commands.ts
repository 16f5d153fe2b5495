// KV commands: the payload of a log entry, their validation and their versioned encoding.
//
// Encoding, version 1: one byte COMMAND_FORMAT_VERSION, then a msgpack map (see docs/kv.md).
// Decoding never throws: a malformed entry is a deterministic error result at apply time, so
// every node reaches the same state whatever bytes the log holds.

import { Packr } from "msgpackr";
import { KvError, type KvErrorCode } from "./errors.ts";
import type { KvLimits } from "./limits.ts";
import { checkMsgpackShape } from "./msgpack-shape.ts";
import { decodeSimpleCommand, encodeSimpleCommand } from "./simple-commands.ts";

export const COMMAND_FORMAT_VERSION = 1;

export type CompareOperator = "=" | "!=" | "<" | ">";
export type CompareNumberTarget = "version" | "createRevision" | "modRevision";

export type Compare =
  | { key: string; target: "value"; op: CompareOperator; value: Uint8Array }
  | { key: string; target: CompareNumberTarget; op: CompareOperator; value: number }
  | { key: string; target: "exists"; op: "=" | "!="; value: boolean };

export type TxnOp =
  | { type: "put"; key: string; value: Uint8Array }
  | { type: "delete"; key: string }
  | { type: "get"; key: string };

export type PutCommand = { type: "put"; key: string; value: Uint8Array };
export type DeleteCommand = { type: "delete"; key: string };
export type TxnCommand = {
  type: "txn";
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
};
export type KvCommand = PutCommand | DeleteCommand | TxnCommand;

export type DecodeResult =
  | { ok: true; command: KvCommand }
  | { ok: false; code: KvErrorCode; message: string };

// Plain maps only: records/structures would make the bytes depend on encoder state.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const OPERATORS: ReadonlySet<string> = new Set(["=", "!=", "<", ">"]);
const NUMBER_TARGETS: ReadonlySet<string> = new Set(["version", "createRevision", "modRevision"]);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

class Invalid extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Checks a key against the limits; returns it. Throws KvError. */
export function validateKey(key: unknown, limits: KvLimits, what = "key"): string {
  if (typeof key !== "string" || key.length === 0) {
    throw new KvError("INVALID_KEY", `${what} must be a non-empty string`);
  }
  if (LONE_SURROGATE.test(key)) {
    throw new KvError(
      "INVALID_KEY",
      `${what} is not valid Unicode (lone surrogate); send UTF-8 text`,
    );
  }
  // Measured, not encoded: every write passes here on every node, and an encoding is an
  // allocation outside the JavaScript heap.
  const sizeBytes = Buffer.byteLength(key, "utf8");
  if (sizeBytes > limits.maxKeySizeBytes) {
    throw new KvError(
      "KEY_TOO_LARGE",
      `${what} is ${sizeBytes} bytes of UTF-8; the limit is ${limits.maxKeySizeBytes} bytes, shorten it`,
    );
  }
  return key;
}

function validateValue(value: unknown, limits: KvLimits): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new KvError("INVALID_COMMAND", "value must be bytes (Uint8Array)");
  }
  if (value.length > limits.maxValueSizeBytes) {
    throw new KvError(
      "VALUE_TOO_LARGE",
      `value is ${value.length} bytes; the limit is ${limits.maxValueSizeBytes} bytes, store less per key`,
    );
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function fields(value: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new KvError("INVALID_COMMAND", `${what} must be a map`);
  for (const name of Object.keys(value)) {
    if (!allowed.includes(name)) {
      throw new KvError("INVALID_COMMAND", `${what} has an unknown field "${name}"`);
    }
  }
  const out: Record<string, unknown> = Object.create(null);
  for (const name of allowed) if (Object.hasOwn(value, name)) out[name] = value[name];
  return out;
}

function parseTxnOp(raw: unknown, limits: KvLimits, what: string): TxnOp {
  const type = isPlainObject(raw) ? raw.type : undefined;
  if (type === "put") {
    const f = fields(raw, ["type", "key", "value"], what);
    validateKey(f.key, limits, `${what}.key`);
    return { type, key: f.key as string, value: validateValue(f.value, limits) };
  }
  if (type === "delete" || type === "get") {
    const f = fields(raw, ["type", "key"], what);
    validateKey(f.key, limits, `${what}.key`);
    return { type, key: f.key as string };
  }
  throw new KvError("INVALID_COMMAND", `${what}.type must be "put", "delete" or "get"`);
}

function parseCompare(raw: unknown, limits: KvLimits, what: string): Compare {
  const f = fields(raw, ["key", "target", "op", "value"], what);
  validateKey(f.key, limits, `${what}.key`);
  const key = f.key as string;
  const { target, op, value } = f;
  if (typeof op !== "string" || !OPERATORS.has(op)) {
    throw new KvError("INVALID_COMMAND", `${what}.op must be one of = != < >`);
  }
  const operator = op as CompareOperator;
  if (target === "value") {
    return { key, target, op: operator, value: validateValue(value, limits) };
  }
  if (typeof target === "string" && NUMBER_TARGETS.has(target)) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new KvError(
        "INVALID_COMMAND",
        `${what}.value must be a non-negative integer for ${target}`,
      );
    }
    return { key, target: target as CompareNumberTarget, op: operator, value };
  }
  if (target === "exists") {
    if (operator !== "=" && operator !== "!=") {
      throw new KvError("INVALID_COMMAND", `${what}: exists compares only with = or !=`);
    }
    if (typeof value !== "boolean") {
      throw new KvError("INVALID_COMMAND", `${what}.value must be true or false for exists`);
    }
    return { key, target, op: operator, value };
  }
  throw new KvError(
    "INVALID_COMMAND",
    `${what}.target must be value, version, createRevision, modRevision or exists`,
  );
}

function parseOps(raw: unknown, limits: KvLimits, what: string): TxnOp[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new KvError("INVALID_COMMAND", `${what} must be a list`);
  if (raw.length > limits.maxTxnOps) {
    throw new KvError(
      "TOO_MANY_TXN_OPS",
      `${what} has ${raw.length} operations; the limit is ${limits.maxTxnOps}, split the transaction`,
    );
  }
  const ops = raw.map((op, i) => parseTxnOp(op, limits, `${what}[${i}]`));
  // As in etcd: one branch writes a key at most once, so the outcome never depends on the
  // order of writes to the same key within one revision.
  const written = new Set<string>();
  for (const op of ops) {
    if (op.type === "get") continue;
    if (written.has(op.key)) {
      throw new KvError(
        "INVALID_COMMAND",
        `${what} writes key ${JSON.stringify(op.key)} more than once`,
      );
    }
    written.add(op.key);
  }
  return ops;
}

/** Validates an untrusted command (already decoded from msgpack, or built by a caller). */
export function parseCommand(raw: unknown, limits: KvLimits): KvCommand {
  const type = isPlainObject(raw) ? raw.type : undefined;
  if (type === "put") {
    const f = fields(raw, ["type", "key", "value"], "put");
    validateKey(f.key, limits);
    return { type, key: f.key as string, value: validateValue(f.value, limits) };
  }
  if (type === "delete") {
    const f = fields(raw, ["type", "key"], "delete");
    validateKey(f.key, limits);
    return { type, key: f.key as string };
  }
  if (type === "txn") {
    const f = fields(raw, ["type", "compare", "success", "failure"], "txn");
    const compare = f.compare ?? [];
    if (!Array.isArray(compare)) throw new KvError("INVALID_COMMAND", "txn.compare must be a list");
    if (compare.length > limits.maxTxnCompares) {
      throw new KvError(
        "TOO_MANY_TXN_OPS",
        `txn has ${compare.length} compares; the limit is ${limits.maxTxnCompares}`,
      );
    }
    return {
      type,
      compare: compare.map((c, i) => parseCompare(c, limits, `txn.compare[${i}]`)),
      success: parseOps(f.success, limits, "txn.success"),
      failure: parseOps(f.failure, limits, "txn.failure"),
    };
  }
  throw new KvError("INVALID_COMMAND", 'command type must be "put", "delete" or "txn"');
}

function wireOp(op: TxnOp): Record<string, unknown> {
  return op.type === "put"
    ? { type: op.type, key: op.key, value: op.value }
    : { type: op.type, key: op.key };
}

/** Validates and encodes a command for a log entry. Throws KvError on invalid input. */
export function encodeCommand(command: KvCommand, limits: KvLimits): Uint8Array {
  const valid = parseCommand(command, limits);
  // Fields in a fixed order, so one command always encodes to the same bytes.
  let wire: Record<string, unknown>;
  if (valid.type === "txn") {
    wire = {
      type: valid.type,
      compare: valid.compare.map((c) => ({
        key: c.key,
        target: c.target,
        op: c.op,
        value: c.value,
      })),
      success: valid.success.map(wireOp),
      failure: valid.failure.map(wireOp),
    };
  } else {
    // Put and delete: the same bytes as msgpackr's, written directly (simple-commands.ts).
    wire = wireOp(valid);
  }
  let bytes: Uint8Array;
  if (valid.type === "put" || valid.type === "delete") {
    bytes = encodeSimpleCommand(
      COMMAND_FORMAT_VERSION,
      valid.type,
      valid.key,
      valid.type === "put" ? valid.value : undefined,
    );
  } else {
    const body = packr.pack(wire);
    // From Node.js' shared pool for small sizes (no allocation of its own), a plain Uint8Array.
    const pooled = Buffer.allocUnsafe(1 + body.length);
    bytes = new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.length);
    bytes[0] = COMMAND_FORMAT_VERSION;
    bytes.set(body, 1);
  }
  if (bytes.length > limits.maxCommandSizeBytes) {
    throw new KvError(
      "COMMAND_TOO_LARGE",
      `the encoded command is ${bytes.length} bytes; the limit is ${limits.maxCommandSizeBytes}, split it`,
    );
  }
  return bytes;
}

/** Decodes and validates log-entry bytes. Never throws. Empty bytes are not a command (no-op). */
export function decodeCommand(bytes: Uint8Array, limits: KvLimits): DecodeResult {
  try {
    if (bytes.length > limits.maxCommandSizeBytes) {
      throw new Invalid(
        "COMMAND_TOO_LARGE",
        `the command is ${bytes.length} bytes; the limit is ${limits.maxCommandSizeBytes}`,
      );
    }
    const version = bytes[0];
    if (version !== COMMAND_FORMAT_VERSION) {
      throw new Invalid(
        "UNSUPPORTED_COMMAND_VERSION",
        `command format version ${version} is not supported (this node knows ${COMMAND_FORMAT_VERSION}); upgrade it`,
      );
    }
    const body = bytes.subarray(1);
    const simple = decodeSimpleCommand(body);
    if (simple !== undefined) {
      // parseCommand's checks of a put or delete (its layout leaves no unknown field).
      validateKey(simple.key, limits);
      const command: KvCommand =
        simple.type === "put"
          ? { type: "put", key: simple.key, value: validateValue(simple.value, limits) }
          : { type: "delete", key: simple.key };
      return { ok: true, command };
    }
    const shapeError = checkMsgpackShape(body);
    if (shapeError !== undefined) {
      throw new Invalid("INVALID_COMMAND", `the command is not valid msgpack: ${shapeError}`);
    }
    let raw: unknown;
    try {
      raw = packr.unpack(body);
    } catch (error) {
      throw new Invalid(
        "INVALID_COMMAND",
        `the command is not valid msgpack: ${(error as Error).message}`,
      );
    }
    return { ok: true, command: parseCommand(raw, limits) };
  } catch (error) {
    if (error instanceof KvError || error instanceof Invalid) {
      return { ok: false, code: error.code, message: error.message };
    }
    // Anything else (a stack overflow on absurd nesting, say) is still a property of the bytes
    // alone, so reporting it as an invalid command keeps every node in agreement.
    return {
      ok: false,
      code: "INVALID_COMMAND",
      message: `the command could not be decoded: ${String(error)}`,
    };
  }
}
