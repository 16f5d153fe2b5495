import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBody, encodeBody } from "../../src/transport/codec.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameDecoder,
  FrameKind,
} from "../../src/transport/frame.ts";

function drain(decoder: FrameDecoder): Frame[] {
  const frames: Frame[] = [];
  for (let frame = decoder.next(); frame !== null; frame = decoder.next()) frames.push(frame);
  return frames;
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((x, y) => x - y);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

const payloadArbitrary = fc.record(
  {
    seq: fc.nat(),
    data: fc.uint8Array({ maxLength: 2000 }),
    text: fc.string({ maxLength: 50 }),
    nested: fc.array(
      fc.record({ term: fc.nat(), index: fc.integer() }, { noNullPrototype: true }),
      {
        maxLength: 5,
      },
    ),
  },
  { noNullPrototype: true },
);

test("frames survive any split of the byte stream into TCP chunks", () => {
  fc.assert(
    fc.property(
      fc.array(payloadArbitrary, { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(
          payloads.map((payload) => encodeFrame(FrameKind.message, encodeBody(payload))),
        );
        const decoder = new FrameDecoder(1024 * 1024);
        const frames: Frame[] = [];
        for (const piece of splitAt(stream, cuts)) {
          decoder.push(piece);
          frames.push(...drain(decoder));
        }
        assert.equal(decoder.bufferedBytes, 0);
        assert.equal(frames.length, payloads.length);
        frames.forEach((frame, index) => {
          assert.equal(frame.kind, FrameKind.message);
          assert.deepEqual(decodeBody(frame.body), payloads[index]);
        });
      },
    ),
    { numRuns: 300 },
  );
});

test("one byte at a time decodes the same frames", () => {
  const payloads = [{ a: 1 }, { b: new Uint8Array([9, 8, 7]) }, { c: "x".repeat(300) }];
  const stream = Buffer.concat(payloads.map((p) => encodeFrame(FrameKind.message, encodeBody(p))));
  const decoder = new FrameDecoder(4096);
  const frames: Frame[] = [];
  for (const byte of stream) {
    decoder.push(Uint8Array.of(byte));
    frames.push(...drain(decoder));
  }
  assert.deepEqual(
    frames.map((frame) => decodeBody(frame.body)),
    payloads,
  );
});

test("the length prefix is 4 bytes big-endian and counts the kind byte and the body", () => {
  const frame = encodeFrame(FrameKind.ping, new Uint8Array([0xaa, 0xbb]));
  assert.deepEqual([...frame], [0, 0, 0, 3, FrameKind.ping, 0xaa, 0xbb]);
});

test("an oversized frame is rejected from its prefix alone, before the body arrives", () => {
  const decoder = new FrameDecoder(1024);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1025);
  decoder.push(prefix);
  assert.throws(
    () => decoder.next(),
    (error: unknown) => error instanceof FrameDecodeError && error.reason === "frame-too-large",
  );
  // A frame exactly at the limit is fine.
  const ok = new FrameDecoder(1024);
  ok.push(encodeFrame(FrameKind.message, new Uint8Array(1023)));
  assert.equal(drain(ok).length, 1);
});

test("a zero length or an unknown kind is a protocol error", () => {
  const zero = new FrameDecoder(1024);
  zero.push(Buffer.alloc(4));
  assert.throws(
    () => zero.next(),
    (error: unknown) => error instanceof FrameDecodeError && error.reason === "protocol-error",
  );
  const unknown = new FrameDecoder(1024);
  unknown.push(Buffer.from([0, 0, 0, 1, 99]));
  assert.throws(
    () => unknown.next(),
    (error: unknown) => error instanceof FrameDecodeError && error.reason === "protocol-error",
  );
});

test("the limit can change between frames that share one chunk", () => {
  const small = encodeFrame(FrameKind.proof, new Uint8Array(10));
  const big = encodeFrame(FrameKind.message, new Uint8Array(5000));
  const decoder = new FrameDecoder(100);
  decoder.push(Buffer.concat([small, big]));
  assert.equal(decoder.next()?.kind, FrameKind.proof);
  decoder.maxFrameBytes = 10_000;
  assert.equal(decoder.next()?.body.length, 5000);
  assert.equal(decoder.next(), null);
});

test("codec: binary fields decode as Uint8Array and trailing garbage is refused", () => {
  const value = decodeBody(encodeBody({ data: Buffer.from([1, 2]) })) as { data: unknown };
  assert.equal(Object.getPrototypeOf(value.data), Uint8Array.prototype);
  assert.deepEqual(value.data, new Uint8Array([1, 2]));
  const withTrailing = Buffer.concat([encodeBody({ a: 1 }), Buffer.from([0xc0])]);
  assert.throws(() => decodeBody(withTrailing));
  assert.throws(() => decodeBody(Buffer.from([0x92, 0x01]))); // array of 2 with 1 element
});
