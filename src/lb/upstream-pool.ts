// A lean HTTP/1.1 client for the proxy's upstream side: a bounded pool of keep-alive
// connections per upstream, one request at a time per connection. It exists because the
// general-purpose client (undici) measured at about 20 µs of CPU per proxied request more than
// this: a proxy needs no header validation of what it already parsed, no header objects and no
// body mixins — only writing a request head, framing the response (Content-Length, chunked or
// until close) and handing body bytes on with backpressure. The client side stays on Node.js'
// own HTTP server and its llhttp parser, where strict request parsing matters most.
import net from "node:net";
import type { Readable } from "node:stream";
import tls from "node:tls";
import type { UpstreamSpec } from "./config.ts";
import { assert } from "./errors.ts";
import { headerList, hopByHop } from "./headers.ts";
import { holdUntilBatchEnd } from "./write-batch.ts";

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat [name, value, …]; must not contain hop-by-hop headers or Content-Length. Null when
   * `headLines` carries them. */
  headers: string[] | null;
  /** The same as header lines, each ending in CRLF, ready to send (the raw front end's). */
  headLines: string | null;
  /** A held body, a stream (Content-Length known or chunked) or none. */
  body: Buffer | Readable | null;
  /** The body's length when known; null streams it chunked. */
  contentLength: number | null;
  /** False when `headers` carry no Host (HTTP/1.0 clients): the upstream's host:port is sent. */
  hasHost: boolean;
}

/** The upstream's header lines as they go to a client: hop-by-hop ones removed, each line
 * ending in CRLF. */
export interface ForwardHead {
  lines: string;
  hasContentLength: boolean;
}

/** Callback-style handler, the same shape as undici's (see Exchange in http-proxy.ts). */
export interface ResponseHandler {
  onConnect(abort: (error?: Error) => void): void;
  /** Either `rawHeaders` (every header as received) or `forward` is given. */
  onHeaders(
    statusCode: number,
    rawHeaders: string[] | null,
    resume: () => void,
    statusText: string,
    forward: ForwardHead | null,
  ): boolean;
  /** `chunk` may be a view of a read buffer that is reused once this returns: copy what has to
   * outlive the call (a write that a socket did not take at once, for example). */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(error: Error): void;
}

export interface UpstreamPoolOptions {
  maxConnections: number;
  /** Requests waiting for a connection beyond which new ones fail at once. */
  maxQueued: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  keepAliveMs: number;
  maxHeaderBytes: number;
}

/** Error codes this client produces besides the socket's own (ECONNREFUSED, ECONNRESET, …). */
export const upstreamErrorCodes = {
  connectTimeout: "LB_UPSTREAM_CONNECT_TIMEOUT",
  headersTimeout: "LB_UPSTREAM_HEADERS_TIMEOUT",
  bodyTimeout: "LB_UPSTREAM_BODY_TIMEOUT",
  closed: "LB_UPSTREAM_CLOSED",
  protocol: "LB_UPSTREAM_PROTOCOL_ERROR",
  queueFull: "LB_UPSTREAM_QUEUE_FULL",
  poolClosed: "LB_UPSTREAM_POOL_CLOSED",
} as const;

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const headEnd = Buffer.from("\r\n\r\n");
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);
const statusLinePattern = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const decimalPattern = /^\d{1,15}$/;

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/** Lengths of the names the head parser looks at; other names are not even sliced. */
const specialNameLengths = new Set([...hopByHop, "content-length"].map((name) => name.length));
const connectionOptionsOnly = /^[\s,]*(?:(?:keep-alive|close)[\s,]*)*$/;

const crlf = Buffer.from("\r\n");
const lastChunk = Buffer.from("0\r\n\r\n");

/** What a connection's deadline (checked by the pool's sweep) stands for. */
enum Deadline {
  None = 0,
  /** A request was sent: its response head must start within headersTimeoutMs. */
  Headers,
  /** Inside a response body: bytes must keep coming, at most bodyIdleTimeoutMs apart. */
  Body,
  /** Parked in the pool: closed after keepAliveMs unused. */
  Idle,
}

