import assert from "node:assert/strict";
import { test } from "node:test";
import { Controller, parseLbConfig, RetryBudget } from "../../src/lb/index.ts";
import { sleep } from "./helpers.ts";

function controller(outlier: Record<string, number>): Controller {
  return new Controller(
    parseLbConfig({
      upstreams: ["a", "b", "c", "d"].map((name, index) => ({
        name,
        url: `http://127.0.0.1:${20001 + index}`,
      })),
      healthCheck: { enabled: false },
      outlier,
      admin: { listen: null, stateFile: null },
    }),
  );
}

test("ejection never takes out more than maxEjectionPercent of the upstreams", () => {
  const control = controller({ maxEjectionPercent: 50 });
  try {
    assert.equal(control.reportFailures("a", "connect"), true);
    assert.equal(control.reportFailures("b", "5xx"), true);
    assert.equal(
      control.reportFailures("c", "connect"),
      false,
      "a third of four would exceed 50 %",
    );
    const ejected = control
      .status()
      .upstreams.filter((upstream) => upstream.ejected)
      .map((upstream) => upstream.name);
    assert.deepEqual(ejected, ["a", "b"]);
  } finally {
    control.stop();
  }
});

test("the ejection backoff doubles on repeat and the upstream returns after it", async () => {
  const control = controller({ baseEjectionMs: 60, maxEjectionMs: 200 });
  try {
    const ejectedFor = () =>
      control.status().upstreams.find((upstream) => upstream.name === "a")!.ejectedForMs;
    control.reportFailures("a", "connect");
    assert.ok(ejectedFor() > 20 && ejectedFor() <= 60, String(ejectedFor()));
    await sleep(90);
    assert.equal(ejectedFor(), 0, "back after the first backoff");
    control.reportFailures("a", "connect");
    assert.ok(ejectedFor() > 60 && ejectedFor() <= 120, `second backoff ${ejectedFor()}`);
    await sleep(150);
    control.reportFailures("a", "connect");
    assert.ok(ejectedFor() > 120 && ejectedFor() <= 200, `capped third backoff ${ejectedFor()}`);
    assert.equal(
      control.status().upstreams.find((upstream) => upstream.name === "a")!.ejections,
      3,
    );
    // Snapshots tell every process the same verdict (published once per tick).
    await sleep(0);
    assert.equal(
      control.snapshot().upstreams.find((view) => view.spec.name === "a")!.ejected,
      true,
    );
  } finally {
    control.stop();
  }
});

test("the retry budget allows its share of the request rate plus the floor, then refuses", () => {
  let nowMs = 1_000_000;
  const budget = new RetryBudget(20, 1, () => nowMs);
  for (let index = 0; index < 100; index++) budget.recordRequest();
  // Window of 10 s: floor 1/s x 10 = 10, plus 20 % of 100 requests = 20.
  let granted = 0;
  while (budget.tryAcquire()) granted++;
  assert.equal(granted, 30);
  nowMs += 11_000; // the window has moved on entirely
  assert.equal(budget.tryAcquire(), true);
});
