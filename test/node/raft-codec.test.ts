// The peer transport's binary encoding of consensus messages (src/node/raft-codec.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RaftCodecError, type RaftEnvelope, raftCodec } from "../../src/node/raft-codec.ts";
import { type Entry, MESSAGE_TYPES, type Message } from "../../src/raft/index.ts";
import { CUSTOM_BODY_MARKER } from "../../src/transport/index.ts";

// A "snapshot" message always carries a snapshot, which stays msgpack.
const TYPES = MESSAGE_TYPES.filter((type) => type !== "snapshot");
const safe = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const entry: fc.Arbitrary<Entry> = fc.record({
  term: safe,
  index: safe,
  type: fc.constantFrom("normal" as const, "conf-change" as const),
  data: fc.uint8Array({ maxLength: 300 }),
});
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...TYPES),
  from: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  to: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: safe,
  logTerm: safe,
  index: safe,
  entries: fc.array(entry, { maxLength: 20 }),
  commit: safe,
  reject: fc.boolean(),
  rejectHint: safe,
  snapshot: fc.constant(undefined),
  context: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
});

/** Uint8Arrays as plain lists, so that views and copies compare by content. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_, v) => (v instanceof Uint8Array ? { bytes: Array.from(v) } : v)),
  );
}

test("every consensus message without a snapshot round-trips exactly", () => {
  fc.assert(
    fc.property(message, (m) => {
      const envelope: RaftEnvelope = { k: "raft", m };
      const body = raftCodec.encode(envelope);
      assert.ok(body !== undefined);
      assert.equal(body[0], CUSTOM_BODY_MARKER);
      const back = raftCodec.decode(body) as { k: string; m: Message };
      assert.equal(back.k, "raft");
      assert.deepEqual(plain(back.m), plain(m));
      assert.equal(back.m.snapshot, undefined);
      assert.equal(back.m.context === undefined, m.context === undefined);
      for (const [i, e] of back.m.entries.entries())
        assert.ok(e.data instanceof Uint8Array, `${i}`);
    }),
    { numRuns: 500 },
  );
});

test("snapshots and other envelopes are left to msgpack", () => {
  const snapshot = {
    metadata: { index: 5, term: 2, confState: { voters: [1, 2, 3], learners: [] } },
    data: new Uint8Array([1]),
  };
  const m: Message = {
    type: "snapshot",
    from: 1,
    to: 2,
    term: 2,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot,
    context: undefined,
  };
  assert.equal(raftCodec.encode({ k: "raft", m }), undefined);
  assert.equal(raftCodec.encode({ k: "snap-chunk" }), undefined);
});

test("a cut, padded or foreign body is refused with RaftCodecError, never misread", () => {
  fc.assert(
    fc.property(message, fc.integer({ min: 1, max: 2000 }), fc.boolean(), (m, cut, pad) => {
      const body = raftCodec.encode({ k: "raft", m })!;
      const damaged = pad
        ? Uint8Array.from([...body, 0])
        : body.subarray(0, Math.max(0, body.length - cut));
      assert.throws(() => raftCodec.decode(damaged), RaftCodecError);
    }),
    { numRuns: 300 },
  );
  const body = raftCodec.encode({
    k: "raft",
    m: {
      type: "heartbeat",
      from: 1,
      to: 2,
      term: 1,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: undefined,
    },
  })!;
  const newer = Uint8Array.from(body);
  newer[1] = 2;
  assert.throws(() => raftCodec.decode(newer), /unknown layout/);
  const badType = Uint8Array.from(body);
  badType[2] = 200;
  assert.throws(() => raftCodec.decode(badType), /unknown message type/);
  const negative = Uint8Array.from(body);
  new DataView(negative.buffer).setFloat64(20, -1); // the term
  assert.throws(() => raftCodec.decode(negative), /term -1/);
});
