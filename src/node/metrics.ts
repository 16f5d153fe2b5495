// Prometheus metrics of one member (prom-client, one registry per member).
import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  readonly proposalSeconds: Histogram;
  readonly fsyncSeconds: Histogram;
  readonly applySeconds: Histogram;
  readonly requests: Counter<"route" | "method" | "status">;
  readonly requestSeconds: Histogram<"route">;
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
    this.proposalSeconds = new Histogram({
      name: "hothot_proposal_duration_seconds",
      help: "from a write's arrival to its acknowledgement",
      buckets: latencyBuckets,
      registers: [registry],
    });
    this.fsyncSeconds = new Histogram({
      name: "hothot_fsync_duration_seconds",
      help: "durable log appends (one group commit each)",
      buckets: latencyBuckets,
      registers: [registry],
    });
    this.applySeconds = new Histogram({
      name: "hothot_apply_duration_seconds",
      help: "applying one batch of committed entries to the state machine",
      buckets: latencyBuckets,
      registers: [registry],
    });
    this.requests = new Counter({
      name: "hothot_http_requests_total",
      help: "client API requests by route, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    });
    this.requestSeconds = new Histogram({
      name: "hothot_http_request_duration_seconds",
      help: "client API request latency by route",
      labelNames: ["route"],
      buckets: latencyBuckets,
      registers: [registry],
    });
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
