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

type Series = { readonly labels: Readonly<Record<string, string>> };

/** The label-keyed series of one metric, bounded by MAX_SERIES, registered in `registry`. */
abstract class SeriesMetric<L extends string, S extends Series> {
  abstract readonly type: "counter" | "histogram";
  readonly aggregator = "sum" as const;
  private readonly series = new Map<string, S>();
  private overflow: S | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    register(registry, this);
  }

  protected abstract create(labels: Readonly<Record<string, string>>): S;
  protected abstract samples(series: S, values: Sample[]): void;

  /** The series of `labels` (created empty on first use), to keep and update. */
  labels(labels: Labels<L>): S {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= MAX_SERIES) {
        this.overflow ??= this.create(overflowLabels(this.labelNames));
        return this.overflow;
      }
      series = this.create({ ...labels });
      this.series.set(key, series);
    }
    return series;
  }

  reset(): void {
    this.series.clear();
    this.overflow = undefined;
  }

  async get(): Promise<Exposition> {
    // A metric without labels reads as zero before its first update, as prom-client's does.
    if (this.labelNames.length === 0) this.labels({} as Labels<L>);
    const values: Sample[] = [];
    for (const series of this.series.values()) this.samples(series, values);
    if (this.overflow) this.samples(this.overflow, values);
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/** One label set's count; keep it and call inc(). */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export class FastCounter<L extends string = never> extends SeriesMetric<L, CounterSeries> {
  readonly type = "counter" as const;

  inc(labels: Labels<L>, by = 1): void {
    this.labels(labels).inc(by);
  }

  protected create(labels: Readonly<Record<string, string>>): CounterSeries {
    return new CounterSeries(labels);
  }

  protected samples(series: CounterSeries, values: Sample[]): void {
    values.push({ labels: { ...series.labels }, value: series.value });
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

export class FastHistogram<L extends string = never> extends SeriesMetric<L, HistogramSeries> {
  readonly type = "histogram" as const;

  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
    labelNames: readonly L[],
    registry: Registry,
  ) {
    if (bounds.length === 0) throw new Error("a histogram needs at least one bound");
    for (let index = 1; index < bounds.length; index++) {
      if (!(bounds[index]! > bounds[index - 1]!)) throw new Error("bounds must increase");
    }
    super(name, help, labelNames, registry);
  }

  observe(labels: Labels<L>, value: number): void {
    this.labels(labels).observe(value);
  }

  protected create(labels: Readonly<Record<string, string>>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected samples(series: HistogramSeries, values: Sample[]): void {
    const bucket = `${this.name}_bucket`;
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
}

/** A histogram without labels. */
export class PlainHistogram {
  private readonly histogram: FastHistogram;

  constructor(name: string, help: string, bounds: readonly number[], registry: Registry) {
    this.histogram = new FastHistogram(name, help, bounds, [], registry);
  }

  observe(value: number): void {
    // Looked up each time (one Map lookup): Registry.resetMetrics() replaces the series.
    this.histogram.labels({}).observe(value);
  }
}
