import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../../../src/testing/sim/prng.ts";

test("the same seed gives the same stream; different seeds differ", () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const streamA = Array.from({ length: 100 }, () => a.nextU32());
  const streamB = Array.from({ length: 100 }, () => b.nextU32());
  const streamC = Array.from({ length: 100 }, () => c.nextU32());
  assert.deepEqual(streamA, streamB);
  assert.notDeepEqual(streamA, streamC);
  // Large seeds use their high bits too.
  assert.notEqual(new Prng(2 ** 40 + 1).nextU32(), new Prng(1).nextU32());
});

test("values stay in range and are roughly uniform", () => {
  const prng = new Prng(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const value = prng.next();
    assert.ok(value >= 0 && value < 1);
    buckets[Math.floor(value * 10)]!++;
  }
  for (const count of buckets) assert.ok(count > 9_000 && count < 11_000, `bucket ${count}`);
  for (let i = 0; i < 1000; i++) {
    const value = prng.range(3, 5);
    assert.ok(value >= 3 && value <= 5 && Number.isInteger(value));
  }
  assert.throws(() => prng.int(0), RangeError);
  assert.throws(() => new Prng(1.5), RangeError);
});

test("forked streams are independent of later draws in the parent", () => {
  const parent = new Prng(9);
  const child = parent.fork();
  const first = child.nextU32();
  const again = new Prng(9).fork();
  assert.equal(again.nextU32(), first);
});
