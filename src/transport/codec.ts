// msgpack encoding of frame bodies. One configuration for every body so both ends agree:
// - useRecords off: plain msgpack maps, no msgpackr record extension (which would need encoder
//   and decoder to share structure state across frames).
// - structuredClone off: no cycles, no back-references; payloads are plain trees.
// - copyBuffers on: a decoded Uint8Array owns its bytes instead of pinning the whole socket
//   chunk it arrived in (a log entry may be retained for a long time).
// Binary fields decode as plain Uint8Array (not Buffer) because the decoder is given a plain
// Uint8Array view: msgpackr slices binary fields from its input with the input's own type.

import { Packr } from "msgpackr";

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  copyBuffers: true,
});

/** msgpack bytes of `value`. Throws whatever msgpackr throws for values it cannot encode. */
export function encodeBody(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** The value encoded in `body`. Throws on malformed or truncated msgpack. */
export function decodeBody(body: Uint8Array): unknown {
  const plain =
    body.constructor === Uint8Array
      ? body
      : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return packr.unpack(plain);
}
