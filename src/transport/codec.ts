// msgpack encoding of frame bodies. One configuration for every body so both ends agree:
// - useRecords off: plain msgpack maps, no msgpackr record extension (which would need encoder
//   and decoder to share structure state across frames).
// - structuredClone off: no cycles, no back-references; payloads are plain trees.
// - copyBuffers off: binary fields are views into the body, which decodeBody first copies once
//   into memory of its own. So a decoded Uint8Array never pins the whole socket chunk it arrived
//   in (a log entry may be retained for a long time), and a message with many entries costs one
//   copy instead of one allocation per entry.
// Binary fields decode as plain Uint8Array (not Buffer) because the decoder is given a plain
// Uint8Array: msgpackr slices binary fields from its input with the input's own type.

import { Packr } from "msgpackr";

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  copyBuffers: false,
});

/** msgpack bytes of `value`. Throws whatever msgpackr throws for values it cannot encode. */
export function encodeBody(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** The value encoded in `body`. Throws on malformed or truncated msgpack. */
export function decodeBody(body: Uint8Array): unknown {
  // Small bodies share a slab of Node.js' buffer pool; larger ones get memory of their own.
  const copy = Buffer.allocUnsafe(body.byteLength);
  copy.set(body);
  return packr.unpack(new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength));
}
