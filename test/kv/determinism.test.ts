// Property tests: the same committed log gives the same results and the same bytes on every
// store, however the log is cut into apply batches, and also when a store starts from a
// snapshot taken part way. A small in-memory model pins down the semantics themselves.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import fc from "fast-check";
import {
  type CommandResult,
  type Compare,
  decodeCommand,
  encodeCommand,
  evaluateCompare,
  type KvCommand,
  KvStateMachine,
  type TxnOp,
} from "../../src/kv/index.ts";
import { defaultLimits, normalize, snapshotBytes, tempRoot } from "./helpers.ts";

const root = tempRoot("kv-determinism");
after(root.cleanup);

// A fixed seed keeps CI deterministic; HOTHOT_FC_SEED explores other sequences locally.
const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261127);

const keyArb = fc.constantFrom("a", "b", "c", "a/1", "a/2", "ü");
const valueArb = fc.uint8Array({ maxLength: 6 }).map((v) => Buffer.from(v));
const opArb: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }),
  fc.record({ type: fc.constant("delete" as const), key: keyArb }),
  fc.record({ type: fc.constant("get" as const), key: keyArb }),
);
const operatorArb = fc.constantFrom("=" as const, "!=" as const, "<" as const, ">" as const);
const compareArb: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key: keyArb,
    target: fc.constant("value" as const),
    op: operatorArb,
    value: valueArb,
  }),
  fc.record({
    key: keyArb,
    target: fc.constantFrom("version" as const, "createRevision" as const, "modRevision" as const),
    op: operatorArb,
    value: fc.nat({ max: 12 }),
  }),
  fc.record({
    key: keyArb,
    target: fc.constant("exists" as const),
    op: fc.constantFrom("=" as const, "!=" as const),
    value: fc.boolean(),
  }),
);
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant("put" as const), key: keyArb, value: valueArb }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant("txn" as const),
      compare: fc.array(compareArb, { maxLength: 3 }),
      success: fc.array(opArb, { maxLength: 4 }),
      failure: fc.array(opArb, { maxLength: 4 }),
    }),
  },
);
// Log entries: valid commands (a txn writing a key twice is encoded raw, so it must fail at
// apply time), plus no-ops and garbage that must fail deterministically.
const entryArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 10, arbitrary: commandArb.map(encodeLoosely) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) },
);

function encodeLoosely(command: KvCommand): Uint8Array {
  try {
    return encodeCommand(command, defaultLimits);
  } catch {
    return new Uint8Array([1, 0xc1]); // refused by the encoder: an invalid entry
  }
}

interface ModelRecord {
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
}

/** The reference semantics, written as plainly as possible. */
class Model {
  revision = 0;
  readonly data = new Map<string, ModelRecord>();

  apply(entry: Uint8Array, decodeOk: KvCommand | undefined): CommandResult["type"] {
    if (entry.length === 0 || decodeOk === undefined) return entry.length === 0 ? "noop" : "error";
    const command = decodeOk;
    if (command.type === "put") this.put(command.key, command.value, ++this.revision);
    else if (command.type === "delete") {
      if (this.data.delete(command.key)) this.revision++;
    } else {
      const ok = command.compare.every((c) => evaluateCompare(c, this.data.get(c.key)));
      let changed = false;
      for (const op of ok ? command.success : command.failure) {
        if (op.type === "put") {
          this.put(op.key, op.value, this.revision + 1);
          changed = true;
        } else if (op.type === "delete") changed = this.data.delete(op.key) || changed;
      }
      if (changed) this.revision++;
    }
    return command.type;
  }

  put(key: string, value: Uint8Array, revision: number): void {
    const previous = this.data.get(key);
    this.data.set(key, {
      value,
      createRevision: previous?.createRevision ?? revision,
      modRevision: revision,
      version: (previous?.version ?? 0) + 1,
    });
  }
}

function applyInBatches(
  kv: KvStateMachine,
  entries: Uint8Array[],
  cuts: number[],
): CommandResult[] {
  const results: CommandResult[] = [];
  let start = 0;
  const ends = [...new Set(cuts.map((c) => c % (entries.length + 1)))].sort((x, y) => x - y);
  for (const end of [...ends, entries.length]) {
    if (end <= start) continue;
    const first = kv.appliedIndex() + 1;
    const batch = entries
      .slice(start, end)
      .map((data, offset) => ({ index: first + offset, data }));
    results.push(...kv.apply(batch).map((r) => r.result));
    start = end;
  }
  return results;
}

