// Prometheus metrics that are cheap to update on a hot path. prom-client's Counter and Histogram
// build, validate and hash a label object on every inc/observe, even through a child kept from
// labels() (about 0.2 to 0.5 µs each, several percent of a node's CPU at thousands of requests
// per second). Here an update is a few additions on a series object the caller keeps, and the
// exposition is built only when the metrics are read. Both classes register in a prom-client
// Registry and read exactly as prom-client's own metrics of the same name and labels
// (`_bucket` with `le`, `_sum`, `_count` for histograms), including the registry's default
// labels and the summing aggregation over worker processes.
import type { Histogram, MetricValue, Registry } from "prom-client";

type Labels<L extends string> = Readonly<Record<L, string>>;

type Sample = MetricValue<string> & { metricName?: string };

interface Exposition {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: Sample[];
}

/** The label sets a metric keeps before further ones share one overflow series (label values
 * all "other", not counted in this limit): a metric must never grow without bound, whatever the
 * requests look like. */
export const MAX_SERIES = 1024;

function register(registry: Registry, metric: object): void {
  // A structural stand-in for prom-client's Metric: the registry only calls get() and reset()
  // and reads name, help, type and aggregator.
  registry.registerMetric(metric as unknown as Histogram);
}

function keyOf<L extends string>(labelNames: readonly L[], labels: Labels<L>): string {
  if (labelNames.length === 1) return labels[labelNames[0]!];
  let key = "";
  for (const name of labelNames) key += `${labels[name]}\u0000`;
  return key;
}

function overflowLabels<L extends string>(labelNames: readonly L[]): Labels<L> {
  return Object.fromEntries(labelNames.map((name) => [name, "other"])) as Labels<L>;
}

/** One label set's count; keep it and call inc(). */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export class FastCounter<L extends string = never> {
  readonly type = "counter" as const;
  readonly aggregator = "sum" as const;
  private readonly series = new Map<string, CounterSeries>();
  private overflow: CounterSeries | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    register(registry, this);
  }

  /** The series of `labels` (created at zero on first use), to keep and inc(). */
  labels(labels: Labels<L>): CounterSeries {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= MAX_SERIES) {
        this.overflow ??= new CounterSeries(overflowLabels(this.labelNames));
        return this.overflow;
      }
      series = new CounterSeries({ ...labels });
      this.series.set(key, series);
    }
    return series;
  }

  inc(labels: Labels<L>, by = 1): void {
    this.labels(labels).inc(by);
  }

  reset(): void {
    this.series.clear();
    this.overflow = undefined;
  }

  private *allSeries() {
    yield* this.series.values();
    if (this.overflow) yield this.overflow;
  }

  async get(): Promise<Exposition> {
    const values: Sample[] = [];
    for (const series of this.allSeries()) {
      values.push({ labels: { ...series.labels }, value: series.value });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/** One label set's observations; keep it and call observe(). */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.counts[index]!++;
    this.sum += value;
    this.count++;
  }
}

export class FastHistogram<L extends string = never> {
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  private readonly series = new Map<string, HistogramSeries>();
  private overflow: HistogramSeries | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    if (bounds.length === 0) throw new Error("a histogram needs at least one bound");
    for (let index = 1; index < bounds.length; index++) {
      if (!(bounds[index]! > bounds[index - 1]!)) throw new Error("bounds must increase");
    }
    register(registry, this);
  }

  /** The series of `labels`, to keep and observe into. */
  labels(labels: Labels<L>): HistogramSeries {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= MAX_SERIES) {
        this.overflow ??= new HistogramSeries(overflowLabels(this.labelNames), this.bounds);
        return this.overflow;
      }
      series = new HistogramSeries({ ...labels }, this.bounds);
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Labels<L>, value: number): void {
    this.labels(labels).observe(value);
  }

  reset(): void {
    this.series.clear();
    this.overflow = undefined;
  }

  private *allSeries() {
    yield* this.series.values();
    if (this.overflow) yield this.overflow;
  }

  async get(): Promise<Exposition> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.allSeries()) {
      let cumulative = 0;
      for (let index = 0; index < this.bounds.length; index++) {
        cumulative += series.counts[index]!;
        values.push({
          labels: { le: this.bounds[index]!, ...series.labels },
          value: cumulative,
          metricName: bucket,
        });
      }
      values.push(
        { labels: { le: "+Inf", ...series.labels }, value: series.count, metricName: bucket },
        { labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` },
        { labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/** A histogram without labels: observe() straight on its only series. */
export class PlainHistogram {
  private readonly histogram: FastHistogram;
  private series: HistogramSeries;

  constructor(name: string, help: string, bounds: readonly number[], registry: Registry) {
    this.histogram = new FastHistogram(name, help, bounds, [], registry);
    this.series = this.histogram.labels({});
    // Registry.resetMetrics() clears the series map; take a fresh series after it.
    const reset = this.histogram.reset.bind(this.histogram);
    this.histogram.reset = () => {
      reset();
      this.series = this.histogram.labels({});
    };
  }

  observe(value: number): void {
    this.series.observe(value);
  }
}
