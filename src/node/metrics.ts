// Prometheus metrics of one member (prom-client, one registry per member).
import { Counter, Gauge, Registry } from "prom-client";
import { FastCounter, FastHistogram, PlainHistogram } from "../metrics/index.ts";

export interface MetricsSource {
  role(): string;
  term(): number;
  commitIndex(): number;
  appliedIndex(): number;
  /** Per-peer replication lag in entries, as the leader sees it; empty on followers. */
  peerLag(): ReadonlyArray<{ peer: number; lag: number }>;
  /** LMDB transactions the state machine started for applied batches. */
  stateMachineCommits(): number;
  /** Applied batches the state machine serves from memory until their commit. */
  stateMachinePendingBatches(): number;
}

const ROLES = ["leader", "follower", "pre-candidate", "candidate", "learner"] as const;

export class NodeMetrics {
  readonly registry = new Registry();
  readonly elections: Counter;
  readonly leaderChanges: Counter;
  // Updated per request or per write: counted in plain numbers, exposed when read
  // (src/metrics).
  readonly proposalSeconds: PlainHistogram;
  readonly fsyncSeconds: PlainHistogram;
  readonly applySeconds: PlainHistogram;
  readonly requests: FastCounter<"route" | "method" | "status">;
  readonly requestSeconds: FastHistogram<"route">;
  readonly snapshotsTaken: Counter;
  readonly snapshotsSent: Counter<"outcome">;
  readonly readRounds: Counter;
  readonly readsServed: Counter;

  constructor(source: MetricsSource, labels: { node: string }) {
    const registry = this.registry;
    registry.setDefaultLabels(labels);
    new Gauge({
      name: "hothot_role",
      help: "1 for the member's current role, 0 for the others",
      labelNames: ["role"],
      registers: [registry],
      collect() {
        const current = source.role();
        for (const role of ROLES) this.set({ role }, role === current ? 1 : 0);
      },
    });
    new Gauge({
      name: "hothot_term",
      help: "current consensus term",
      registers: [registry],
      collect() {
        this.set(source.term());
      },
    });
    new Gauge({
      name: "hothot_commit_index",
      help: "highest log index known to be committed",
      registers: [registry],
      collect() {
        this.set(source.commitIndex());
      },
    });
    new Gauge({
      name: "hothot_applied_index",
      help: "highest log index applied to the state machine",
      registers: [registry],
      collect() {
        this.set(source.appliedIndex());
      },
    });
    new Gauge({
      name: "hothot_peer_lag_entries",
      help: "entries a peer's log is behind the leader's last index (leader only)",
      labelNames: ["peer"],
      registers: [registry],
      collect() {
        this.reset();
        for (const { peer, lag } of source.peerLag()) this.set({ peer: String(peer) }, lag);
      },
    });
    new Counter({
      name: "hothot_state_machine_commits_total",
      help: "LMDB transactions of the state machine (each commits every batch applied since the last)",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(source.stateMachineCommits());
      },
    });
    new Gauge({
      name: "hothot_state_machine_pending_batches",
      help: "applied batches served from memory until the state machine's next commit",
      registers: [registry],
      collect() {
        this.set(source.stateMachinePendingBatches());
      },
    });
    this.elections = new Counter({
      name: "hothot_elections_total",
      help: "elections this member started (as candidate)",
      registers: [registry],
    });
    this.leaderChanges = new Counter({
      name: "hothot_leader_changes_total",
      help: "changes of the leader this member has seen",
      registers: [registry],
    });
    const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.proposalSeconds = new PlainHistogram(
      "hothot_proposal_duration_seconds",
      "from a write's arrival to its acknowledgement",
      latencyBuckets,
      registry,
    );
    this.fsyncSeconds = new PlainHistogram(
      "hothot_fsync_duration_seconds",
      "durable log appends (one group commit each)",
      latencyBuckets,
      registry,
    );
    this.applySeconds = new PlainHistogram(
      "hothot_apply_duration_seconds",
      "applying one batch of committed entries to the state machine",
      latencyBuckets,
      registry,
    );
    this.requests = new FastCounter(
      "hothot_http_requests_total",
      "client API requests by route, method and status",
      ["route", "method", "status"],
      registry,
    );
    this.requestSeconds = new FastHistogram(
      "hothot_http_request_duration_seconds",
      "client API request latency by route",
      latencyBuckets,
      ["route"],
      registry,
    );
    this.snapshotsTaken = new Counter({
      name: "hothot_snapshots_taken_total",
      help: "snapshots of the state machine taken locally",
      registers: [registry],
    });
    this.readRounds = new Counter({
      name: "hothot_read_index_rounds_total",
      help: "ReadIndex rounds this member started for its linearizable reads",
      registers: [registry],
    });
    this.readsServed = new Counter({
      name: "hothot_read_index_reads_total",
      help: "linearizable reads those rounds carried (a read asked again after a lost round counts again)",
      registers: [registry],
    });
    this.snapshotsSent = new Counter({
      name: "hothot_snapshots_sent_total",
      help: "snapshot transfers to lagging members, by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    });
  }
}
