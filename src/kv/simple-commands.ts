// The two commands almost every write is, put and delete, encoded and decoded without the
// general msgpack machinery: the same bytes msgpackr writes for them (command format 1, a map
// of "type", "key" and, for a put, "value", in that order), written and read directly. Every
// node decodes every committed command, and the leader encodes each one, so this is paid three
// times per write; the general encoder and decoder cost several times more for these two shapes.
//
// encodeSimpleCommand gives exactly msgpackr's bytes (tests compare them over random commands).
// decodeSimpleCommand accepts only that exact layout, with nothing after it and a key that is
// valid UTF-8, and returns the raw fields for the same validation as the general path; anything
// else returns undefined and takes the general path, so a command decodes to the same result
// either way.

const TYPE = stringBytes("type");
const KEY = stringBytes("key");
const VALUE = stringBytes("value");
const PUT = stringBytes("put");
const DELETE = stringBytes("delete");
// msgpackr writes a plain object's map header as map16 (it counts the keys after writing them).
const MAP_2 = Uint8Array.from([0xde, 0x00, 0x02]);
const MAP_3 = Uint8Array.from([0xde, 0x00, 0x03]);
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

/** msgpack fixstr bytes of a short ASCII string. */
function stringBytes(text: string): Uint8Array {
  return Uint8Array.from([0xa0 | text.length, ...Buffer.from(text, "latin1")]);
}

function stringHeaderBytes(length: number): number {
  return length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

function binHeaderBytes(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** The version byte and msgpack bytes of {type, key[, value]}; the caller validated the command. */
export function encodeSimpleCommand(
  version: number,
  type: "put" | "delete",
  key: string,
  value: Uint8Array | undefined,
): Uint8Array {
  const keyLength = Buffer.byteLength(key, "utf8");
  const typeName = type === "put" ? PUT : DELETE;
  let size =
    1 +
    MAP_2.length +
    TYPE.length +
    typeName.length +
    KEY.length +
    stringHeaderBytes(keyLength) +
    keyLength;
  if (value !== undefined) size += VALUE.length + binHeaderBytes(value.length) + value.length;
  // From Node.js' shared pool for small sizes, seen as a plain Uint8Array.
  const pooled = Buffer.allocUnsafe(size);
  const out = new Uint8Array(pooled.buffer, pooled.byteOffset, size);
  let at = 0;
  out[at++] = version;
  out.set(value === undefined ? MAP_2 : MAP_3, at);
  at += MAP_2.length;
  out.set(TYPE, at);
  at += TYPE.length;
  out.set(typeName, at);
  at += typeName.length;
  out.set(KEY, at);
  at += KEY.length;
  if (keyLength < 0x20) {
    out[at++] = 0xa0 | keyLength;
  } else if (keyLength < 0x100) {
    out[at++] = 0xd9;
    out[at++] = keyLength;
  } else if (keyLength < 0x10000) {
    out[at++] = 0xda;
    out[at++] = keyLength >> 8;
    out[at++] = keyLength & 0xff;
  } else {
    out[at++] = 0xdb;
    pooled.writeUInt32BE(keyLength, at);
    at += 4;
  }
  at += pooled.write(key, at, keyLength, "utf8");
  if (value !== undefined) {
    out.set(VALUE, at);
    at += VALUE.length;
    const length = value.length;
    if (length < 0x100) {
      out[at++] = 0xc4;
      out[at++] = length;
    } else if (length < 0x10000) {
      out[at++] = 0xc5;
      out[at++] = length >> 8;
      out[at++] = length & 0xff;
    } else {
      out[at++] = 0xc6;
      pooled.writeUInt32BE(length, at);
      at += 4;
    }
    out.set(value, at);
    at += length;
  }
  if (at !== size) throw new Error(`simple command encoded to ${at} bytes, expected ${size}`);
  return out;
}

export interface SimpleFields {
  type: "put" | "delete";
  key: string;
  value?: Uint8Array;
}

function matches(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/**
 * The fields of a put or delete in exactly the layout encodeSimpleCommand writes (the body after
 * the version byte); undefined for anything else.
 */
export function decodeSimpleCommand(body: Uint8Array): SimpleFields | undefined {
  const end = body.length;
  const three = matches(body, 0, MAP_3);
  if (!three && !matches(body, 0, MAP_2)) return undefined;
  let at = MAP_3.length;
  if (!matches(body, at, TYPE)) return undefined;
  at += TYPE.length;
  let type: "put" | "delete";
  if (three && matches(body, at, PUT)) {
    type = "put";
    at += PUT.length;
  } else if (!three && matches(body, at, DELETE)) {
    type = "delete";
    at += DELETE.length;
  } else return undefined;
  if (!matches(body, at, KEY)) return undefined;
  at += KEY.length;
  if (at >= end) return undefined;
  const header = body[at++]!;
  let keyLength: number;
  if ((header & 0xe0) === 0xa0) keyLength = header & 0x1f;
  else if (header === 0xd9 && at + 1 <= end) keyLength = body[at++]!;
  else if (header === 0xda && at + 2 <= end) {
    keyLength = (body[at]! << 8) | body[at + 1]!;
    at += 2;
  } else if (header === 0xdb && at + 4 <= end) {
    keyLength =
      ((body[at]! << 24) >>> 0) + (body[at + 1]! << 16) + (body[at + 2]! << 8) + body[at + 3]!;
    at += 4;
  } else return undefined;
  if (at + keyLength > end) return undefined;
  const keyBytes = body.subarray(at, at + keyLength);
  at += keyLength;
  let ascii = true;
  for (let i = 0; i < keyLength; i++) {
    if (keyBytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  let key: string;
  if (ascii) {
    key = Buffer.from(keyBytes.buffer, keyBytes.byteOffset, keyLength).toString("latin1");
  } else {
    try {
      key = utf8Fatal.decode(keyBytes);
    } catch {
      return undefined; // not valid UTF-8: the general path decides what it is
    }
  }
  if (type === "delete") return at === end ? { type, key } : undefined;
  if (!matches(body, at, VALUE)) return undefined;
  at += VALUE.length;
  if (at >= end) return undefined;
  const binHeader = body[at++]!;
  let valueLength: number;
  if (binHeader === 0xc4 && at + 1 <= end) valueLength = body[at++]!;
  else if (binHeader === 0xc5 && at + 2 <= end) {
    valueLength = (body[at]! << 8) | body[at + 1]!;
    at += 2;
  } else if (binHeader === 0xc6 && at + 4 <= end) {
    valueLength =
      ((body[at]! << 24) >>> 0) + (body[at + 1]! << 16) + (body[at + 2]! << 8) + body[at + 3]!;
    at += 4;
  } else return undefined;
  if (at + valueLength !== end) return undefined;
  return { type, key, value: body.subarray(at, end) };
}
