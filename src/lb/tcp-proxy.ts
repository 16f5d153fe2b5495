// The layer-4 data path: each client connection is piped to one upstream connection chosen by
// the same balancer and policies as HTTP. A connect failure is retried on another upstream while
// the client's first bytes wait (the client socket stays paused until the upstream is connected).
import net from "node:net";
import type { Backend, Balancer } from "./balancer.ts";
import type { LbConfig } from "./config.ts";
import type { FailureReporter } from "./http-proxy.ts";
import { listenOn } from "./listen.ts";
import type { DataplaneMetrics } from "./metrics.ts";
import { hash32 } from "./policies.ts";
import { RetryBudget } from "./retry-budget.ts";

export class TcpProxy {
  readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  private readonly budget: RetryBudget;
  private draining = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly config: LbConfig,
    private readonly balancer: Balancer,
    private readonly metrics: DataplaneMetrics,
    private readonly reportFailures: FailureReporter,
  ) {
    this.budget = new RetryBudget(config.retry.budgetPercent, config.retry.minRetriesPerSecond);
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.maxConnections = config.limits.maxClientConnections;
  }

  listen(host: string, port: number): Promise<number> {
    return listenOn(this.server, host, port);
  }

  /** A client connection accepted by the primary (worker processes never listen). */
  adopt(socket: net.Socket): void {
    // Like the server's own (pauseOnConnect): no bytes are read before an upstream is connected.
    socket.pause();
    if (this.draining || this.connections.size >= this.config.limits.maxClientConnections) {
      socket.destroy();
      return;
    }
    this.accept(socket);
  }

  /** Stops accepting; open connections get drainMs to end on their own. */
  async close(): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.connections.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.timeouts.drainMs);
        timer.unref();
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const socket of this.connections) socket.destroy();
    await closed;
  }

  private accept(client: net.Socket): void {
    this.connections.add(client);
    this.budget.recordRequest();
    client.on("error", () => client.destroy());
    client.on("close", () => {
      this.connections.delete(client);
      if (this.draining && this.connections.size === 0) {
        for (const waiter of this.drainWaiters.splice(0)) waiter();
      }
    });
    const policy = this.config.policy;
    const address = client.remoteAddress ?? "";
    // Only the client address identifies a TCP client; header/cookie keys do not exist at L4.
    const hashKey = policy.type === "consistent-hash" ? `${address}#${hash32(address)}` : null;
    const tried: Backend[] = [];
    const attempt = (): void => {
      const backend = this.balancer.pick(hashKey, false, tried.length > 0 ? tried : null);
      if (backend === null || client.destroyed) {
        this.metrics.noUpstream.inc();
        client.destroy();
        return;
      }
      tried.push(backend);
      const spec = backend.spec;
      const upstream = net.connect({ host: spec.host, port: spec.port });
      const connectTimer = setTimeout(
        () => upstream.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })),
        this.config.timeouts.connectMs,
      );
      let connected = false;
      upstream.once("connect", () => {
        connected = true;
        clearTimeout(connectTimer);
        backend.consecutiveConnectErrors = 0;
        backend.outstanding++;
        const started = performance.now();
        upstream.setNoDelay(true);
        client.setNoDelay(true);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        const idleMs = this.config.timeouts.tcpIdleMs;
        client.setTimeout(idleMs, () => client.destroy());
        let done = false;
        const end = () => {
          if (done) return;
          done = true;
          backend.outstanding--;
          this.metrics.requests.inc({ upstream: backend.name, code_class: "tcp" });
          this.metrics.duration.observe(
            { upstream: backend.name },
            (performance.now() - started) / 1000,
          );
          client.destroy();
          upstream.destroy();
        };
        client.on("close", end);
        upstream.on("close", end);
      });
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (connected) return;
        this.metrics.errors.inc({ upstream: backend.name, kind: "connect" });
        if (++backend.consecutiveConnectErrors >= this.config.outlier.consecutiveConnectErrors) {
          backend.consecutiveConnectErrors = 0;
          this.reportFailures(backend.name, "connect");
        }
        if (tried.length <= this.config.retry.maxRetries && this.budget.tryAcquire()) {
          this.metrics.retries.inc({ reason: `connect:${error.code ?? "error"}` });
          attempt();
        } else client.destroy();
      });
    };
    attempt();
  }
}
