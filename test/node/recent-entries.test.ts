import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RecentEntries } from "../../src/node/recent-entries.ts";
import type { Entry } from "../../src/raft/index.ts";

const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261127);

function entry(index: number, term: number, size: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array(size).fill(index % 251) };
}

/** What the log store answers for [lo, hi) under maxBytes, from a model log. */
function modelSlice(log: Map<number, Entry>, lo: number, hi: number, maxBytes: number): Entry[] {
  const result: Entry[] = [];
  let bytes = 0;
  for (let index = lo; index < hi; index++) {
    const item = log.get(index)!;
    if (result.length > 0 && bytes + item.data.length > maxBytes) break;
    bytes += item.data.length;
    result.push(item);
  }
  return result;
}

test("whatever it answers equals the log's answer, through appends, truncations and clears", () => {
  type Step =
    | { kind: "append"; count: number; size: number; back: number }
    | { kind: "read"; lo: number; span: number; maxBytes: number }
    | { kind: "clear" };
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant("append" as const),
      count: fc.integer({ min: 1, max: 40 }),
      size: fc.integer({ min: 0, max: 300 }),
      back: fc.integer({ min: 0, max: 30 }),
    }),
    fc.record({
      kind: fc.constant("read" as const),
      lo: fc.integer({ min: 0, max: 400 }),
      span: fc.integer({ min: 1, max: 80 }),
      maxBytes: fc.integer({ min: 0, max: 5000 }),
    }),
    fc.record({ kind: fc.constant("clear" as const) }),
  );
  let served = 0;
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 60 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 0, max: 8000 }),
      (steps, maxEntries, maxBytes) => {
        const recent = new RecentEntries({ maxEntries, maxBytes });
        const log = new Map<number, Entry>();
        let last = 0;
        let term = 1;
        for (const step of steps) {
          if (step.kind === "append") {
            // `back` > 0 replaces a suffix, as a new leader's entries do.
            const start = Math.max(1, last + 1 - step.back);
            if (start <= last) {
              term++;
              recent.forgetFrom(start);
              for (let index = start; index <= last; index++) log.delete(index);
            }
            const batch: Entry[] = [];
            for (let k = 0; k < step.count; k++) batch.push(entry(start + k, term, step.size));
            for (const item of batch) log.set(item.index, item);
            last = start + step.count - 1;
            recent.remember(batch);
          } else if (step.kind === "clear") {
            recent.clear();
          } else {
            const lo = Math.max(1, Math.min(step.lo, last));
            const hi = Math.min(last + 1, lo + step.span);
            if (lo >= hi) continue;
            const answer = recent.slice(lo, hi, step.maxBytes);
            if (answer === undefined) continue;
            served++;
            assert.deepEqual(answer, modelSlice(log, lo, hi, step.maxBytes));
          }
          assert.ok(recent.size <= Math.max(1, maxEntries), `holds ${recent.size} entries`);
        }
      },
    ),
    { seed, numRuns: 1000 },
  );
  assert.ok(served > 200, `only ${served} reads were answered from the window`);
});

test("it keeps the newest entries within its limits and answers only ranges it holds", () => {
  const recent = new RecentEntries({ maxEntries: 100, maxBytes: 10_000 });
  const batch: Entry[] = [];
  for (let index = 1; index <= 250; index++) batch.push(entry(index, 1, 10));
  recent.remember(batch);
  assert.ok(recent.size <= 100 && recent.size >= 75, `holds ${recent.size}`);
  assert.equal(recent.slice(1, 5, 1000), undefined, "old entries were dropped");
  assert.deepEqual(
    recent.slice(240, 251, 1000)?.map((item) => item.index),
    [240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250],
  );
  assert.equal(recent.slice(245, 252, 1000), undefined, "beyond the newest entry");
  // maxBytes: at least one entry, then whole entries only.
  assert.deepEqual(
    recent.slice(240, 251, 25)?.map((item) => item.index),
    [240, 241],
  );
  assert.deepEqual(
    recent.slice(240, 251, 0)?.map((item) => item.index),
    [240],
  );
  // A byte limit bounds memory as well.
  const small = new RecentEntries({ maxEntries: 1000, maxBytes: 1000 });
  small.remember(Array.from({ length: 50 }, (_, k) => entry(k + 1, 1, 100)));
  assert.ok(small.size <= 10, `holds ${small.size} entries of 100 bytes under a 1000-byte limit`);
  // A gap restarts the window instead of joining unrelated entries.
  small.remember([entry(80, 2, 1)]);
  assert.equal(small.slice(50, 51, 10), undefined);
  assert.deepEqual(small.slice(80, 81, 10)?.[0]?.term, 2);
});
