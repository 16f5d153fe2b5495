// Property test: the log store against a plain in-memory model. Any sequence of append /
// truncate / compact / reset / reopen, with several operations issued without waiting for each
// other, must give the same reads as the model.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type LogEntry, LogStore } from "../../src/storage/index.ts";
import { temporaryDirectory } from "./helpers.ts";

type Command =
  | { kind: "append"; count: number; termBump: number; sizeSeed: number }
  | { kind: "truncate"; pick: number }
  | { kind: "compact"; pick: number }
  | { kind: "reset"; pick: number; termBump: number }
  | { kind: "reopen" };

class Model {
  compactedIndex = 0;
  compactedTerm = 0;
  entries: LogEntry[] = [];
  lastIndex(): number {
    return this.compactedIndex + this.entries.length;
  }
  lastTerm(): number {
    return this.entries[this.entries.length - 1]?.term ?? this.compactedTerm;
  }
  term(index: number): number {
    return index === this.compactedIndex
      ? this.compactedTerm
      : (this.entries[index - this.compactedIndex - 1] as LogEntry).term;
  }
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      count: fc.integer({ min: 1, max: 6 }),
      termBump: fc.integer({ min: 0, max: 1 }),
      sizeSeed: fc.nat(1000),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("compact" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reset" as const),
      pick: fc.nat(),
      termBump: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

function payload(index: number, seed: number): Uint8Array {
  const length = (seed * 7 + index * 13) % 90;
  return Uint8Array.from({ length }, (_, k) => (index + seed + k) & 0xff);
}

/** Issues `cmd` against both; returns the store's promise (not awaited, so steps can overlap). */
function issue(
  cmd: Exclude<Command, { kind: "reopen" }>,
  log: LogStore,
  model: Model,
): Promise<void> {
  switch (cmd.kind) {
    case "append": {
      const term = model.lastTerm() + cmd.termBump;
      const first = model.lastIndex() + 1;
      const batch = Array.from({ length: cmd.count }, (_, k) => ({
        index: first + k,
        term,
        type: (first + k) % 3 === 0 ? 1 : 0,
        data: payload(first + k, cmd.sizeSeed),
      }));
      model.entries.push(...batch);
      return log.append(batch);
    }
    case "truncate": {
      const fromIndex = model.compactedIndex + 1 + (cmd.pick % (model.entries.length + 1));
      model.entries.length = fromIndex - model.compactedIndex - 1;
      return log.truncate(fromIndex);
    }
    case "compact": {
      const through = model.compactedIndex + (cmd.pick % (model.entries.length + 1));
      const term = model.term(through);
      model.entries = model.entries.slice(through - model.compactedIndex);
      model.compactedIndex = through;
      model.compactedTerm = term;
      return log.compact(through);
    }
    case "reset": {
      const index = model.compactedIndex + (cmd.pick % (model.entries.length + 4));
      const term = model.lastTerm() + cmd.termBump;
      model.entries = [];
      model.compactedIndex = index;
      model.compactedTerm = term;
      return log.reset(index, term);
    }
  }
}

function checkReads(log: LogStore, model: Model): void {
  assert.equal(log.firstIndex(), model.compactedIndex + 1);
  assert.equal(log.lastIndex(), model.lastIndex());
  assert.equal(log.nextIndex(), model.lastIndex() + 1);
  for (let index = model.compactedIndex; index <= model.lastIndex(); index++)
    assert.equal(log.term(index), model.term(index));
  const lo = model.compactedIndex + 1;
  const hi = model.lastIndex() + 1;
  assert.deepEqual(log.entries(lo, hi), model.entries);
  // Byte-bounded reads: as many whole entries as fit, but at least one.
  for (const maxBytes of [0, 50, 200]) {
    for (let start = lo; start < hi; start += 3) {
      const got = log.entries(start, hi, maxBytes);
      let expectedCount = 0;
      let bytes = 0;
      for (const entry of model.entries.slice(start - lo)) {
        if (expectedCount > 0 && bytes + entry.data.length > maxBytes) break;
        bytes += entry.data.length;
        expectedCount++;
      }
      assert.deepEqual(got, model.entries.slice(start - lo, start - lo + expectedCount));
    }
  }
}

test("log store matches an in-memory model under any append/truncate/compact/reset/reopen sequence", {
  timeout: 300_000,
}, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(command, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }),
      // Both write paths: O_DSYNC writev for small groups, writev + fdatasync from this size.
      fc.constantFrom(1, 200, 64 * 1024),
      async (steps, bulkGroupBytes) => {
        const dir = temporaryDirectory("model");
        const options = { directory: dir.path, maxSegmentBytes: 300, bulkGroupBytes };
        let log = await LogStore.open(options);
        const model = new Model();
        try {
          for (const step of steps) {
            const pending: Promise<void>[] = [];
            for (const cmd of step) {
              if (cmd.kind === "reopen") {
                await Promise.all(pending.splice(0));
                await log.close();
                log = await LogStore.open(options);
              } else {
                pending.push(issue(cmd, log, model));
              }
            }
            await Promise.all(pending);
            checkReads(log, model);
          }
          await log.close();
          log = await LogStore.open(options);
          checkReads(log, model);
        } finally {
          await log.close();
          dir.remove();
        }
      },
    ),
    { numRuns: 80 },
  );
});