type Phase =
  | "idle"
  | "head"
  | "length"
  | "chunk-size"
  | "chunk-data"
  | "chunk-crlf"
  | "trailers"
  | "close";

class Connection {
  readonly socket: net.Socket;
  connected = false;
  private handler: ResponseHandler | null = null;
  private method = "GET";
  private phase: Phase = "idle";
  private head: Buffer | null = null;
  private remaining = 0;
  private line = "";
  private reusable = true;
  /** The response-headers, body-idle and keep-alive timeouts are deadlines that the pool's sweep
   * checks (see UpstreamPool.sweep): re-arming a timer per request, and Node.js refreshing a
   * socket timeout on every read and write, cost a native clock read and a timer-list update
   * each, four times per proxied request. */
  private deadline = Deadline.None;
  private deadlineAt = 0;
  private body: Readable | null = null;
  private finished = false;
  private readonly hostHeader: string;
  private readonly resumeSocket = (): void => {
    this.socket.resume();
  };
  private readonly abortRequest = (error?: Error): void => {
    this.abort(error);
  };

  constructor(
    private readonly pool: UpstreamPool,
    spec: UpstreamSpec,
    private readonly options: UpstreamPoolOptions,
  ) {
    this.hostHeader = spec.host.includes(":")
      ? `[${spec.host}]:${spec.port}`
      : `${spec.host}:${spec.port}`;
    // Plain connections read into one buffer shared by every connection (`onread`): no Buffer
    // per read and none of the readable stream's per-chunk work. Bytes are consumed before the
    // callback returns; what must outlive it is copied (see ResponseHandler.onData).
    this.socket = spec.tls
      ? tls.connect({ host: spec.host, port: spec.port, servername: spec.host })
      : net.connect({
          host: spec.host,
          port: spec.port,
          onread: {
            buffer: sharedReadBuffer,
            callback: (size: number, buffer: Uint8Array) => {
              this.onBytes(Buffer.from(buffer.buffer, buffer.byteOffset, size));
              return true;
            },
          },
        });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(options.connectTimeoutMs);
    this.socket.once(spec.tls ? "secureConnect" : "connect", () => {
      this.connected = true;
      // From here on the pool's sweep keeps the time (see `deadline`).
      this.socket.setTimeout(0);
    });
    this.socket.on("timeout", () => this.onTimeout());
    if (spec.tls) this.socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
    // Flowing, so that the end of the stream is seen ('end') although no 'data' listener reads.
    else this.socket.resume();
    this.socket.on("end", () => this.onEnd());
    this.socket.on("error", (error) => this.fail(error));
    this.socket.on("close", () => this.onClose());
  }

  get busy(): boolean {
    return this.handler !== null;
  }

  send(request: UpstreamRequest, handler: ResponseHandler): void {
    assert(this.handler === null, "one request at a time per upstream connection");
    this.handler = handler;
    this.method = request.method;
    this.phase = "head";
    this.head = null;
    this.finished = false;
    this.reusable = true;
    this.setDeadline(Deadline.Headers, this.options.headersTimeoutMs);
    handler.onConnect(this.abortRequest);
    if (this.handler !== handler) return; // aborted synchronously
    let text = `${request.method} ${request.path} HTTP/1.1\r\n`;
    const headers = request.headers;
    if (headers === null) text += request.headLines!;
    else {
      for (let index = 0; index < headers.length; index += 2) {
        text += `${headers[index]}: ${headers[index + 1]}\r\n`;
      }
    }
    if (!request.hasHost) text += `host: ${this.hostHeader}\r\n`;
    const body = request.body;
    const chunked = body !== null && request.contentLength === null;
    if (chunked) text += "transfer-encoding: chunked\r\n\r\n";
    else if (body !== null) text += `content-length: ${request.contentLength}\r\n\r\n`;
    else text += "\r\n";
    if (body === null) {
      if (this.connected) holdUntilBatchEnd(this.socket);
      this.socket.write(text, "latin1");
      return;
    }
    if (Buffer.isBuffer(body)) {
      this.socket.cork();
      this.socket.write(text, "latin1");
      if (body.length > 0) this.socket.write(body);
      this.socket.uncork();
      return;
    }
    this.socket.write(text, "latin1");
    this.body = body;
    const onData = (chunk: Buffer) => {
      if (this.body !== body) return;
      const ok = chunked
        ? this.socket.write(`${chunk.length.toString(16)}\r\n`) &&
          this.socket.write(chunk) &&
          this.socket.write(crlf)
        : this.socket.write(chunk);
      if (!ok) {
        body.pause();
        this.socket.once("drain", () => body.resume());
      }
    };
    body.on("data", onData);
    body.once("end", () => {
      if (this.body !== body) return;
      this.body = null;
      if (chunked) this.socket.write(lastChunk);
    });
    body.once("error", (error) => this.fail(error));
  }

