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

/**
 * First byte of a body in an application codec of its own (PeerTransportOptions.codec) rather
 * than msgpack: 0xc1 is the one byte msgpack never uses, so the two cannot be confused.
 */
export const CUSTOM_BODY_MARKER = 0xc1;

/**
 * An application's own encoding for some of its messages, tried before msgpack. `encode` returns
 * undefined for a message it does not handle (msgpack is used), and otherwise bytes that start
 * with CUSTOM_BODY_MARKER. `decode` gets such bytes (memory of their own, safe to keep views
 * into) and throws on anything malformed: the connection is then closed as for bad msgpack.
 */
export interface MessageCodec<Msg> {
  encode(message: Msg): Uint8Array | undefined;
  decode(body: Uint8Array): Msg;
}

/** msgpack bytes of `value`. Throws whatever msgpackr throws for values it cannot encode. */
export function encodeBody(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** The value encoded in `body`. Throws on malformed or truncated msgpack. */
export function decodeBody(body: Uint8Array, codec?: MessageCodec<unknown> | null): unknown {
  // Small bodies share a slab of Node.js' buffer pool; larger ones get memory of their own.
  const copy = Buffer.allocUnsafe(body.byteLength);
  copy.set(body);
  const own = new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
  if (own[0] === CUSTOM_BODY_MARKER) {
    if (!codec) throw new Error("a body in an application codec, but this transport has none");
    return codec.decode(own);
  }
  return packr.unpack(own);
}
