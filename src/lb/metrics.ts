// Prometheus metrics. Each load balancer instance owns its registries (no global state), so that
// several instances can live in one process (tests) and workers can be aggregated by the primary.
import { Counter, Gauge, Registry } from "prom-client";
import { FastHistogram, type HistogramSeries } from "../metrics/index.ts";

/** One upstream's series of the request duration histogram. */
export type DurationSeries = HistogramSeries;

/** Counted where traffic flows: in every process that proxies. */
export class DataplaneMetrics {
  readonly registry = new Registry();
  /** Fold counts kept in plain numbers on the hot path into `requests`; run whenever the
   * metrics are read (a prom-client child's inc() costs about 0.2 µs, per request). */
  readonly requestFlushers = new Set<() => void>();
  readonly requests: Counter<"upstream" | "code_class">;
  readonly errors: Counter<"upstream" | "kind">;
  readonly duration: FastHistogram<"upstream">;
  readonly retries: Counter<"reason">;
  readonly noUpstream: Counter;
  readonly activeConnections: Gauge<"upstream">;

  /** `outstanding` reports requests in flight per upstream when metrics are read. */
  constructor(outstanding: () => Iterable<[string, number]>) {
    const registers = [this.registry];
    const flushers = this.requestFlushers;
    this.requests = new Counter({
      name: "hothot_lb_requests_total",
      help: "Requests (http) or connections (tcp) completed per upstream, by status class.",
      labelNames: ["upstream", "code_class"],
      registers,
      collect() {
        for (const flush of flushers) flush();
      },
    });
    this.errors = new Counter({
      name: "hothot_lb_upstream_errors_total",
      help: "Failed attempts per upstream by kind (connect, reset, timeout, 5xx).",
      labelNames: ["upstream", "kind"],
      registers,
    });
    this.duration = new FastHistogram(
      "hothot_lb_request_duration_seconds",
      "Time from choosing an upstream to the end of its response (http) or connection (tcp).",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ["upstream"],
      this.registry,
    );
    this.retries = new Counter({
      name: "hothot_lb_retries_total",
      help: "Attempts re-sent to another upstream, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.noUpstream = new Counter({
      name: "hothot_lb_no_upstream_total",
      help: "Requests answered 502/503 because no upstream could take them.",
      registers,
    });
    this.activeConnections = new Gauge({
      name: "hothot_lb_upstream_outstanding",
      help: "Requests or connections in flight per upstream.",
      labelNames: ["upstream"],
      registers,
      collect() {
        this.reset();
        for (const [upstream, value] of outstanding()) this.set({ upstream }, value);
      },
    });
  }
}

/** Owned by the controller (the single authority on verdicts). */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly healthy: Gauge<"upstream">;
  readonly ejected: Gauge<"upstream">;
  readonly adminState: Gauge<"upstream" | "state">;
  readonly ejections: Counter<"upstream" | "reason">;
  readonly healthChecks: Counter<"upstream" | "result">;
  readonly leaderChanges: Counter;
  readonly streamConnected: Gauge;

  constructor() {
    const registers = [this.registry];
    this.healthy = new Gauge({
      name: "hothot_lb_upstream_healthy",
      help: "1 if the upstream passes its active health checks, else 0.",
      labelNames: ["upstream"],
      registers,
    });
    this.ejected = new Gauge({
      name: "hothot_lb_upstream_ejected",
      help: "1 while the upstream is ejected by passive outlier detection.",
      labelNames: ["upstream"],
      registers,
    });
    this.adminState = new Gauge({
      name: "hothot_lb_upstream_admin_state",
      help: "1 for the upstream's current admin state (ready, drain, maintenance).",
      labelNames: ["upstream", "state"],
      registers,
    });
    this.ejections = new Counter({
      name: "hothot_lb_ejections_total",
      help: "Passive outlier ejections per upstream.",
      labelNames: ["upstream", "reason"],
      registers,
    });
    this.healthChecks = new Counter({
      name: "hothot_lb_health_checks_total",
      help: "Active health checks per upstream by result.",
      labelNames: ["upstream", "result"],
      registers,
    });
    this.leaderChanges = new Counter({
      name: "hothot_lb_leader_changes_total",
      help: "Times the write target (cluster leader) changed.",
      registers,
    });
    this.streamConnected = new Gauge({
      name: "hothot_lb_cluster_stream_connected",
      help: "1 while a cluster event stream is connected.",
      registers,
    });
  }
}
