// The layer-7 data path: a node:http server in front of one connection pool per upstream (the
// proxy's own lean HTTP/1.1 client by default, undici's Pool with `upstreamClient: undici`). Bodies
// stream through in both directions (never buffered whole; only small request bodies are held so
// that they can be re-sent on a retry). WebSocket upgrades are passed through as raw bytes.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import type { Dispatcher } from "undici";
import { Pool } from "undici";
import type { Backend, Balancer } from "./balancer.ts";
import type { LbConfig } from "./config.ts";
import type { FailureKind } from "./controller.ts";
import { type ClientSide, Exchange } from "./exchange.ts";
import { hashKeyOf, headerList, scanRequest } from "./headers.ts";
import { listenOn } from "./listen.ts";
import type { DataplaneMetrics } from "./metrics.ts";
import { NodeClient } from "./node-client.ts";
import { RawFrontend, type RawFrontendHost } from "./raw-frontend.ts";
import { RetryBudget } from "./retry-budget.ts";
import { type ResponseHandler, UpstreamPool, type UpstreamRequest } from "./upstream-pool.ts";

const reads = new Set(["GET", "HEAD", "OPTIONS"]);
const codeClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** What an exchange needs from an upstream's connection pool. */
interface UpstreamDispatcher {
  dispatch(request: UpstreamRequest, handler: ResponseHandler): void;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** undici's Pool behind the same interface (`upstreamClient: undici`). */
class UndiciDispatcher implements UpstreamDispatcher {
  constructor(private readonly pool: Pool) {}

