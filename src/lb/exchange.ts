// One client request through the proxy: choosing an upstream, sending, streaming the answer
// back, and deciding on retries and on what a failure says about the upstream.
import type { Readable } from "node:stream";
import type { Backend } from "./balancer.ts";
import type { HttpProxy } from "./http-proxy.ts";
import { type ForwardHead, type ResponseHandler, upstreamErrorCodes } from "./upstream-pool.ts";

function noop(): void {}

const idempotent = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** Errors that mean the request never reached the upstream: safe to re-send for any method. */
const connectErrors = new Set<string>([
  "ECONNREFUSED",
  "UND_ERR_CONNECT_TIMEOUT",
  upstreamErrorCodes.connectTimeout,
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
]);
/** The request was never handed to the upstream and the upstream is not at fault. */
const notSentErrors = new Set<string>([
  upstreamErrorCodes.queueFull,
  upstreamErrorCodes.poolClosed,
]);
const headersTimeoutErrors = new Set<string>([
  "UND_ERR_HEADERS_TIMEOUT",
  upstreamErrorCodes.headersTimeout,
]);

/**
 * The client's side of one exchange, whichever front end accepted it (node:http or the raw
 * parser). Headers given to `respond` still contain hop-by-hop ones: the front end frames the
 * response for its own connection.
 */
export interface ClientSide {
  /** Request target as sent by the client. */
  readonly path: string;
  /** Flat [name, value, …] to send upstream: no hop-by-hop headers, no Content-Length. */
  headerList(): string[];
  /** The same as header lines ending in CRLF, when the front end has them ready; else null. */
  readonly headLines: string | null;
  /** False for requests without a Host header (HTTP/1.0). */
  readonly hasHost: boolean;
  /** The consistent-hashing key ("header:NAME", "cookie:NAME", "client-address") or null. */
  hashKey(hashKey: string): string | null;
  /** Either `rawHeaders` (every header as received, undici's Buffers or strings) or `forward`
   * (the lines to send, hop-by-hop ones already removed) is given. */
  respond(
    statusCode: number,
    statusText: string,
    rawHeaders: Buffer[] | string[] | null,
    forward: ForwardHead | null,
  ): void;
  /** False when the client's buffer is full: `resume` is called once it drained. */
  write(chunk: Buffer, resume: () => void): boolean;
  end(): void;
  /** An answer of the proxy's own (no response head sent yet), or else cut the connection. */
  answer(statusCode: number, message: string): void;
  /** Cut the connection: a response that broke off mid-body. */
  cut(error: Error): void;
}

/**
 * One client request through the proxy, across retries. Implements undici's dispatch handler
 * with the callback-style methods (onConnect/onHeaders/onData/onComplete/onError): they hand over
 * raw header buffers without parsing them into an object, which is cheaper for a proxy that only
 * copies headers through.
 */
export class Exchange implements ResponseHandler {
  private backend: Backend | null = null;
  private tried: Backend[] | null = null;
  private body: Buffer | Readable | null = null;
  private contentLength: number | null = null;
  private replayable = true;
  private attempts = 0;
  private startedAt = 0;
  private abortUpstream: ((error?: Error) => void) | null = null;
  private responded = false;
  private discarding = false;
  private gotHeaders = false;
  private finishedExchange = false;
  private resume: () => void = noop;

  constructor(
    private readonly proxy: HttpProxy,
    private readonly client: ClientSide,
    private readonly method: string,
  ) {}

  get finished(): boolean {
    return this.finishedExchange;
  }

  start(body: Buffer | Readable | null, replayable: boolean, contentLength: number | null): void {
    this.body = body;
    this.replayable = replayable;
    this.contentLength = contentLength;
    this.dispatch();
  }

  clientGone(): void {
    // Finish first: the abort reports back through onError (synchronously with the native
    // client), and a client going away must not count against the upstream.
    if (this.finishedExchange) return;
    this.finish();
    this.abortUpstream?.(new Error("client closed the connection"));
  }

