// The controller is the single authority on verdicts: active health, passive ejection, admin
// state and (in cluster mode) the members and the leader. Every process that proxies receives
// the same snapshots from it, so a health verdict is the same in every worker.
import type { AdminState, Snapshot, UpstreamView } from "./balancer.ts";
import { ClusterFollower, type ClusterView } from "./cluster-follower.ts";
import { type LbConfig, memberUpstream, type UpstreamSpec } from "./config.ts";
import { LbError } from "./errors.ts";
import { HealthChecker, type Probe, type ProbeState } from "./health-checker.ts";
import { ControllerMetrics } from "./metrics.ts";
import { readStateFile, writeStateFile } from "./state-file.ts";

export type FailureKind = "connect" | "5xx";

interface Entry {
  spec: UpstreamSpec;
  clusterId: number | null;
  role: string | null;
  ejectedUntilMs: number;
  ejectionTimer: NodeJS.Timeout | null;
  ejections: number;
  lastEjectionEndMs: number;
}

export interface UpstreamStatus {
  name: string;
  url: string;
  weight: number;
  admin: AdminState;
  healthy: boolean;
  ejected: boolean;
  ejectedForMs: number;
  ejections: number;
  lastCheckError: string | null;
  lastCheckedAtMs: number | null;
  role: string | null;
  clusterId: number | null;
}

export interface ControllerStatus {
  mode: "http" | "tcp";
  policy: string;
  leader: string | null;
  clusterStream: string | null;
  upstreams: UpstreamStatus[];
}

export interface ControllerOptions {
  /** Health probe override (tests). */
  probe?: Probe;
  now?: () => number;
}

export class Controller {
  readonly metrics = new ControllerMetrics();
  private readonly entries = new Map<string, Entry>();
  private readonly adminStates: Map<string, AdminState>;
  private readonly health: HealthChecker;
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();
  private readonly follower: ClusterFollower | null = null;
  private leader: string | null = null;
  private current: Snapshot = { upstreams: [], leader: null };
  private publishScheduled = false;
  private readonly now: () => number;

  constructor(
    private readonly config: LbConfig,
    options: ControllerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.adminStates = config.admin.stateFile ? readStateFile(config.admin.stateFile) : new Map();
    this.health = new HealthChecker(
      config.healthCheck,
      (name, state, changed) => this.onProbe(name, state, changed),
      options.probe,
    );
    if (config.cluster) {
      const cluster = config.cluster;
      this.follower = new ClusterFollower({
        seeds: cluster.seeds,
        reconnectDelayMs: cluster.reconnectDelayMs,
        streamIdleTimeoutMs: cluster.streamIdleTimeoutMs,
        leaderPollIntervalMs: cluster.leaderPollIntervalMs,
        pollTimeoutMs: config.healthCheck.timeoutMs,
        onView: (view) => this.onClusterView(view),
        onStreamState: (connected) => this.metrics.streamConnected.set(connected ? 1 : 0),
      });
    }
    for (const spec of config.upstreams) this.addUpstream(spec, null, null);
    this.rebuild();
  }

  start(): void {
    this.follower?.start();
  }

  stop(): void {
    this.health.stop();
    this.follower?.stop();
    for (const entry of this.entries.values()) {
      if (entry.ejectionTimer) clearTimeout(entry.ejectionTimer);
    }
    this.listeners.clear();
  }

  snapshot(): Snapshot {
    return this.current;
  }

  /** `listener` gets the current snapshot at once and every later one. */
  subscribe(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    listener(this.current);
    return () => this.listeners.delete(listener);
  }

  /**
   * A proxying process saw `count` consecutive failures of `kind` on `name`. Ejects it unless
   * that would take out more than the configured share of upstreams.
   */
  reportFailures(name: string, kind: FailureKind): boolean {
    const outlier = this.config.outlier;
    const entry = this.entries.get(name);
    if (!outlier.enabled || !entry) return false;
    const now = this.now();
    if (entry.ejectedUntilMs > now) return false;
    const total = this.entries.size;
    let ejected = 0;
    for (const other of this.entries.values()) if (other.ejectedUntilMs > now) ejected++;
    const allowed = Math.max(1, Math.floor((total * outlier.maxEjectionPercent) / 100));
    if (outlier.maxEjectionPercent === 0 || ejected + 1 > allowed) return false;
    if (now - entry.lastEjectionEndMs > outlier.ejectionMemoryMs) entry.ejections = 0;
    entry.ejections++;
    const durationMs = Math.min(
      outlier.baseEjectionMs * 2 ** Math.min(entry.ejections - 1, 30),
      outlier.maxEjectionMs,
    );
    entry.ejectedUntilMs = now + durationMs;
    if (entry.ejectionTimer) clearTimeout(entry.ejectionTimer);
    entry.ejectionTimer = setTimeout(() => {
      entry.ejectionTimer = null;
      entry.ejectedUntilMs = 0;
      entry.lastEjectionEndMs = this.now();
      this.rebuild();
    }, durationMs);
    entry.ejectionTimer.unref();
    this.metrics.ejections.inc({ upstream: name, reason: kind });
    // With active checks, an ejected server must also pass `rise` probes before it returns.
    this.health.markDown(name, `ejected after consecutive ${kind} failures`);
    this.rebuild();
    return true;
  }

