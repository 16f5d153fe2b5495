// Active health checks: one probe loop per upstream, with rise/fall thresholds so that a single
// lost probe does not flap a server, and a faster interval while a server is changing state so
// that a verdict is reached quickly without probing stable servers often.
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { LbConfig, UpstreamSpec } from "./config.ts";

export interface ProbeState {
  healthy: boolean;
  successes: number;
  failures: number;
  lastError: string | null;
  lastCheckedAtMs: number | null;
}

type HealthConfig = LbConfig["healthCheck"];

export type Probe = (spec: UpstreamSpec, config: HealthConfig) => Promise<string | null>;

function statusMatches(status: number, expected: HealthConfig["expectedStatus"]): boolean {
  if (typeof expected === "number") return status === expected;
  return Math.floor(status / 100) === Number(expected[0]);
}

/** Resolves null when healthy, else a short reason. Never rejects. */
export const httpProbe: Probe = (spec, config) =>
  new Promise((resolve) => {
    const request = (spec.tls ? https : http).request(
      {
        host: spec.host,
        port: spec.port,
        method: "GET",
        path: config.path,
        agent: false,
        headers: { "user-agent": "hothot-lb-health-check", connection: "close" },
        timeout: config.timeoutMs,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        response.destroy();
        resolve(statusMatches(status, config.expectedStatus) ? null : `status ${status}`);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`timeout after ${config.timeoutMs} ms`)));
    request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end();
  });

export const tcpProbe: Probe = (spec, config) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: spec.host, port: spec.port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`timeout after ${config.timeoutMs} ms`);
    }, config.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(null);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? error.message);
    });
  });

interface Target {
  spec: UpstreamSpec;
  state: ProbeState;
  timer: NodeJS.Timeout | null;
  paused: boolean;
  generation: number;
}

export class HealthChecker {
  private readonly targets = new Map<string, Target>();
  private stopped = false;
  private readonly probe: Probe;

  constructor(
    private readonly config: HealthConfig,
    /** Called when an upstream's verdict flips, and after every probe (for metrics). */
    private readonly onResult: (name: string, state: ProbeState, changed: boolean) => void,
    probe?: Probe,
  ) {
    this.probe = probe ?? (config.type === "tcp" ? tcpProbe : httpProbe);
  }

  /** Starts probing `spec` (no-op if already probed). The first probe runs at once. */
  add(spec: UpstreamSpec): void {
    if (this.targets.has(spec.name)) return;
    const target: Target = {
      spec,
      state: { healthy: true, successes: 0, failures: 0, lastError: null, lastCheckedAtMs: null },
      timer: null,
      paused: false,
      generation: 0,
    };
    this.targets.set(spec.name, target);
    if (this.config.enabled) this.schedule(target, 0);
  }

  remove(name: string): void {
    const target = this.targets.get(name);
    if (!target) return;
    if (target.timer) clearTimeout(target.timer);
    target.generation++;
    this.targets.delete(name);
  }

  state(name: string): ProbeState | undefined {
    return this.targets.get(name)?.state;
  }

  /** Marks an upstream down (e.g. after a passive ejection) so it needs `rise` good probes. */
  markDown(name: string, reason: string): void {
    const target = this.targets.get(name);
    if (!target || !this.config.enabled) return;
    const changed = target.state.healthy;
    target.state.healthy = false;
    target.state.successes = 0;
    target.state.lastError = reason;
    if (changed) this.onResult(name, target.state, true);
    // Probe again soon: recovery should be noticed within one fast interval.
    if (!target.paused) this.schedule(target, this.config.fastIntervalMs);
  }

  /** Maintenance stops probing; resuming probes at once. */
  setPaused(name: string, paused: boolean): void {
    const target = this.targets.get(name);
    if (!target || target.paused === paused) return;
    target.paused = paused;
    if (!this.config.enabled) return;
    if (paused) {
      if (target.timer) clearTimeout(target.timer);
      target.timer = null;
      target.generation++;
    } else this.schedule(target, 0);
  }

  stop(): void {
    this.stopped = true;
    for (const target of this.targets.values()) {
      if (target.timer) clearTimeout(target.timer);
      target.generation++;
    }
  }

  private schedule(target: Target, delayMs: number): void {
    if (this.stopped) return;
    if (target.timer) clearTimeout(target.timer);
    const generation = ++target.generation;
    target.timer = setTimeout(() => void this.run(target, generation), delayMs);
    target.timer.unref();
  }

  private async run(target: Target, generation: number): Promise<void> {
    target.timer = null;
    const error = await this.probe(target.spec, this.config);
    if (this.stopped || generation !== target.generation) return;
    const state = target.state;
    state.lastCheckedAtMs = Date.now();
    state.lastError = error;
    let changed = false;
    if (error === null) {
      state.successes++;
      state.failures = 0;
      if (!state.healthy && state.successes >= this.config.rise) {
        state.healthy = true;
        changed = true;
      }
    } else {
      state.failures++;
      state.successes = 0;
      if (state.healthy && state.failures >= this.config.fall) {
        state.healthy = false;
        changed = true;
      }
    }
    this.onResult(target.spec.name, state, changed);
    const changing = state.healthy ? state.failures > 0 : state.successes > 0;
    const intervalMs = state.healthy ? this.config.intervalMs : this.config.downIntervalMs;
    this.schedule(target, changing ? this.config.fastIntervalMs : intervalMs);
  }
}