  private setDeadline(kind: Deadline, ms: number): void {
    this.deadline = kind;
    this.deadlineAt = this.pool.deadlineFor(ms);
  }

  /** The pool parks this connection: close it if it stays unused for keepAliveMs. */
  parkIdle(): void {
    this.setDeadline(Deadline.Idle, this.options.keepAliveMs);
  }

  /** Called by the pool's sweep: acts on a deadline that has passed. */
  expire(now: number): void {
    if (this.deadline === Deadline.None || now < this.deadlineAt) return;
    const kind = this.deadline;
    this.deadline = Deadline.None;
    if (kind === Deadline.Idle) this.socket.destroy();
    else if (kind === Deadline.Headers) {
      this.fail(
        codedError(upstreamErrorCodes.headersTimeout, "upstream sent no response headers in time"),
      );
    } else if (this.handler !== null) {
      this.fail(codedError(upstreamErrorCodes.bodyTimeout, "upstream response stalled"));
    }
  }

  private onTimeout(): void {
    // The socket timeout runs only until the connection is made.
    if (!this.connected) {
      this.fail(codedError(upstreamErrorCodes.connectTimeout, "upstream connect timed out"));
    }
  }

  private onBytes(chunk: Buffer): void {
    if (this.handler === null) {
      // Bytes outside a request: the connection cannot be trusted any more.
      this.socket.destroy();
      return;
    }
    let data = chunk;
    // Bytes inside a body push the idle deadline on (one addition; the clock is the pool's).
    if (this.deadline === Deadline.Body)
      this.deadlineAt = this.pool.deadlineFor(this.options.bodyIdleTimeoutMs);
    if (this.phase === "head") {
      const previous = this.head;
      const buffer = previous === null ? data : Buffer.concat([previous, data]);
      const end = buffer.indexOf(headEnd, previous === null ? 0 : Math.max(0, previous.length - 3));
      if (end < 0) {
        if (buffer.length > this.options.maxHeaderBytes) {
          this.fail(codedError(upstreamErrorCodes.protocol, "upstream response headers too large"));
        } else this.head = previous === null ? Buffer.from(buffer) : buffer;
        return;
      }
      this.head = null;
      if (!this.parseHead(buffer.toString("latin1", 0, end))) return;
      data = buffer.subarray(end + 4);
      if (this.phase === "head") {
        // A 1xx interim response: parse what follows as the next head.
        if (data.length > 0) this.onBytes(data);
        return;
      }
    }
    this.onBody(data);
  }