  setAdminState(name: string, state: AdminState): void {
    if (!this.entries.has(name) && !this.adminStates.has(name)) {
      const known = [...this.entries.keys()].join(", ");
      throw new LbError("LB_UNKNOWN_UPSTREAM", `no upstream named "${name}"; known: ${known}`);
    }
    this.adminStates.set(name, state);
    if (this.config.admin.stateFile) writeStateFile(this.config.admin.stateFile, this.adminStates);
    this.health.setPaused(name, state === "maintenance");
    this.rebuild();
  }

  status(): ControllerStatus {
    const now = this.now();
    return {
      mode: this.config.mode,
      policy: this.config.policy.type,
      leader: this.leader,
      clusterStream: this.follower?.streamApi ?? null,
      upstreams: [...this.entries.values()].map((entry) => {
        const probe = this.health.state(entry.spec.name);
        return {
          name: entry.spec.name,
          url: entry.spec.url,
          weight: entry.spec.weight,
          admin: this.adminStates.get(entry.spec.name) ?? "ready",
          healthy: probe?.healthy ?? true,
          ejected: entry.ejectedUntilMs > now,
          ejectedForMs: Math.max(0, entry.ejectedUntilMs - now),
          ejections: entry.ejections,
          lastCheckError: probe?.lastError ?? null,
          lastCheckedAtMs: probe?.lastCheckedAtMs ?? null,
          role: entry.role,
          clusterId: entry.clusterId,
        };
      }),
    };
  }

  private addUpstream(spec: UpstreamSpec, clusterId: number | null, role: string | null): void {
    this.entries.set(spec.name, {
      spec,
      clusterId,
      role,
      ejectedUntilMs: 0,
      ejectionTimer: null,
      ejections: 0,
      lastEjectionEndMs: 0,
    });
    this.health.add(spec);
    if (this.adminStates.get(spec.name) === "maintenance") this.health.setPaused(spec.name, true);
  }

  private onProbe(name: string, state: ProbeState, changed: boolean): void {
    this.metrics.healthChecks.inc({
      upstream: name,
      result: state.lastError === null ? "pass" : "fail",
    });
    if (changed) this.rebuild();
  }

  private onClusterView(view: ClusterView): void {
    const seen = new Set<string>();
    for (const member of view.members) {
      const spec = memberUpstream(member.api);
      seen.add(spec.name);
      const entry = this.entries.get(spec.name);
      if (entry) {
        entry.role = member.role;
        entry.clusterId = member.id;
      } else this.addUpstream(spec, member.id, member.role);
    }
    for (const [name, entry] of this.entries) {
      if (seen.has(name)) continue;
      if (entry.ejectionTimer) clearTimeout(entry.ejectionTimer);
      this.health.remove(name);
      this.entries.delete(name);
    }
    const leader = view.leaderApi === null ? null : memberUpstream(view.leaderApi).name;
    if (leader !== this.leader) this.metrics.leaderChanges.inc();
    this.leader = leader;
    // A leader change must reach the proxies now, not on the next tick.
    this.publishNow();
  }

  /** Recomputes the snapshot and publishes it (coalesced within one tick). */
  private rebuild(): void {
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    queueMicrotask(() => this.publishNow());
  }

  private publishNow(): void {
    this.publishScheduled = false;
    const now = this.now();
    const upstreams: UpstreamView[] = [];
    for (const entry of this.entries.values()) {
      const name = entry.spec.name;
      const admin = this.adminStates.get(name) ?? "ready";
      const healthy = this.health.state(name)?.healthy ?? true;
      const ejected = entry.ejectedUntilMs > now;
      upstreams.push({ spec: entry.spec, healthy, ejected, admin, role: entry.role });
      this.metrics.healthy.set({ upstream: name }, healthy ? 1 : 0);
      this.metrics.ejected.set({ upstream: name }, ejected ? 1 : 0);
      for (const state of ["ready", "drain", "maintenance"] as const) {
        this.metrics.adminState.set({ upstream: name, state }, admin === state ? 1 : 0);
      }
    }
    this.current = { upstreams, leader: this.leader };
    for (const listener of this.listeners) listener(this.current);
  }
}
