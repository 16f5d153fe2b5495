// The key metadata cache (KvStateMachine's metaCacheKeys): a put reads a key's previous
// createRevision, modRevision and version from it instead of from the store. It must never change
// what is stored or answered: every test compares a store with the cache against one without it,
// byte for byte, through batches that fail after the store accepted them, restores from
// snapshots, and capacities small enough to evict on every batch.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import fc from "fast-check";
import {
  type CommandResult,
  encodeCommand,
  type KvCommand,
  KvError,
  KvStateMachine,
} from "../../src/kv/index.ts";
import { StateMachineStore } from "../../src/storage/index.ts";
import { bytes, defaultLimits, normalize, snapshotBytes, tempRoot } from "./helpers.ts";

const root = tempRoot("kv-meta-cache");
after(root.cleanup);

const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261207);

const keyArb = fc.constantFrom("a", "b", "c", "d", "ü/1");
const valueArb = fc.uint8Array({ maxLength: 4 }).map((v) => Buffer.from(v));
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("txn" as const),
      compare: fc.array(
        fc.record({
          key: keyArb,
          target: fc.constant("version" as const),
          op: fc.constantFrom("=" as const, ">" as const),
          value: fc.nat({ max: 4 }),
        }),
        { maxLength: 2 },
      ),
      success: fc.array(
        fc.oneof(
          fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }),
          fc.record({ type: fc.constant("delete" as const), key: keyArb }),
        ),
        { maxLength: 3 },
      ),
      failure: fc.array(
        fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }),
        { maxLength: 2 },
      ),
    }),
  },
);

function encode(command: KvCommand): Uint8Array {
  try {
    return encodeCommand(command, defaultLimits);
  } catch {
    return new Uint8Array([1, 0xc1]); // e.g. a txn writing one key twice: an invalid entry
  }
}

/** One step of a run: a batch of commands, a restore from another store, or a failing batch. */
type Step =
  | { kind: "batch"; commands: KvCommand[] }
  | { kind: "failing-batch"; commands: KvCommand[] }
  | { kind: "restore"; commands: KvCommand[] };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.array(commandArb, { minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("failing-batch" as const),
      commands: fc.array(commandArb, { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("restore" as const),
      commands: fc.array(commandArb, { maxLength: 6 }),
    }),
  },
);

function applyCommands(kv: KvStateMachine, commands: KvCommand[]): CommandResult[] {
  const first = kv.appliedIndex() + 1;
  return kv
    .apply(commands.map((command, offset) => ({ index: first + offset, data: encode(command) })))
    .map((applied) => applied.result);
}

/** Makes the store's next applyBatch throw after it accepted the batch. */
function failAfterAccepting(kv: KvStateMachine): void {
  const store = kv.store;
  const original = store.applyBatch;
  store.applyBatch = function (this: StateMachineStore, ...args: Parameters<typeof original>) {
    store.applyBatch = original;
    original.apply(this, args);
    throw new Error("injected failure after the store accepted the batch");
  } as typeof original;
}

test("with any capacity the cache changes nothing: same results, digest and stored bytes as without it", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(stepArb, { minLength: 1, maxLength: 14 }),
      fc.constantFrom(1, 2, 3, 16_384),
      async (steps, capacity) => {
        const open = (metaCacheKeys: number) =>
          KvStateMachine.open({ dir: root.dir(), syncMode: "deferred", metaCacheKeys });
        const cached = open(capacity);
        const plain = open(0);
        try {
          for (const [position, step] of steps.entries()) {
            const where = `step ${position + 1} (${step.kind})`;
            if (step.kind === "restore") {
              const other = open(0);
              try {
                applyCommands(other, step.commands);
                await cached.restoreFromSnapshot(other.openSnapshot());
                await plain.restoreFromSnapshot(other.openSnapshot());
              } finally {
                await other.close();
              }
              assert.equal(cached.metaCacheSize, 0, `${where}: a restore empties the cache`);
              continue;
            }
            const expected = applyCommands(plain, step.commands);
            if (step.kind === "failing-batch") {
              failAfterAccepting(cached);
              assert.throws(() => applyCommands(cached, step.commands), /injected failure/);
              assert.equal(cached.metaCacheSize, 0, `${where}: a failed batch empties the cache`);
            } else {
              const results = applyCommands(cached, step.commands);
              assert.deepEqual(normalize(results), normalize(expected), where);
            }
            assert.ok(cached.metaCacheSize <= capacity, `${where}: at most ${capacity} keys`);
            assert.deepEqual(cached.digest(), plain.digest(), where);
          }
          assert.ok((await snapshotBytes(cached)).equals(await snapshotBytes(plain)));
          assert.equal(plain.metaCacheSize, 0, "capacity 0 keeps nothing");
        } finally {
          await cached.close();
          await plain.close();
        }
      },
    ),
    { seed, numRuns: 150 },
  );
});

test("a batch that throws after the store accepted it leaves no stale metadata behind", async () => {
  const kv = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
  try {
    const put = (key: string, value: string): KvCommand => ({
      type: "put",
      key,
      value: bytes(value),
    });
    applyCommands(kv, [put("k", "1")]);
    assert.equal(kv.metaCacheSize, 1);
    failAfterAccepting(kv);
    assert.throws(() => applyCommands(kv, [put("k", "2")]), /injected failure/);
    // The store holds version 2; a cache still holding version 1 would write version 2 again.
    assert.equal(kv.get("k")?.version, 2);
    applyCommands(kv, [put("k", "3")]);
    assert.deepEqual(
      { ...kv.get("k"), value: undefined },
      { key: "k", value: undefined, createRevision: 1, modRevision: 3, version: 3 },
    );
  } finally {
    await kv.close();
  }
});

test("the least recently written keys leave a full cache first, and metadata stays exact", async () => {
  const kv = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred", metaCacheKeys: 2 });
  try {
    const put = (key: string): KvCommand => ({ type: "put", key, value: bytes(key) });
    applyCommands(kv, [put("a"), put("b"), put("c")]);
    assert.equal(kv.metaCacheSize, 2);
    // "a" left the cache: its next put reads the store, and counts on from version 1.
    applyCommands(kv, [put("a"), put("a")]);
    assert.equal(kv.metaCacheSize, 2);
    assert.deepEqual(
      { ...kv.get("a"), value: undefined },
      { key: "a", value: undefined, createRevision: 1, modRevision: 5, version: 3 },
    );
    // A deleted key is gone from the cache too: writing it again starts a new life.
    applyCommands(kv, [{ type: "delete", key: "a" }, put("a")]);
    assert.deepEqual(
      { ...kv.get("a"), value: undefined },
      { key: "a", value: undefined, createRevision: 7, modRevision: 7, version: 1 },
    );
  } finally {
    await kv.close();
  }
});

test("a capacity that is not a whole number >= 0 is refused with what to pass", () => {
  for (const metaCacheKeys of [-1, 1.5, Number.NaN]) {
    const store = StateMachineStore.open({ dir: root.dir(), syncMode: "deferred" });
    try {
      assert.throws(
        () => new KvStateMachine(store, {}, metaCacheKeys),
        (error: unknown) =>
          error instanceof KvError &&
          error.code === "INVALID_ARGUMENT" &&
          /metaCacheKeys must be a whole number >= 0/.test(error.message),
      );
    } finally {
      void store.close();
    }
  }
});
