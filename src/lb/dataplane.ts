// One proxying process's worth of state: the balancer, the proxy (HTTP or TCP) and its metrics.
// In single-process mode it lives beside the controller; with workers, each worker has one and
// receives the controller's snapshots over IPC.
import type net from "node:net";
import { Balancer, type Snapshot } from "./balancer.ts";
import type { LbConfig } from "./config.ts";
import { type FailureReporter, HttpProxy } from "./http-proxy.ts";
import { DataplaneMetrics } from "./metrics.ts";
import { createPolicy } from "./policies.ts";
import { defaultRandom, type RandomSource, seededRandom } from "./random.ts";
import { TcpProxy } from "./tcp-proxy.ts";

export class Dataplane {
  readonly metrics: DataplaneMetrics;
  readonly balancer: Balancer;
  readonly proxy: HttpProxy | TcpProxy;

  constructor(config: LbConfig, reportFailures: FailureReporter, random?: RandomSource) {
    this.metrics = new DataplaneMetrics(() =>
      this.balancer.all().map((backend) => [backend.name, backend.outstanding] as [string, number]),
    );
    const rng = random ?? (config.seed === undefined ? defaultRandom() : seededFrom(config.seed));
    let httpProxy: HttpProxy | null = null;
    this.balancer = new Balancer({
      policy: createPolicy(config.policy.type, rng, { virtualNodes: config.policy.virtualNodes }),
      panicThresholdPercent: config.outlier.panicThresholdPercent,
      maxOutstandingPerUpstream: config.limits.maxOutstandingPerUpstream,
      onAdded: (backend) => httpProxy?.attach(backend),
      onRemoved: (backend) => httpProxy?.detach(backend),
    });
    if (config.mode === "http") {
      httpProxy = new HttpProxy(config, this.balancer, this.metrics, reportFailures);
      this.proxy = httpProxy;
    } else {
      this.proxy = new TcpProxy(config, this.balancer, this.metrics, reportFailures);
    }
  }

  apply(snapshot: Snapshot): void {
    this.balancer.apply(snapshot);
  }

  listen(host: string, port: number): Promise<number> {
    return this.proxy.listen(host, port);
  }

  /** Worker processes: serve connections the primary hands over instead of listening. */
  serveAdopted(): void {
    if (this.proxy instanceof HttpProxy) this.proxy.serveAdopted();
  }

  adopt(socket: net.Socket): void {
    this.proxy.adopt(socket);
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}

function seededFrom(seed: number): RandomSource {
  // Workers get different streams from one seed, so they do not pick in lockstep.
  const worker = Number(process.env.HOTHOT_LB_WORKER_INDEX ?? 0);
  return seededRandom((seed + Math.imul(worker, 0x9e3779b1)) >>> 0);
}
