import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildSchedule,
  describeFault,
  FAULT_KINDS,
  Prng,
} from "../../../src/testing/chaos/index.ts";

test("the PRNG repeats its sequence for a seed and differs between seeds", () => {
  const draw = (seed: number) =>
    Array.from(
      { length: 20 },
      (() => {
        const prng = new Prng(seed);
        return () => prng.int(1000);
      })(),
    );
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
  const derived = (seed: number, stream: number) => {
    const prng = Prng.derive(seed, stream);
    return [prng.next(), prng.next()];
  };
  assert.deepEqual(derived(7, 1), derived(7, 1));
  assert.notDeepEqual(derived(7, 1), derived(7, 2));
});

test("a schedule is a function of its seed: same seed, same plan; another seed, another plan", () => {
  const options = { durationMs: 120_000, nodes: 5, kinds: FAULT_KINDS };
  const a = buildSchedule({ ...options, seed: 42 });
  const b = buildSchedule({ ...options, seed: 42 });
  const c = buildSchedule({ ...options, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.length >= 10, `expected a dozen faults in two minutes, got ${a.length}`);
});

test("faults come one at a time, inside the duration, after warm-up, with quiet time between them", () => {
  for (let seed = 0; seed < 50; seed++) {
    const faults = buildSchedule({
      seed,
      durationMs: 60_000,
      nodes: 3,
      kinds: FAULT_KINDS,
      warmupMs: 2000,
      cooldownMs: 3000,
    });
    let previousEndMs = 0;
    for (const [index, fault] of faults.entries()) {
      assert.equal(fault.index, index);
      assert.ok(fault.atMs >= 2000);
      assert.ok(
        fault.atMs >= previousEndMs + 1500,
        `seed ${seed}: fault ${index} overlaps the previous one`,
      );
      assert.ok(
        fault.atMs + fault.holdMs + 3000 <= 60_000,
        `seed ${seed}: fault ${index} runs into the cool-down`,
      );
      assert.ok(fault.holdMs >= 1000);
      previousEndMs = fault.atMs + fault.holdMs;
    }
  }
});

test("only the requested kinds are scheduled, with targets inside the cluster", () => {
  const seen = new Set<string>();
  for (let seed = 0; seed < 100; seed++) {
    for (const fault of buildSchedule({
      seed,
      durationMs: 60_000,
      nodes: 5,
      kinds: ["kill", "partition"],
    })) {
      seen.add(fault.kind);
      assert.ok(fault.kind === "kill" || fault.kind === "partition");
      if (fault.kind === "kill") {
        const id = fault.target.rule === "leader" ? fault.target.fallbackId : fault.target.id;
        assert.ok(id >= 1 && id <= 5);
      } else if (fault.partition.shape === "split") {
        assert.equal(fault.partition.minority.length, 2, "a 5-node split cuts off two nodes");
        assert.equal(new Set(fault.partition.minority).size, 2);
      }
      seen.add(
        fault.kind === "partition" ? fault.partition.shape : `${fault.kind}-${fault.target.rule}`,
      );
    }
  }
  for (const expected of [
    "kill",
    "partition",
    "isolate",
    "split",
    "one-way",
    "kill-leader",
    "kill-node",
  ]) {
    assert.ok(seen.has(expected), `no ${expected} in 100 seeds`);
  }
});

test("no kinds, no faults; too short a run, no faults", () => {
  assert.deepEqual(buildSchedule({ seed: 1, durationMs: 60_000, nodes: 3, kinds: [] }), []);
  assert.deepEqual(buildSchedule({ seed: 1, durationMs: 4000, nodes: 3, kinds: ["kill"] }), []);
});

test("every fault has a readable description", () => {
  const faults = buildSchedule({ seed: 3, durationMs: 300_000, nodes: 3, kinds: FAULT_KINDS });
  for (const fault of faults) {
    const text = describeFault(fault);
    assert.match(text, /kill -9|SIGSTOP|isolate|split off|one-way|loss/);
    assert.match(text, /\d+\.\d s/);
  }
});