  /** Returns false when the connection failed. */
  private parseHead(text: string): boolean {
    // Hand-rolled rather than split/regex per line: this runs once per proxied request.
    let lineEnd = text.indexOf("\r\n");
    const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
    // test() and fixed offsets rather than exec(): no match array per response.
    if (!statusLinePattern.test(statusLine)) {
      this.fail(codedError(upstreamErrorCodes.protocol, "upstream sent a malformed status line"));
      return false;
    }
    const http10 = statusLine.charCodeAt(7) === 48; // "HTTP/1.0"
    const statusCode = Number(statusLine.slice(9, 12));
    if (statusCode >= 100 && statusCode < 200) return true; // interim: the proxy answers 100-continue itself
    this.setDeadline(Deadline.Body, this.options.bodyIdleTimeoutMs);
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    // The lines to forward are copied as runs of the original text, skipping hop-by-hop
    // headers; names are only sliced and lower-cased when their length could be one of those.
    const firstHeader = lineEnd < 0 ? text.length : lineEnd + 2;
    let forward = "";
    let runStart = firstHeader;
    let listsOthers = false;
    while (lineEnd >= 0) {
      const start = lineEnd + 2;
      lineEnd = text.indexOf("\r\n", start);
      const end = lineEnd < 0 ? text.length : lineEnd;
      const colon = text.indexOf(":", start);
      if (colon <= start || colon >= end) {
        this.fail(codedError(upstreamErrorCodes.protocol, "upstream sent a malformed header line"));
        return false;
      }
      if (!specialNameLengths.has(colon - start)) continue;
      const lower = text.slice(start, colon).toLowerCase();
      if (!hopByHop.has(lower) && lower !== "content-length") continue;
      let valueStart = colon + 1;
      let valueEnd = end;
      while (valueStart < valueEnd && isBlank(text.charCodeAt(valueStart))) valueStart++;
      while (valueEnd > valueStart && isBlank(text.charCodeAt(valueEnd - 1))) valueEnd--;
      const value = text.slice(valueStart, valueEnd);
      if (lower === "content-length") {
        const length = decimalPattern.test(value) ? Number(value) : Number.NaN;
        if (Number.isNaN(length) || (contentLength >= 0 && contentLength !== length)) {
          this.fail(
            codedError(upstreamErrorCodes.protocol, "upstream sent an invalid Content-Length"),
          );
          return false;
        }
        contentLength = length;
        continue;
      }
      if (lower === "transfer-encoding") {
        transferEncoding = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      } else if (lower === "connection") {
        const tokens = value.toLowerCase();
        if (tokens.includes("close")) close = true;
        else if (http10 && tokens.includes("keep-alive")) close = false;
        if (!connectionOptionsOnly.test(tokens)) listsOthers = true;
      }
      if (start > runStart) forward += text.slice(runStart, start);
      runStart = end + 2;
    }
    if (runStart < text.length) forward += `${text.slice(runStart)}\r\n`;
    if (transferEncoding && contentLength >= 0) {
      // RFC 9112 6.3: a sign of response splitting; never pass it on.
      this.fail(
        codedError(
          upstreamErrorCodes.protocol,
          "upstream sent both Transfer-Encoding and Content-Length",
        ),
      );
      return false;
    }
    if (close) this.reusable = false;
    if (this.method === "HEAD" || statusCode === 204 || statusCode === 304) this.phase = "idle";
    else if (transferEncoding) {
      this.phase = chunked ? "chunk-size" : "close";
      this.line = "";
    } else if (contentLength >= 0) {
      this.phase = contentLength === 0 ? "idle" : "length";
      this.remaining = contentLength;
    } else this.phase = "close";
    if (this.phase === "close") this.reusable = false;
    const handler = this.handler!;
    // Rare: Connection names further headers to drop; the client side filters the full list.
    const head = listsOthers
      ? { rawHeaders: headerList(text, firstHeader), forward: null }
      : { rawHeaders: null, forward: { lines: forward, hasContentLength: contentLength >= 0 } };
    handler.onHeaders(
      statusCode,
      head.rawHeaders,
      this.resumeSocket,
      statusLine.slice(13),
      head.forward,
    );
    if (this.handler !== handler) return false; // aborted from onHeaders
    if (this.phase === "idle") this.complete();
    return this.handler === handler || this.phase === "idle";
  }

