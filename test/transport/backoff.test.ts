import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, createSeededRandom } from "../../src/transport/backoff.ts";

test("seeded random is reproducible and within [0, 1)", () => {
  const first = createSeededRandom(42);
  const second = createSeededRandom(42);
  const other = createSeededRandom(43);
  const a = Array.from({ length: 1000 }, () => first());
  const b = Array.from({ length: 1000 }, () => second());
  const c = Array.from({ length: 1000 }, () => other());
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every((value) => value >= 0 && value < 1));
  // Not degenerate: the draws spread over the interval.
  assert.ok(Math.min(...a) < 0.01 && Math.max(...a) > 0.99);
});

test("full jitter: delay n is drawn from [0, min(max, min*2^n)]", () => {
  const backoff = new Backoff({ minDelayMs: 10, maxDelayMs: 300 }, createSeededRandom(7));
  const ceilings = [10, 20, 40, 80, 160, 300, 300, 300];
  for (const ceiling of ceilings) {
    const delay = backoff.nextDelayMs();
    assert.ok(delay >= 0 && delay <= ceiling, `delay ${delay} over ceiling ${ceiling}`);
  }
  // With a random source pinned just below 1 the delay is the ceiling itself.
  const top = new Backoff({ minDelayMs: 10, maxDelayMs: 300 }, () => 0.999999);
  assert.deepEqual(
    ceilings.map(() => top.nextDelayMs()),
    ceilings,
  );
});

test("reset starts again from the smallest ceiling; huge attempt counts stay bounded", () => {
  const top = new Backoff({ minDelayMs: 5, maxDelayMs: 1000 }, () => 0.999999);
  for (let attempt = 0; attempt < 5000; attempt += 1) {
    assert.ok(top.nextDelayMs() <= 1000);
  }
  top.reset();
  assert.equal(top.attempt, 0);
  assert.equal(top.nextDelayMs(), 5);
});

test("same seed, same delays", () => {
  const delays = (seed: number) => {
    const backoff = new Backoff({ minDelayMs: 10, maxDelayMs: 1000 }, createSeededRandom(seed));
    return Array.from({ length: 12 }, () => backoff.nextDelayMs());
  };
  assert.deepEqual(delays(1), delays(1));
  assert.notDeepEqual(delays(1), delays(2));
});

test("a random source outside [0, 1) is refused loudly", () => {
  const broken = new Backoff({ minDelayMs: 10, maxDelayMs: 100 }, () => 1);
  assert.throws(() => broken.nextDelayMs(), RangeError);
});
