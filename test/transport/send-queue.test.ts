import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { SendQueue } from "../../src/transport/send-queue.ts";

test("refuses a frame over the message count limit", () => {
  const queue = new SendQueue(3, 1000);
  assert.equal(queue.tryPush(Buffer.alloc(1)), true);
  assert.equal(queue.tryPush(Buffer.alloc(1)), true);
  assert.equal(queue.tryPush(Buffer.alloc(1)), true);
  assert.equal(queue.tryPush(Buffer.alloc(1)), false);
  assert.equal(queue.length, 3);
});

test("refuses a frame over the byte limit, and accepts a smaller one after", () => {
  const queue = new SendQueue(100, 100);
  assert.equal(queue.tryPush(Buffer.alloc(60)), true);
  assert.equal(queue.tryPush(Buffer.alloc(41)), false);
  assert.equal(queue.tryPush(Buffer.alloc(40)), true);
  assert.equal(queue.bytes, 100);
});

test("batches keep order, respect the batch size, and always take at least one frame", () => {
  const queue = new SendQueue(100, 10_000);
  for (let index = 0; index < 5; index += 1) queue.tryPush(Buffer.alloc(100, index));
  queue.tryPush(Buffer.alloc(1000, 9));
  const first = queue.takeBatch(250);
  assert.deepEqual(
    first.frames.map((frame) => frame[0]),
    [0, 1],
  );
  assert.equal(first.bytes, 200);
  assert.deepEqual(
    queue.takeBatch(1000).frames.map((frame) => frame[0]),
    [2, 3, 4],
  );
  const big = queue.takeBatch(10);
  assert.equal(big.frames.length, 1);
  assert.equal(big.bytes, 1000);
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
  assert.deepEqual(queue.takeBatch(10), { frames: [], bytes: 0 });
});

test("model check: counts and bytes match a plain array and never exceed the limits", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(-1)), { maxLength: 300 }),
      (maxMessages, maxBytes, operations) => {
        const queue = new SendQueue(maxMessages, maxBytes);
        const model: number[] = [];
        let next = 0;
        for (const operation of operations) {
          if (operation >= 0) {
            const frame = Buffer.alloc(operation + 4);
            frame.writeUInt32BE(next);
            const modelBytes = model.reduce((sum, size) => sum + size, 0);
            const fits = model.length < maxMessages && modelBytes + frame.length <= maxBytes;
            assert.equal(queue.tryPush(frame), fits);
            if (fits) model.push(frame.length);
            next += 1;
          } else {
            const batch = queue.takeBatch(500);
            const taken = batch.frames.map((frame) => frame.length);
            assert.deepEqual(taken, model.splice(0, taken.length));
          }
          assert.equal(queue.length, model.length);
          assert.equal(
            queue.bytes,
            model.reduce((sum, size) => sum + size, 0),
          );
          assert.ok(queue.length <= maxMessages && queue.bytes <= maxBytes);
        }
      },
    ),
    { numRuns: 200 },
  );
});