  private dispatch(): void {
    if (this.finishedExchange) return;
    const backend = this.proxy.pick(this.client, this.method, this.tried);
    if (backend === null) {
      this.proxy.noUpstream();
      this.fail(this.attempts === 0 ? 503 : 502, "no upstream available");
      return;
    }
    const runtime = this.proxy.runtime(backend);
    if (runtime === undefined) {
      this.fail(502, "upstream removed");
      return;
    }
    this.backend = backend;
    this.attempts++;
    backend.outstanding++;
    this.gotHeaders = false;
    this.discarding = false;
    this.startedAt = performance.now();
    runtime.pool.dispatch(
      {
        path: this.client.path,
        method: this.method,
        headers: this.client.headLines === null ? this.client.headerList() : null,
        headLines: this.client.headLines,
        body: this.body,
        contentLength: this.contentLength,
        hasHost: this.client.hasHost,
      },
      this,
    );
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.finishedExchange) abort(new Error("client closed the connection"));
  }

  onHeaders(
    statusCode: number,
    rawHeaders: Buffer[] | string[] | null,
    resume: () => void,
    statusText: string,
    forward?: ForwardHead | null,
  ): boolean {
    if (statusCode < 200) return true; // 1xx informational: the proxy answers 100-continue itself
    this.gotHeaders = true;
    const backend = this.backend!;
    this.proxy.recordOutcome(backend, statusCode >= 500 ? "5xx" : "ok");
    if (
      (statusCode === 502 || statusCode === 503) &&
      idempotent.has(this.method) &&
      this.replayable &&
      this.proxy.mayRetry(this.attempts)
    ) {
      // Swallow this answer and try another upstream once it has been read to the end (so the
      // pooled connection stays usable).
      this.discarding = true;
      return true;
    }
    this.resume = resume;
    this.responded = true;
    this.client.respond(statusCode, statusText, rawHeaders, forward ?? null);
    const byClass = this.proxy.runtime(backend)?.instruments.byClass;
    const classIndex = Math.floor(statusCode / 100) - 1;
    if (byClass !== undefined && classIndex >= 0 && classIndex < byClass.length) {
      byClass[classIndex]!++;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding || this.finishedExchange) return true;
    return this.client.write(chunk, this.resume);
  }

  onComplete(): void {
    const backend = this.releaseBackend();
    if (this.discarding) {
      this.proxy.retried(`status:${this.method}`);
      this.retryOn(backend);
      return;
    }
    // Finish before ending: the raw front end may start on a pipelined request from end().
    if (this.finishedExchange) return;
    this.finish();
    this.client.end();
  }

  onError(error: Error): void {
    const backend = this.releaseBackend();
    if (this.finishedExchange) return;
    const code = (error as NodeJS.ErrnoException).code ?? "";
    if (this.responded) {
      // Mid-body failure: the status line is gone, so the only honest signal is a cut connection.
      this.proxy.recordOutcome(backend, "connect");
      this.finish();
      this.client.cut(error);
      return;
    }
    if (notSentErrors.has(code) && this.replayable && this.proxy.mayRetry(this.attempts)) {
      this.proxy.retried("not-sent");
      this.retryOn(backend);
      return;
    }
    if (headersTimeoutErrors.has(code)) {
      this.proxy.recordOutcome(backend, "5xx");
      this.fail(504, "upstream timed out");
      return;
    }
    if (this.discarding) {
      // The 502/503 we were discarding broke off: retrying is still what the client wants.
      this.retryOn(backend);
      return;
    }
    this.proxy.recordOutcome(backend, "connect");
    const neverSent = connectErrors.has(code);
    const retryable =
      !this.gotHeaders &&
      this.replayable &&
      (neverSent || idempotent.has(this.method)) &&
      this.proxy.mayRetry(this.attempts);
    if (retryable) {
      this.proxy.retried(neverSent ? "connect" : "reset");
      this.retryOn(backend);
      return;
    }
    this.fail(502, "upstream failed");
  }

  private retryOn(backend: Backend): void {
    this.tried ??= [];
    this.tried.push(backend);
    this.abortUpstream = null;
    this.dispatch();
  }

  private releaseBackend(): Backend {
    const backend = this.backend!;
    backend.outstanding--;
    this.proxy
      .runtime(backend)
      ?.instruments.duration.observe((performance.now() - this.startedAt) / 1000);
    return backend;
  }

  private fail(status: number, message: string): void {
    if (this.finishedExchange) return;
    this.finish();
    this.client.answer(status, message);
  }

  private finish(): void {
    if (this.finishedExchange) return;
    this.finishedExchange = true;
    this.proxy.finished();
  }
}