  dispatch(request: UpstreamRequest, handler: ResponseHandler): void {
    let headers = request.headers ?? headerList(request.headLines!, 0);
    // undici frames Buffer bodies itself; a stream of known length needs its Content-Length.
    if (request.body !== null && !Buffer.isBuffer(request.body) && request.contentLength !== null) {
      headers = [...headers, "content-length", String(request.contentLength)];
    }
    this.pool.dispatch(
      { path: request.path, method: request.method, headers, body: request.body },
      handler as unknown as Dispatcher.DispatchHandler,
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

export type FailureReporter = (name: string, kind: FailureKind) => void;

interface Instruments {
  /** Responses per status class (1xx…5xx) not yet folded into the requests counter. */
  byClass: number[];
  flush: () => void;
  duration: { observe(value: number): void };
}

/** Per-backend data-path state: the connection pool and pre-bound metric children. */
interface Runtime {
  pool: UpstreamDispatcher;
  instruments: Instruments;
}

export class HttpProxy implements RawFrontendHost {
  /** Serves every client with `frontend: node`; with `frontend: raw` only the connections the
   * raw front end hands over. */
  readonly server: http.Server;
  private readonly raw: RawFrontend | null = null;
  private readonly runtimes = new Map<Backend, Runtime>();
  private readonly budget: RetryBudget;
  private inflight = 0;
  private draining = false;
  private drainWaiters: Array<() => void> = [];
  private readonly upgrades = new Set<Duplex>();
  /** Connections handed over by the primary (node front end; the raw one counts its own). */
  private adopted = 0;

  constructor(
    private readonly config: LbConfig,
    private readonly balancer: Balancer,
    private readonly metrics: DataplaneMetrics,
    private readonly reportFailures: FailureReporter,
  ) {
    this.budget = new RetryBudget(config.retry.budgetPercent, config.retry.minRetriesPerSecond);
    this.server = http.createServer(
      {
        maxHeaderSize: config.limits.maxHeaderBytes,
        keepAliveTimeout: config.timeouts.clientKeepAliveMs,
        // Node.js checks headersTimeout/requestTimeout only this often (30 s by default, which
        // would make short client timeouts fire late): a tenth of the shortest, 5 ms to 1 s.
        connectionsCheckingInterval: Math.max(
          5,
          Math.min(
            1000,
            Math.floor(
              Math.min(config.timeouts.clientHeadersMs, config.timeouts.clientRequestMs) / 10,
            ),
          ),
        ),
      },
      (request, response) => this.handle(request, response),
    );
    this.server.keepAliveTimeout = config.timeouts.clientKeepAliveMs;
    this.server.headersTimeout = config.timeouts.clientHeadersMs;
    this.server.requestTimeout = config.timeouts.clientRequestMs;
    this.server.maxConnections = config.limits.maxClientConnections;
    this.server.on("upgrade", (request, socket, head) => this.upgrade(request, socket, head));
    this.server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
      // The same answers Node.js' default handler gives: 408 for its header/request timeouts,
      // 431 for oversized heads, 400 for the rest.
      const status =
        error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "408 Request Timeout"
          : error.code === "HPE_HEADER_OVERFLOW"
            ? "431 Request Header Fields Too Large"
            : "400 Bad Request";
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
      else socket.destroy();
    });
    if (config.frontend === "raw") {
      this.raw = new RawFrontend(this, this.server, {
        maxHeaderBytes: config.limits.maxHeaderBytes,
        maxBufferedBodyBytes: config.retry.maxBufferedBodyBytes,
        clientKeepAliveMs: config.timeouts.clientKeepAliveMs,
        clientHeadersMs: config.timeouts.clientHeadersMs,
        clientRequestMs: config.timeouts.clientRequestMs,
        maxClientConnections: config.limits.maxClientConnections,
      });
    }
  }

  /** Balancer hook: a backend joined. */
  attach(backend: Backend): void {
    const timeouts = this.config.timeouts;
    const limits = this.config.limits;
    const pool: UpstreamDispatcher =
      this.config.upstreamClient === "undici"
        ? new UndiciDispatcher(
            new Pool(backend.spec.url, {
              connections: limits.maxConnectionsPerUpstream,
              pipelining: 1,
              keepAliveTimeout: timeouts.upstreamKeepAliveMs,
              keepAliveMaxTimeout: timeouts.upstreamKeepAliveMs,
              headersTimeout: timeouts.responseHeadersMs,
              bodyTimeout: timeouts.bodyIdleMs,
              connect: { timeout: timeouts.connectMs },
            }),
          )
        : new UpstreamPool(backend.spec, {
            maxConnections: limits.maxConnectionsPerUpstream,
            maxQueued: limits.maxOutstandingPerUpstream,
            connectTimeoutMs: timeouts.connectMs,
            headersTimeoutMs: timeouts.responseHeadersMs,
            bodyIdleTimeoutMs: timeouts.bodyIdleMs,
            keepAliveMs: timeouts.upstreamKeepAliveMs,
            maxHeaderBytes: limits.maxHeaderBytes,
          });
    const upstream = backend.name;
    const children = codeClasses.map((codeClass) =>
      this.metrics.requests.labels({ upstream, code_class: codeClass }),
    );
    const byClass = codeClasses.map(() => 0);
    const flush = () => {
      for (let index = 0; index < byClass.length; index++) {
        const count = byClass[index]!;
        if (count > 0) {
          byClass[index] = 0;
          children[index]!.inc(count);
        }
      }
    };
    this.metrics.requestFlushers.add(flush);
    this.runtimes.set(backend, {
      pool,
      instruments: { byClass, flush, duration: this.metrics.duration.labels({ upstream }) },
    });
  }

  /** Balancer hook: a backend left; in-flight requests on it finish first. */
  detach(backend: Backend): void {
    const runtime = this.runtimes.get(backend);
    if (!runtime) return;
    this.runtimes.delete(backend);
    runtime.instruments.flush();
    this.metrics.requestFlushers.delete(runtime.instruments.flush);
    void runtime.pool.close().catch(() => undefined);
  }

  async listen(host: string, port: number): Promise<number> {
    if (this.raw === null) return listenOn(this.server, host, port);
    const bound = await listenOn(this.raw.server, host, port);
    // The node:http server never listens itself, but it tracks its connections (headers and
    // request timeouts, closeAllConnections) from its 'listening' event on: the connections the
    // raw front end hands over need that as much as any.
    this.server.emit("listening");
    this.raw.startSweep();
    return bound;
  }

  /** Worker processes: the primary accepts and hands each connection to one worker in turn
   * (see load-balancer.ts), so this proxy never listens; it serves what `adopt` gives it. */
  serveAdopted(): void {
    // As in listen(): connection tracking of the node:http server starts with 'listening'.
    this.server.emit("listening");
    this.raw?.startSweep();
  }

  /** A client connection accepted by the primary. */
  adopt(socket: net.Socket): void {
    // What the proxy's own servers would have set on a connection they accepted.
    socket.allowHalfOpen = true;
    if (this.raw !== null) {
      this.raw.accept(socket);
      return;
    }
    if (this.draining || this.adopted >= this.config.limits.maxClientConnections) {
      socket.destroy();
      return;
    }
    this.adopted++;
    socket.once("close", () => {
      this.adopted--;
    });
    socket.setNoDelay(true);
    this.server.emit("connection", socket);
  }

  /** Stops accepting, lets in-flight requests finish (up to drainMs), then closes everything. */
  async close(): Promise<void> {
    this.draining = true;
    const raw = this.raw;
    const closed = new Promise<void>((resolve) => {
      if (raw === null) this.server.close(() => resolve());
      else {
        // Handed-over connections are the node:http server's; it never listened itself.
        raw.server.close(() => resolve());
        raw.drain();
        this.server.close(); // stops its connection tracking timer; it has no listener to close
      }
    });
    this.server.closeIdleConnections();
    if (this.inflight > 0 || this.upgrades.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.timeouts.drainMs);
        timer.unref();
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.server.closeAllConnections();
    raw?.destroy();
    for (const socket of this.upgrades) socket.destroy();
    await closed;
    await Promise.all([...this.runtimes.values()].map((runtime) => runtime.pool.destroy()));
    for (const runtime of this.runtimes.values()) {
      runtime.instruments.flush();
      this.metrics.requestFlushers.delete(runtime.instruments.flush);
    }
    this.runtimes.clear();
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  private checkDrained(): void {
    if (this.draining && this.inflight === 0 && this.upgrades.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    this.inflight++;
    this.budget.recordRequest();
    if (this.draining) response.shouldKeepAlive = false;
    const method = request.method ?? "GET";
    const client = new NodeClient(request, response, () => this.draining);
    const lengthHeader = client.contentLength;
    const hasBody = lengthHeader !== null ? lengthHeader !== "0" : client.chunked;
    const exchange = new Exchange(this, client, method);
    response.on("close", () => {
      if (!exchange.finished) exchange.clientGone();
    });
    if (!hasBody) {
      request.resume();
      exchange.start(null, true, null);
      return;
    }
    const length = lengthHeader === null ? Number.NaN : Number(lengthHeader);
    if (length <= this.config.retry.maxBufferedBodyBytes) {
      // Small sized body: hold it so that a retry can re-send it.
      const chunks: Buffer[] = [];
      let received = 0;
      request.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > length) request.destroy();
        else chunks.push(chunk);
      });
      request.on("end", () => exchange.start(Buffer.concat(chunks, received), true, received));
      request.on("error", () => exchange.clientGone());
      return;
    }
    exchange.start(request, false, Number.isNaN(length) ? null : length);
  }