  private deliver(chunk: Buffer): void {
    if (chunk.length === 0 || this.handler === null) return;
    if (!this.handler.onData(chunk)) this.socket.pause();
  }

  private onBody(data: Buffer): void {
    let offset = 0;
    while (offset < data.length && this.handler !== null) {
      switch (this.phase) {
        case "length": {
          const take = Math.min(this.remaining, data.length - offset);
          this.deliver(data.subarray(offset, offset + take));
          offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.complete();
          break;
        }
        case "close":
          this.deliver(offset === 0 ? data : data.subarray(offset));
          offset = data.length;
          break;
        case "chunk-size":
        case "chunk-crlf":
        case "trailers": {
          const newline = data.indexOf(10, offset);
          const end = newline < 0 ? data.length : newline + 1;
          this.line += data.toString("latin1", offset, end);
          offset = end;
          if (this.line.length > 4096) {
            this.fail(codedError(upstreamErrorCodes.protocol, "upstream chunk line too long"));
            return;
          }
          if (newline < 0) break;
          const line = this.line.replace(/\r?\n$/, "");
          this.line = "";
          if (this.phase === "chunk-crlf") {
            if (line !== "") {
              this.fail(
                codedError(upstreamErrorCodes.protocol, "upstream chunk not followed by CRLF"),
              );
              return;
            }
            this.phase = "chunk-size";
          } else if (this.phase === "trailers") {
            if (line === "") this.complete();
          } else {
            const size = /^[0-9a-fA-F]{1,12}/.exec(line);
            if (size === null) {
              this.fail(
                codedError(upstreamErrorCodes.protocol, "upstream sent a malformed chunk size"),
              );
              return;
            }
            this.remaining = Number.parseInt(size[0], 16);
            this.phase = this.remaining === 0 ? "trailers" : "chunk-data";
          }
          break;
        }
        case "chunk-data": {
          const take = Math.min(this.remaining, data.length - offset);
          this.deliver(data.subarray(offset, offset + take));
          offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.phase = "chunk-crlf";
          break;
        }
        default:
          // Bytes after a complete response with one request in flight: a broken upstream.
          this.reusable = false;
          offset = data.length;
      }
    }
  }

  private complete(): void {
    const handler = this.handler;
    if (handler === null || this.finished) return;
    this.finished = true;
    this.deadline = Deadline.None;
    this.handler = null;
    this.phase = "idle";
    if (this.body !== null) {
      // The upstream answered before reading the whole request body: the connection is out of
      // step with the request stream and cannot be reused.
      this.body = null;
      this.reusable = false;
    }
    handler.onComplete();
    this.pool.release(this, this.reusable && !this.socket.destroyed && this.socket.readable);
  }

  private onEnd(): void {
    if (this.handler !== null && this.phase === "close") {
      this.reusable = false;
      this.complete();
      return;
    }
    this.socket.destroy();
  }

  private onClose(): void {
    this.deadline = Deadline.None;
    if (this.handler !== null) {
      this.fail(
        codedError(
          this.connected ? "ECONNRESET" : upstreamErrorCodes.closed,
          "upstream closed the connection",
        ),
      );
    }
    this.pool.forget(this);
  }

  private abort(error?: Error): void {
    this.fail(error ?? codedError(upstreamErrorCodes.closed, "request aborted"));
  }

  private fail(error: Error): void {
    const handler = this.handler;
    this.deadline = Deadline.None;
    this.handler = null;
    this.body = null;
    this.reusable = false;
    this.socket.destroy();
    if (handler !== null && !this.finished) {
      this.finished = true;
      handler.onError(error);
    }
  }
}