test("same log => same results, digest and stored bytes, for any batching; matches the model", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(entryArb, { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      async (entries, cutsA, cutsB) => {
        const a = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
        const b = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
        try {
          const resultsA = applyInBatches(a, entries, cutsA);
          const resultsB = applyInBatches(b, entries, cutsB);
          assert.deepEqual(normalize(resultsA), normalize(resultsB));
          assert.deepEqual(a.digest(), b.digest());
          assert.ok(
            (await snapshotBytes(a)).equals(await snapshotBytes(b)),
            "identical stored bytes",
          );

          const model = new Model();
          entries.forEach((entry, i) => {
            const decoded = entry.length === 0 ? undefined : decodeCommand(entry, defaultLimits);
            const type = model.apply(entry, decoded?.ok ? decoded.command : undefined);
            const result = resultsA[i];
            assert.equal(result?.type, type, `entry ${i + 1}`);
            assert.equal(result?.revision, model.revision, `revision after entry ${i + 1}`);
          });
          const listed = a.list({ limit: 100 }).items;
          const modelKeys = [...model.data.keys()].sort((x, y) =>
            Buffer.compare(Buffer.from(x), Buffer.from(y)),
          );
          assert.deepEqual(
            listed.map((kv) => kv.key),
            modelKeys,
          );
          for (const kv of listed) {
            const expected = model.data.get(kv.key)!;
            assert.deepEqual(
              { ...kv, value: Buffer.from(kv.value) },
              { key: kv.key, ...expected, value: Buffer.from(expected.value) },
            );
          }
          assert.equal(a.revision(), model.revision);
          assert.equal(a.appliedIndex(), entries.length);
        } finally {
          await a.close();
          await b.close();
        }
      },
    ),
    { seed, numRuns: 100 },
  );
});

test("replaying from a snapshot plus the rest of the log gives the same digest and results", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(entryArb, { minLength: 1, maxLength: 40 }),
      fc.nat(),
      async (entries, cutSeed) => {
        const cut = cutSeed % (entries.length + 1);
        const full = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
        const leader = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
        const follower = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
        try {
          const all = applyInBatches(full, entries, []);
          applyInBatches(leader, entries.slice(0, cut), []);
          // The follower held unrelated state before: the restore must replace all of it.
          applyInBatches(
            follower,
            [encodeLoosely({ type: "put", key: "stale", value: Buffer.from("x") })],
            [],
          );
          const summary = await follower.restoreFromSnapshot(leader.openSnapshot());
          assert.equal(summary.appliedIndex, cut);
          assert.equal(follower.revision(), leader.revision());
          const rest = applyInBatches(follower, entries.slice(cut), [3]);
          assert.deepEqual(normalize(rest), normalize(all.slice(cut)));
          assert.deepEqual(follower.digest(), full.digest());
        } finally {
          await full.close();
          await leader.close();
          await follower.close();
        }
      },
    ),
    { seed, numRuns: 60 },
  );
});

test("the digest covers values, metadata and the revision", async () => {
  const digestAfter = (...commands: KvCommand[]): string => {
    const kv = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
    applyInBatches(kv, commands.map(encodeLoosely), []);
    const { sha256 } = kv.digest();
    void kv.close();
    return sha256;
  };
  const put = (key: string, value: string): KvCommand => ({
    type: "put",
    key,
    value: Buffer.from(value),
  });
  const base = digestAfter(put("a", "1"));
  assert.equal(digestAfter(put("a", "1")), base);
  assert.notEqual(digestAfter(put("a", "2")), base, "value");
  assert.notEqual(digestAfter(put("b", "1")), base, "key");
  assert.notEqual(digestAfter(put("a", "0"), put("a", "1")), base, "version and modRevision");
  assert.notEqual(
    digestAfter(put("x", "1"), { type: "delete", key: "x" }, put("a", "1")),
    base,
    "revision",
  );
});