  // --- used by Exchange and the raw front end -----------------------------------------------

  /** @internal A request arrived through the raw front end. */
  beginExchange(client: ClientSide, method: string): Exchange {
    this.inflight++;
    this.budget.recordRequest();
    return new Exchange(this, client, method);
  }

  /** @internal */
  pick(client: ClientSide, method: string, tried: Backend[] | null): Backend | null {
    const policy = this.config.policy;
    const hashKey = policy.type === "consistent-hash" ? client.hashKey(policy.hashKey) : null;
    return this.pickByKey(hashKey, method, tried);
  }

  private pickByKey(
    hashKey: string | null,
    method: string,
    tried: Backend[] | null,
  ): Backend | null {
    const write = this.config.cluster !== undefined && !reads.has(method);
    return this.balancer.pick(hashKey, write, tried);
  }

  /** @internal */
  runtime(backend: Backend): Runtime | undefined {
    return this.runtimes.get(backend);
  }

  /** @internal */
  mayRetry(attempts: number): boolean {
    return attempts <= this.config.retry.maxRetries && this.budget.tryAcquire();
  }

  /** @internal */
  recordOutcome(backend: Backend, kind: "ok" | "5xx" | "connect"): void {
    const outlier = this.config.outlier;
    if (kind === "ok") {
      backend.consecutiveConnectErrors = 0;
      backend.consecutive5xx = 0;
      return;
    }
    this.metrics.errors.inc({ upstream: backend.name, kind });
    if (kind === "connect") {
      backend.consecutive5xx = 0;
      if (++backend.consecutiveConnectErrors >= outlier.consecutiveConnectErrors) {
        backend.consecutiveConnectErrors = 0;
        this.reportFailures(backend.name, "connect");
      }
    } else if (++backend.consecutive5xx >= outlier.consecutive5xx) {
      backend.consecutive5xx = 0;
      this.reportFailures(backend.name, "5xx");
    }
  }