export class UpstreamPool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Array<{ request: UpstreamRequest; handler: ResponseHandler }> = [];
  private closing = false;
  private closeWaiters: Array<() => void> = [];
  /** Checks every connection's deadline; runs while the pool has connections. */
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A twentieth of the shortest timeout (5 ms to 500 ms): a deadline is acted on at most two
   * sweeps late, so an idle connection closes within 1.1 x keepAliveMs, well before an upstream
   * whose keep-alive is a little longer closes it under a request. */
  private readonly sweepEveryMs: number;
  /** A coarse clock (performance.now() as of the last sweep): deadlines are set several times
   * per request and only need the sweep's resolution. */
  private clockMs = performance.now();

  constructor(
    private readonly spec: UpstreamSpec,
    private readonly options: UpstreamPoolOptions,
  ) {
    const shortestMs = Math.min(
      options.headersTimeoutMs,
      options.bodyIdleTimeoutMs,
      options.keepAliveMs,
    );
    this.sweepEveryMs = Math.max(5, Math.min(500, Math.floor(shortestMs / 20)));
  }

  /** @internal When a timeout of `ms` from now has passed: never early (the clock lags by at
   * most one sweep), at most two sweeps late. */
  deadlineFor(ms: number): number {
    return this.clockMs + ms + this.sweepEveryMs;
  }

  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    this.clockMs = performance.now();
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = performance.now();
    this.clockMs = now;
    for (const connection of this.all) connection.expire(now);
  }

  private stopSweep(): void {
    if (this.sweepTimer === null) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  dispatch(request: UpstreamRequest, handler: ResponseHandler): void {
    if (this.closing) {
      handler.onError(codedError(upstreamErrorCodes.poolClosed, "upstream removed"));
      return;
    }
    const connection = this.idle.pop();
    if (connection !== undefined) {
      connection.send(request, handler);
      return;
    }
    if (this.all.size < this.options.maxConnections) {
      this.startSweep();
      const created = new Connection(this, this.spec, this.options);
      this.all.add(created);
      created.send(request, handler);
      return;
    }
    if (this.queue.length >= this.options.maxQueued) {
      handler.onError(
        codedError(upstreamErrorCodes.queueFull, "too many requests waiting for this upstream"),
      );
      return;
    }
    this.queue.push({ request, handler });
  }

  /** @internal A connection finished its request. */
  release(connection: Connection, reusable: boolean): void {
    if (!reusable || this.closing) {
      connection.socket.destroy();
      this.all.delete(connection);
    }
    const next = this.queue.shift();
    if (next !== undefined) {
      if (reusable && !this.closing) connection.send(next.request, next.handler);
      else this.dispatch(next.request, next.handler);
      return;
    }
    if (reusable && !this.closing) {
      connection.parkIdle();
      this.idle.push(connection);
    }
    this.checkClosed();
  }

  /** @internal A connection's socket closed. */
  forget(connection: Connection): void {
    this.all.delete(connection);
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    // Someone waiting for a connection can have the freed slot.
    const next = this.queue.shift();
    if (next !== undefined) this.dispatch(next.request, next.handler);
    if (this.all.size === 0) this.stopSweep();
    this.checkClosed();
  }

  private checkClosed(): void {
    if (!this.closing) return;
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
    let busy = false;
    for (const connection of this.all) if (connection.busy) busy = true;
    if (!busy) for (const waiter of this.closeWaiters.splice(0)) waiter();
  }

  /** Lets requests in flight finish, then closes every connection. */
  close(): Promise<void> {
    this.closing = true;
    for (const waiting of this.queue.splice(0)) {
      waiting.handler.onError(codedError(upstreamErrorCodes.poolClosed, "upstream removed"));
    }
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      this.checkClosed();
    });
  }

  /** Closes every connection now; requests in flight fail. */
  destroy(): Promise<void> {
    this.closing = true;
    for (const waiting of this.queue.splice(0)) {
      waiting.handler.onError(
        codedError(upstreamErrorCodes.poolClosed, "load balancer shutting down"),
      );
    }
    for (const connection of this.all) connection.socket.destroy();
    this.stopSweep();
    for (const waiter of this.closeWaiters.splice(0)) waiter();
    return Promise.resolve();
  }
}
