// The per-process view of the upstreams and the choice of one for each request or connection.
// Verdicts (healthy, ejected, admin state, leader) arrive as snapshots from the controller, which
// is the single authority; this module only counts what happens in its own process
// (requests in flight, consecutive failures) and applies the policy.
import type { UpstreamSpec } from "./config.ts";
import type { Policy, PolicyBackend } from "./policies.ts";

export type AdminState = "ready" | "drain" | "maintenance";

export interface UpstreamView {
  spec: UpstreamSpec;
  healthy: boolean;
  ejected: boolean;
  admin: AdminState;
  /** Cluster mode: the member's role as last reported by the event stream. */
  role: string | null;
}

/** What the controller broadcasts to every process on each change. */
export interface Snapshot {
  upstreams: UpstreamView[];
  /** Name of the upstream that is the cluster's leader (cluster mode), else null. */
  leader: string | null;
}

export class Backend implements PolicyBackend {
  readonly name: string;
  readonly weight: number;
  outstanding = 0;
  wrrCurrent = 0;
  consecutiveConnectErrors = 0;
  consecutive5xx = 0;
  view: UpstreamView;
  /** Set while this backend is in the current candidate list. */
  usable = false;

  constructor(
    readonly spec: UpstreamSpec,
    view: UpstreamView,
  ) {
    this.name = spec.name;
    this.weight = spec.weight;
    this.view = view;
  }
}

export interface BalancerOptions {
  policy: Policy;
  panicThresholdPercent: number;
  maxOutstandingPerUpstream: number;
  /** Called for a backend that left the configuration (to close its pool). */
  onRemoved?: (backend: Backend) => void;
  /** Called for a backend that joined (to open its pool). */
  onAdded?: (backend: Backend) => void;
}

export class Balancer {
  private backends = new Map<string, Backend>();
  private candidates: Backend[] = [];
  private leader: Backend | null = null;
  private panic = false;

  constructor(private readonly options: BalancerOptions) {}

  apply(snapshot: Snapshot): void {
    const next = new Map<string, Backend>();
    for (const view of snapshot.upstreams) {
      let backend = this.backends.get(view.spec.name);
      if (backend && backend.spec.url !== view.spec.url) {
        this.options.onRemoved?.(backend);
        backend = undefined;
      }
      if (backend) backend.view = view;
      else {
        backend = new Backend(view.spec, view);
        this.options.onAdded?.(backend);
      }
      next.set(view.spec.name, backend);
    }
    for (const [name, backend] of this.backends) {
      if (!next.has(name)) this.options.onRemoved?.(backend);
    }
    const membershipChanged =
      next.size !== this.backends.size || [...next.keys()].some((name) => !this.backends.has(name));
    this.backends = next;
    const all = [...next.values()];
    const ready = all.filter((backend) => backend.view.admin === "ready");
    const good = ready.filter((backend) => backend.view.healthy && !backend.view.ejected);
    this.panic =
      ready.length > 0 && good.length * 100 < this.options.panicThresholdPercent * ready.length;
    this.candidates = this.panic ? ready : good;
    for (const backend of all) backend.usable = false;
    for (const backend of this.candidates) backend.usable = true;
    this.leader = snapshot.leader === null ? null : (next.get(snapshot.leader) ?? null);
    if (membershipChanged) this.options.policy.rebuild?.(all);
  }

  /**
   * Chooses a backend. `write` routes to the leader when one is known and usable. `tried` lists
   * backends already attempted for this request (retries go elsewhere). Returns null when no
   * backend can take the request.
   */
  pick(hashKey: string | null, write: boolean, tried: readonly Backend[] | null): Backend | null {
    const limit = this.options.maxOutstandingPerUpstream;
    const leader = this.leader;
    if (
      write &&
      leader?.usable &&
      leader.outstanding < limit &&
      (tried === null || !tried.includes(leader))
    ) {
      return leader;
    }
    let list = this.candidates;
    if (list.length === 0) return null;
    if (tried !== null || this.anyAtLimit(list, limit)) {
      list = list.filter(
        (backend) => backend.outstanding < limit && (tried === null || !tried.includes(backend)),
      );
      if (list.length === 0) return null;
    }
    return this.options.policy.pick(list, hashKey);
  }

  private anyAtLimit(list: readonly Backend[], limit: number): boolean {
    for (const backend of list) if (backend.outstanding >= limit) return true;
    return false;
  }

  get inPanic(): boolean {
    return this.panic;
  }

  get(name: string): Backend | undefined {
    return this.backends.get(name);
  }

  all(): Backend[] {
    return [...this.backends.values()];
  }

  totalOutstanding(): number {
    let total = 0;
    for (const backend of this.backends.values()) total += backend.outstanding;
    return total;
  }
}