  /** @internal */
  retried(reason: string): void {
    this.metrics.retries.inc({ reason });
  }

  /** @internal */
  noUpstream(): void {
    this.metrics.noUpstream.inc();
  }

  /** @internal */
  finished(): void {
    this.inflight--;
    this.checkDrained();
  }

  /** @internal */
  get isDraining(): boolean {
    return this.draining;
  }

  // --- WebSocket and other upgrades: a raw byte pipe after the handshake ------------------

  private upgrade(request: IncomingMessage, client: Duplex, head: Buffer): void {
    const tried: Backend[] = [];
    const headerLines = scanRequest(request, true).headers;
    let text = `${request.method} ${request.url} HTTP/1.1\r\n`;
    for (let index = 0; index < headerLines.length; index += 2) {
      text += `${headerLines[index]}: ${headerLines[index + 1]}\r\n`;
    }
    text += "\r\n";
    client.on("error", () => client.destroy());
    const attempt = (): void => {
      const policy = this.config.policy;
      const hashKey = policy.type === "consistent-hash" ? hashKeyOf(request, policy.hashKey) : null;
      const method = request.method ?? "GET";
      const backend = this.pickByKey(hashKey, method, tried.length ? tried : null);
      if (backend === null || this.draining) {
        this.noUpstream();
        client.end("HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      tried.push(backend);
      const spec = backend.spec;
      const upstream = spec.tls
        ? tls.connect({ host: spec.host, port: spec.port, servername: spec.host })
        : net.connect({ host: spec.host, port: spec.port });
      const connectTimer = setTimeout(
        () => upstream.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })),
        this.config.timeouts.connectMs,
      );
      let connected = false;
      upstream.once(spec.tls ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(connectTimer);
        this.recordOutcome(backend, "ok");
        backend.outstanding++;
        this.upgrades.add(client);
        const started = performance.now();
        upstream.setNoDelay(true);
        upstream.write(text);
        if (head.length > 0) upstream.write(head);
        client.pipe(upstream);
        upstream.pipe(client);
        const idleMs = this.config.timeouts.tcpIdleMs;
        upstream.setTimeout(idleMs, () => upstream.destroy());
        let done = false;
        const end = () => {
          if (done) return;
          done = true;
          backend.outstanding--;
          this.upgrades.delete(client);
          this.runtime(backend)?.instruments.duration.observe((performance.now() - started) / 1000);
          client.destroy();
          upstream.destroy();
          this.checkDrained();
        };
        client.on("close", end);
        upstream.on("close", end);
      });
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (connected) return;
        this.recordOutcome(backend, "connect");
        if (!client.destroyed && this.mayRetry(tried.length)) {
          this.retried(`connect:${error.code ?? "error"}`);
          attempt();
        } else
          client.end("HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      });
    };
    attempt();
  }
}
