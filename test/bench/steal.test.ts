import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cpuTimes,
  parseCpuLine,
  repeatWhileStolen,
  stealOver,
  stolenPercent,
  untilQuiet,
} from "../../bench/lib/steal.ts";

describe("CPU steal (benchmarks)", () => {
  it("parses the cpu line of /proc/stat: the total of the first eight fields, and steal", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    assert.deepEqual(parseCpuLine("cpu  3469229 0 853676 5673935 109081 0 287771 220078 5 6"), {
      total: 3469229 + 853676 + 5673935 + 109081 + 287771 + 220078,
      steal: 220078,
    });
    assert.deepEqual(parseCpuLine("cpu 1 2 3 4 5 6 7 8"), { total: 36, steal: 8 });
  });

  it("refuses what is not a cpu line", () => {
    assert.equal(parseCpuLine(""), null);
    assert.equal(parseCpuLine("cpu0 1 2 3 4 5 6 7 8"), null);
    assert.equal(parseCpuLine("cpu 1 2 3 4 5 6 7"), null);
    assert.equal(parseCpuLine("cpu 1 2 x 4 5 6 7 8"), null);
    assert.equal(parseCpuLine("cpu 1 2 -3 4 5 6 7 8"), null);
  });

  it("reads null where /proc/stat cannot be read", () => {
    assert.equal(
      cpuTimes(() => {
        throw new Error("ENOENT");
      }),
      null,
    );
    assert.deepEqual(
      cpuTimes(() => "cpu 1 1 1 1 1 1 1 3\ncpu0 1 1 1 1 1 1 1 3\n"),
      {
        total: 10,
        steal: 3,
      },
    );
  });

  it("gives the stolen share of the time between two readings", () => {
    assert.equal(stolenPercent({ total: 1000, steal: 10 }, { total: 1400, steal: 60 }), 12.5);
    assert.equal(stolenPercent({ total: 1000, steal: 10 }, { total: 1300, steal: 10 }), 0);
    assert.equal(stolenPercent({ total: 0, steal: 0 }, { total: 3, steal: 1 }), 33.3);
    assert.equal(stolenPercent(null, { total: 1, steal: 0 }), null);
    assert.equal(stolenPercent({ total: 5, steal: 0 }, null), null);
    assert.equal(stolenPercent({ total: 5, steal: 0 }, { total: 5, steal: 0 }), null);
  });

  describe("repeatWhileStolen", () => {
    const policy = { maxStealPct: 5, maxRepeats: 2 };
    const run = async (steals: Array<number | null>, limits = policy) => {
      let next = 0;
      const heard: Array<[number, number, boolean]> = [];
      const outcome = await repeatWhileStolen(
        async () => ({ index: next, steal: steals[next++]! }),
        (result) => result.steal,
        limits,
        (steal, attempt, again) => heard.push([steal, attempt, again]),
      );
      return { ...outcome, made: next, heard };
    };

    it("keeps the first attempt under the limit, the limit itself included", async () => {
      const first = await run([0.4]);
      assert.equal(first.kept.index, 0);
      assert.equal(first.attempts, 1);
      assert.equal(first.stolen, false);
      assert.deepEqual(first.heard, []);
      assert.equal((await run([5])).attempts, 1);
    });

    it("takes a stolen measurement again, and keeps the first clean one", async () => {
      const outcome = await run([12, 5.1, 3, 0]);
      assert.equal(outcome.kept.index, 2);
      assert.equal(outcome.attempts, 3);
      assert.equal(outcome.made, 3);
      assert.equal(outcome.stolen, false);
      assert.deepEqual(outcome.heard, [
        [12, 1, true],
        [5.1, 2, true],
      ]);
    });

    it("stops after maxRepeats more attempts and keeps the least stolen one", async () => {
      const outcome = await run([30, 8, 20, 0]);
      assert.equal(outcome.made, 3);
      assert.equal(outcome.attempts, 3);
      assert.equal(outcome.kept.index, 1);
      assert.equal(outcome.stolen, true);
      assert.deepEqual(outcome.heard.at(-1), [20, 3, false]);
    });

    it("counts an unknown steal as clean, and never repeats with a limit of 100", async () => {
      assert.equal((await run([null, 0])).attempts, 1);
      const never = await run([100, 0], { maxStealPct: 100, maxRepeats: 2 });
      assert.equal(never.attempts, 1);
      assert.equal(never.stolen, false);
      const once = await run([50, 40], { maxStealPct: 5, maxRepeats: 0 });
      assert.equal(once.made, 1);
      assert.equal(once.stolen, true);
    });
  });
});

describe("untilQuiet", () => {
  const windows = (steals: Array<number | null>) => {
    let next = 0;
    return { take: async () => steals[next++]!, taken: () => next };
  };

  it("takes windows until one is at or under the limit", async () => {
    const w = windows([20, 9, 5, 0]);
    assert.deepEqual(await untilQuiet(w.take, 5, 10), { windows: 3, stealPct: 5 });
    assert.equal(w.taken(), 3);
  });

  it("gives up after maxWindows, telling the last steal", async () => {
    const w = windows([20, 30, 40, 0]);
    assert.deepEqual(await untilQuiet(w.take, 5, 3), { windows: 3, stealPct: 40 });
    assert.equal(w.taken(), 3);
  });

  it("stops at an unknown steal, and takes none when asked for none", async () => {
    const w = windows([null, 0]);
    assert.deepEqual(await untilQuiet(w.take, 5, 10), { windows: 1, stealPct: null });
    assert.deepEqual(await untilQuiet(windows([1]).take, 5, 0), { windows: 0, stealPct: null });
  });

  it("measures a real window on this machine (a share of time, or null off Linux)", async () => {
    const pct = await stealOver(50);
    assert.ok(pct === null || (pct >= 0 && pct <= 100), String(pct));
  });
});
