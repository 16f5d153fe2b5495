import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32c } from "../../src/storage/index.ts";

test("CRC32C matches the published check value and the RFC 3720 (iSCSI) vectors", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, k) => k)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, k) => 31 - k)), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test("CRC32C computed piecewise or over a sub-range equals the one-shot value", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, k) => (k * 131 + 7) & 0xff);
  const whole = crc32c(data);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `cut at ${cut}`);
  }
  const padded = new Uint8Array(1010);
  padded.set(data, 5);
  assert.equal(crc32c(padded, 0, 5, 1005), whole);
});

/** The definition, one bit at a time: the reference the table-driven code must agree with. */
function bitwiseCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

test("CRC32C agrees with the bitwise definition at every length and alignment", () => {
  const backing = Uint8Array.from({ length: 4200 }, (_, k) => (k * 2654435761) >>> 24);
  for (let offset = 0; offset < 8; offset++) {
    for (const length of [
      ...Array.from({ length: 80 }, (_, k) => k),
      127,
      128,
      129,
      1000,
      4096,
      4121,
    ]) {
      const view = backing.subarray(offset, offset + length);
      assert.equal(crc32c(view), bitwiseCrc32c(view), `offset ${offset} length ${length}`);
    }
  }
});
