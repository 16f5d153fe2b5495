import assert from "node:assert/strict";
import { test } from "node:test";
import { Network } from "../../../src/testing/sim/network.ts";
import { Prng } from "../../../src/testing/sim/prng.ts";

const latency = {
  minUnits: 10,
  maxUnits: 20,
  spikeProbability: 0,
  spikeMaxUnits: 0,
  lateProbability: 0,
  lateMaxUnits: 0,
};
const ids = [1, 2, 3, 4, 5];

test("latency stays in its range and every message arrives on a clean network", () => {
  const network = new Network(5, new Prng(1), latency);
  for (let i = 0; i < 1000; i++) {
    const delays = network.plan(1, 2);
    assert.equal(delays.length, 1);
    assert.ok(delays[0]! >= 10 && delays[0]! <= 20);
  }
  assert.equal(network.isHealed(), true);
  assert.equal(network.describe(), "healed");
});

test("symmetric partitions, one-way cuts, isolation, bridges and healing", () => {
  const network = new Network(5, new Prng(2), latency);
  network.partition([
    [1, 2],
    [3, 4, 5],
  ]);
  assert.equal(network.isLinkUp(1, 2), true);
  assert.equal(network.isLinkUp(1, 3), false);
  assert.equal(network.isLinkUp(3, 1), false);
  assert.deepEqual(network.plan(2, 5), []);
  assert.equal(network.isLinkUp(4, 5), true);

  network.heal();
  network.cutOneWay(1, 2);
  assert.equal(network.isLinkUp(1, 2), false);
  assert.equal(network.isLinkUp(2, 1), true);
  assert.equal(network.describe(), "1->2");

  network.heal();
  network.isolate(3, ids);
  for (const other of [1, 2, 4, 5]) {
    assert.equal(network.isLinkUp(3, other), false);
    assert.equal(network.isLinkUp(other, 3), false);
  }
  assert.equal(network.isLinkUp(1, 2), true);

  // A-B and B-C connected, A-C not.
  network.bridge([1], [2], [3]);
  assert.equal(network.isLinkUp(1, 2) && network.isLinkUp(2, 1), true);
  assert.equal(network.isLinkUp(2, 3) && network.isLinkUp(3, 2), true);
  assert.equal(network.isLinkUp(1, 3) || network.isLinkUp(3, 1), false);
  assert.equal(network.describe(), "1<->3");

  network.heal();
  assert.equal(network.isHealed(), true);
});

test("loss and duplication follow their probabilities, deterministically per seed", () => {
  const run = (seed: number) => {
    const network = new Network(5, new Prng(seed), latency);
    network.setLoss({ dropProbability: 0.2, duplicateProbability: 0.1 });
    let lost = 0;
    let copies = 0;
    const plans: number[][] = [];
    for (let i = 0; i < 10_000; i++) {
      const delays = network.plan(1, 2);
      plans.push(delays);
      if (delays.length === 0) lost++;
      copies += delays.length;
    }
    return { lost, copies, plans };
  };
  const first = run(3);
  assert.ok(first.lost > 1700 && first.lost < 2300, `lost ${first.lost}`);
  // 8000 delivered, about 10% of them duplicated at least once.
  assert.ok(first.copies > 8600 && first.copies < 9300, `copies ${first.copies}`);
  assert.deepEqual(run(3).plans, first.plans);
  assert.notDeepEqual(run(4).plans, first.plans);
});

test("latency spikes reorder messages", () => {
  const network = new Network(5, new Prng(5), {
    ...latency,
    spikeProbability: 0.3,
    spikeMaxUnits: 1000,
  });
  const arrivals = Array.from({ length: 200 }, (_, sent) => sent + network.plan(1, 2)[0]!);
  const reordered = arrivals.some((arrival, i) => i > 0 && arrival < arrivals[i - 1]!);
  assert.equal(reordered, true);
});

test("invalid models and node ids are refused", () => {
  assert.throws(() => new Network(5, new Prng(1), { ...latency, minUnits: 30 }), RangeError);
  const network = new Network(5, new Prng(1), latency);
  assert.throws(() => network.setLoss({ dropProbability: 2, duplicateProbability: 0 }), RangeError);
  assert.throws(() => network.isLinkUp(0, 6), RangeError);
});
