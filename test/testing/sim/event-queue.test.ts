import assert from "node:assert/strict";
import { test } from "node:test";
import { EventQueue } from "../../../src/testing/sim/event-queue.ts";
import { Prng } from "../../../src/testing/sim/prng.ts";

test("events come out in time order, equal times in insertion order", () => {
  const queue = new EventQueue<string>();
  queue.push(5, "c");
  queue.push(1, "a");
  queue.push(5, "d");
  queue.push(3, "b");
  queue.push(5, "e");
  const order: string[] = [];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) order.push(next.event);
  assert.deepEqual(order, ["a", "b", "c", "d", "e"]);
  assert.equal(queue.peekTime(), Number.POSITIVE_INFINITY);
});

test("a large random agenda pops sorted and stable", () => {
  const queue = new EventQueue<number>();
  const prng = new Prng(11);
  const pushed: { time: number; order: number }[] = [];
  for (let i = 0; i < 5000; i++) {
    const time = prng.int(500);
    queue.push(time, i);
    pushed.push({ time, order: i });
  }
  pushed.sort((a, b) => a.time - b.time || a.order - b.order);
  const popped: number[] = [];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) popped.push(next.event);
  assert.deepEqual(
    popped,
    pushed.map((item) => item.order),
  );
});

test("the agenda is bounded", () => {
  const queue = new EventQueue<number>(3);
  queue.push(1, 1);
  queue.push(2, 2);
  queue.push(3, 3);
  assert.throws(() => queue.push(4, 4), /event queue is full/);
});
