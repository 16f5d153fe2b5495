import assert from "node:assert/strict";
import { test } from "node:test";
import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import { FastCounter, FastHistogram, MAX_SERIES, PlainHistogram } from "../../src/metrics/index.ts";

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

test("a labelled histogram reads exactly as prom-client's histogram for the same observations", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new FastHistogram("lb_duration_seconds", "help", bounds, ["upstream"], ours);
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

test("a labelled histogram of several workers is summed by the primary's aggregation", async () => {
  const workers = [new Registry(), new Registry()];
  const histograms = workers.map(
    (registry) => new FastHistogram("lb_duration_seconds", "help", bounds, ["upstream"], registry),
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

test("a histogram without labels reads as prom-client's, before and after observations, with the registry's default labels", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  for (const registry of [ours, theirs]) registry.setDefaultLabels({ node: "3" });
  const histogram = new PlainHistogram("fsync_seconds", "help", bounds, ours);
  const reference = new Histogram({
    name: "fsync_seconds",
    help: "help",
    buckets: bounds,
    registers: [theirs],
  });
  // prom-client shows an unlabelled histogram at zero before its first observation.
  assert.deepEqual(samples(await ours.metrics()), samples(await theirs.metrics()));
  for (const value of [0.0001, 0.001, 0.0011, 0.5, 1, 7]) {
    histogram.observe(value);
    reference.observe(value);
  }
  const got = samples(await ours.metrics());
  assert.deepEqual(got, samples(await theirs.metrics()));
  assert.equal(got.get('fsync_seconds_bucket{le="0.001",node="3"}'), 2);
  assert.equal(got.get('fsync_seconds_count{node="3"}'), 6);
  // After a registry reset it counts from zero again, still as prom-client does.
  ours.resetMetrics();
  theirs.resetMetrics();
  histogram.observe(0.02);
  reference.observe(0.02);
  assert.deepEqual(samples(await ours.metrics()), samples(await theirs.metrics()));
  assert.equal(samples(await ours.metrics()).get('fsync_seconds_count{node="3"}'), 1);
});

test("a counter with several labels reads exactly as prom-client's counter for the same increments", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  for (const registry of [ours, theirs]) registry.setDefaultLabels({ node: "1" });
  const counter = new FastCounter("requests_total", "help", ["route", "method", "status"], ours);
  const reference = new Counter({
    name: "requests_total",
    help: "help",
    labelNames: ["route", "method", "status"],
    registers: [theirs],
  });
  const kept = counter.labels({ route: "/v1/kv/{key}", method: "PUT", status: "200" });
  const increments: Array<[string, string, string, number]> = [
    ["/v1/kv/{key}", "PUT", "200", 1],
    ["/v1/kv/{key}", "PUT", "200", 1],
    ["/v1/kv/{key}", "GET", "200", 1],
    ["/v1/kv/{key}", "GET", "404", 3],
    ["/v1/status", "GET", "200", 1],
    // Values that would collide if the key were a plain concatenation.
    ["a", "bc", "200", 1],
    ["ab", "c", "200", 2],
  ];
  for (const [route, method, status, by] of increments) {
    if (route === "/v1/kv/{key}" && method === "PUT") kept.inc(by);
    else counter.inc({ route, method, status }, by);
    reference.inc({ route, method, status }, by);
  }
  const got = samples(await ours.metrics());
  assert.deepEqual(got, samples(await theirs.metrics()));
  assert.equal(
    got.get('requests_total{method="PUT",node="1",route="/v1/kv/{key}",status="200"}'),
    2,
  );
  assert.equal(got.get('requests_total{method="c",node="1",route="ab",status="200"}'), 2);
  assert.equal(got.get('requests_total{method="bc",node="1",route="a",status="200"}'), 1);
});

test("a metric keeps at most MAX_SERIES label sets and counts the rest in one overflow series", async () => {
  const registry = new Registry();
  const counter = new FastCounter("hits_total", "help", ["path"], registry);
  const histogram = new FastHistogram("hit_seconds", "help", bounds, ["path"], registry);
  const extra = 10;
  for (let index = 0; index < MAX_SERIES + extra; index++) {
    counter.inc({ path: `/p${index}` });
    histogram.observe({ path: `/p${index}` }, 0.005);
  }
  const got = samples(await registry.metrics());
  assert.equal(got.get('hits_total{path="other"}'), extra);
  assert.equal(got.get('hits_total{path="/p0"}'), 1);
  assert.equal(got.get(`hits_total{path="/p${MAX_SERIES + extra - 1}"}`), undefined);
  assert.equal(got.get('hit_seconds_count{path="other"}'), extra);
  const counted = [...got].filter(([name]) => name.startsWith("hits_total"));
  assert.equal(counted.length, MAX_SERIES + 1);
  assert.equal(
    counted.reduce((sum, [, value]) => sum + value, 0),
    MAX_SERIES + extra,
  );
});

test("bounds must increase", () => {
  assert.throws(
    () => new FastHistogram("x", "help", [1, 1], [], new Registry()),
    /bounds must increase/,
  );
  assert.throws(() => new PlainHistogram("y", "help", [], new Registry()), /at least one bound/);
});
