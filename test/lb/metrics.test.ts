import assert from "node:assert/strict";
import { test } from "node:test";
import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { DurationHistogram } from "../../src/lb/metrics.ts";

const bounds = [0.001, 0.01, 0.1, 1];

/** Sample lines of a Prometheus text exposition as name{sorted labels} -> value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unexpected line ${line}`);
    const labels = (match[2] ?? "").split(",").filter(Boolean).sort().join(",");
    map.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return map;
}

test("the request duration histogram reads exactly as prom-client's histogram for the same observations", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new DurationHistogram("lb_duration_seconds", "help", bounds, ours);
  const reference = new Histogram({
    name: "lb_duration_seconds",
    help: "help",
    labelNames: ["upstream"],
    buckets: bounds,
    registers: [theirs],
  });
  // On a bound (inclusive), between bounds, above every bound, and two upstreams.
  const observations: Array<[string, number]> = [
    ["a", 0.0005],
    ["a", 0.001],
    ["a", 0.05],
    ["a", 3],
    ["b", 0.01],
    ["b", 0.2],
    ["b", 0.2],
  ];
  const series = { a: histogram.labels({ upstream: "a" }) };
  for (const [upstream, value] of observations) {
    if (upstream === "a") series.a.observe(value);
    else histogram.observe({ upstream }, value);
    reference.observe({ upstream }, value);
  }
  const got = samples(await ours.metrics());
  assert.deepEqual(got, samples(await theirs.metrics()));
  assert.equal(got.get('lb_duration_seconds_bucket{le="0.001",upstream="a"}'), 2);
  assert.equal(got.get('lb_duration_seconds_bucket{le="1",upstream="a"}'), 3);
  assert.equal(got.get('lb_duration_seconds_bucket{le="+Inf",upstream="a"}'), 4);
  assert.equal(got.get('lb_duration_seconds_count{upstream="b"}'), 3);
  assert.ok(Math.abs(got.get('lb_duration_seconds_sum{upstream="b"}')! - 0.41) < 1e-9);
});

test("the request duration histogram of several workers is summed by the primary's aggregation", async () => {
  const workers = [new Registry(), new Registry()];
  const histograms = workers.map(
    (registry) => new DurationHistogram("lb_duration_seconds", "help", bounds, registry),
  );
  histograms[0]!.observe({ upstream: "a" }, 0.005);
  histograms[1]!.observe({ upstream: "a" }, 0.005);
  histograms[1]!.observe({ upstream: "a" }, 0.5);
  const lists = await Promise.all(workers.map((registry) => registry.getMetricsAsJSON()));
  const merged = samples(await AggregatorRegistry.aggregate(lists).metrics());
  assert.equal(merged.get('lb_duration_seconds_bucket{le="0.01",upstream="a"}'), 2);
  assert.equal(merged.get('lb_duration_seconds_bucket{le="+Inf",upstream="a"}'), 3);
  assert.equal(merged.get('lb_duration_seconds_count{upstream="a"}'), 3);
  assert.ok(Math.abs(merged.get('lb_duration_seconds_sum{upstream="a"}')! - 0.51) < 1e-9);
  // Reset (Registry.resetMetrics) empties every series.
  workers[0]!.resetMetrics();
  assert.equal(samples(await workers[0]!.metrics()).size, 0);
});
