// The raw HTTP/1.1 front end (`frontend: raw`, the default): a net.Server whose connections are
// parsed straight from the socket's bytes, one request at a time. Node.js' HTTP server builds an
// IncomingMessage, a ServerResponse and header objects per request and re-serialises every
// response; for a proxy that only copies heads through, that was about 40 % of its user CPU per
// request. Pipelined requests are read and answered strictly in order: the next head is not even
// parsed before the current response ended, and the bytes waiting behind it are bounded (the
// socket is paused beyond that). Anything this front end does not implement (Upgrade/WebSocket,
// Expect: 100-continue, CONNECT, transfer codings other than chunked) is handed, with the bytes
// read so far, to the node:http server, which then owns the connection.
import type http from "node:http";
import net from "node:net";
import { Readable } from "node:stream";
import { assert } from "./errors.ts";
import type { ClientSide, Exchange } from "./exchange.ts";
import { RawRequest, type RequestConnection, simpleResponse } from "./raw-request.ts";
import { handOff, parseRequestHead, type RequestHead } from "./request-head.ts";
import { owned, readIntoSharedBuffer } from "./shared-read.ts";

/** What the front end needs from the proxy (HttpProxy implements it). */
export interface RawFrontendHost {
  /** Counts the request and creates its exchange. */
  beginExchange(client: ClientSide, method: string): Exchange;
  readonly isDraining: boolean;
}

export interface RawFrontendOptions {
  maxHeaderBytes: number;
  maxBufferedBodyBytes: number;
  clientKeepAliveMs: number;
  clientHeadersMs: number;
  clientRequestMs: number;
  maxClientConnections: number;
}

const headEnd = Buffer.from("\r\n\r\n");
/** A chunk-size line or one trailer line longer than this is refused. */
const maxChunkLineBytes = 4096;

enum Deadline {
  None = 0,
  /** Between requests on a kept-alive connection. */
  Idle,
  /** From the first byte of a request until its head is complete. */
  Headers,
  /** From the first byte of a request until its body is complete. */
  Request,
}

enum BodyMode {
  None = 0,
  /** Content-Length bytes remain. */
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
}

class RawConnection implements RequestConnection {
  readonly clientAddress: string;
  /** The request being answered; the next head is parsed only after its response ended. */
  current: RawRequest | null = null;
  closeAfterResponse = false;
  /** Unparsed bytes (the start of a head, or pipelined requests behind the current one). */
  private buffered: Buffer | null = null;
  private bodyMode = BodyMode.None;
  private bodyRemaining = 0;
  private bodyLine = "";
  private trailerBytes = 0;
  /** Where body bytes go: a stream to the upstream, chunks to hold, or nowhere. */
  private bodyStream: Readable | null = null;
  private heldChunks: Buffer[] | null = null;
  private heldBytes = 0;
  private deadlineKind = Deadline.Headers;
  deadlineAt: number;
  private requestStartedAt = 0;
  private paused = false;
  private gone = false;
  private handedOff = false;

  constructor(
    readonly socket: net.Socket,
    readonly frontend: RawFrontend,
  ) {
    const address = socket.remoteAddress ?? "";
    this.clientAddress = address.startsWith("::ffff:") ? address.slice(7) : address;
    this.requestStartedAt = frontend.clockMs;
    this.deadlineAt = frontend.deadlineFor(frontend.options.clientHeadersMs);
    // Bytes arrive in a buffer shared by all connections where Node.js allows it (see
    // shared-read.ts): what has to outlive one read is copied (`owned`).
    if (!readIntoSharedBuffer(socket, this.onShared)) socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onShared = (chunk: Buffer): void => {
    if (this.handedOff) {
      // node:http owns the connection and reads it as a stream (after an upgrade, for one).
      if (!this.socket.push(Buffer.from(chunk))) this.socket.pause();
      return;
    }
    this.receive(chunk);
    // Unparsed bytes stay for the next read or the next request: keep a copy.
    if (this.buffered !== null) this.buffered = owned(this.buffered);
  };
  private readonly onError = (): void => {
    this.socket.destroy();
  };
  private readonly onEnd = (): void => {
    // The client half-closed: like node:http, take that as the client going away (a request in
    // progress is abandoned, not held against the upstream).
    this.socket.destroy();
  };
  private readonly onClose = (): void => {
    this.gone = true;
    this.frontend.forget(this);
    this.failBody(new Error("client closed the connection"));
    const exchange = this.current?.exchange;
    this.current = null;
    if (exchange && !exchange.finished) exchange.clientGone();
  };

  get keepAliveLine(): string {
    return this.frontend.keepAliveLine;
  }

  /** Whether the connection may stay open after `request`'s response. */
  keepAliveAfter(request: RawRequest): boolean {
    return request.head.keepAlive && !this.closeAfterResponse && !this.frontend.host.isDraining;
  }

  get idle(): boolean {
    return this.current === null && this.bodyMode === BodyMode.None && this.buffered === null;
  }

  /** Called by the sweep: true when the connection's current deadline passed (and acted on). */
  expire(now: number): void {
    if (this.deadlineKind === Deadline.None || now < this.deadlineAt) return;
    const kind = this.deadlineKind;
    this.deadlineKind = Deadline.None;
    if (kind === Deadline.Idle || this.current?.responseStarted === true) {
      // Nothing owed to the client (idle), or a response already began: cut.
      this.socket.destroy();
      return;
    }
    this.reject(408, "request not received in time (see timeouts.clientHeadersMs/clientRequestMs)");
  }

  private receive(chunk: Buffer): void {
    let data = chunk;
    if (this.bodyMode !== BodyMode.None) {
      const rest = this.feedBody(data);
      if (rest === null || rest.length === 0) return;
      data = rest;
    }
    if (this.buffered !== null) data = Buffer.concat([this.buffered, data]);
    this.buffered = data;
    if (this.current !== null) {
      // Pipelined bytes behind a request in progress: hold a bounded amount.
      if (data.length > this.frontend.options.maxHeaderBytes && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    this.parseNext();
  }

  /** Parses and starts the next request in `buffered`, if it is complete. */
  private parseNext(): void {
    let data = this.buffered;
    if (data === null || this.current !== null || this.gone) return;
    let start = 0;
    // RFC 9112 2.2: empty lines before a request line are ignored.
    while (start + 1 < data.length && data[start] === 13 && data[start + 1] === 10) start += 2;
    if (start === data.length) {
      this.buffered = null;
      return;
    }
    if (this.deadlineKind === Deadline.Idle || this.deadlineKind === Deadline.None) {
      this.requestStartedAt = this.frontend.clockMs;
      this.setDeadline(Deadline.Headers, this.frontend.options.clientHeadersMs);
    }
    const maxHeaderBytes = this.frontend.options.maxHeaderBytes;
    const end = data.indexOf(headEnd, start);
    if (end < 0 || end + 4 - start > maxHeaderBytes) {
      if (end >= 0 || data.length - start > maxHeaderBytes) {
        this.reject(431, `request head larger than limits.maxHeaderBytes (${maxHeaderBytes})`);
      }
      return;
    }
    const parsed = parseRequestHead(data.toString("latin1", start, end), this.clientAddress);
    if (parsed === handOff) {
      this.handOff();
      return;
    }
    if ("status" in parsed) {
      this.reject(parsed.status, parsed.message);
      return;
    }
    const rest = end + 4 === data.length ? null : data.subarray(end + 4);
    this.buffered = null;
    data = null;
    this.start(parsed, rest);
  }

  private start(head: RequestHead, rest: Buffer | null): void {
    const request = new RawRequest(this, head);
    this.current = request;
    const exchange = this.frontend.host.beginExchange(request, head.method);
    request.exchange = exchange;
    const options = this.frontend.options;
    if (head.chunked || head.contentLength > 0) {
      this.setDeadline(
        Deadline.Request,
        options.clientRequestMs - (this.frontend.clockMs - this.requestStartedAt),
      );
      if (head.chunked) {
        this.bodyMode = BodyMode.ChunkSize;
        this.bodyLine = "";
        this.trailerBytes = 0;
      } else {
        this.bodyMode = BodyMode.Length;
        this.bodyRemaining = head.contentLength;
      }
      if (!head.chunked && head.contentLength <= options.maxBufferedBodyBytes) {
        // Small sized body: hold it so that a retry can re-send it.
        this.heldChunks = [];
        this.heldBytes = 0;
      } else {
        this.bodyStream = new Readable({
          highWaterMark: 64 * 1024,
          read: () => this.resumeSocket(),
        });
        exchange.start(this.bodyStream, false, head.chunked ? null : head.contentLength);
      }
      if (rest !== null) {
        const after = this.feedBody(rest);
        if (after !== null && after.length > 0) {
          this.buffered = after;
          // The exchange may already have ended (a synchronous 503): go on with the next one.
          if (this.current === null) this.parseNext();
        }
      }
      return;
    }
    this.deadlineKind = Deadline.None;
    this.buffered = rest;
    exchange.start(null, true, null);
  }

  /** Takes body bytes from `data`; returns what follows the body (null when nothing does or the
   * connection failed). */
  private feedBody(data: Buffer): Buffer | null {
    let offset = 0;
    while (offset < data.length && this.bodyMode !== BodyMode.None) {
      switch (this.bodyMode) {
        case BodyMode.Length:
        case BodyMode.ChunkData: {
          const take = Math.min(this.bodyRemaining, data.length - offset);
          this.deliverBody(
            offset === 0 && take === data.length ? data : data.subarray(offset, offset + take),
          );
          offset += take;
          this.bodyRemaining -= take;
          if (this.bodyRemaining === 0) {
            if (this.bodyMode === BodyMode.Length) this.bodyComplete();
            else this.bodyMode = BodyMode.ChunkEnd;
          }
          break;
        }
        default: {
          const newline = data.indexOf(10, offset);
          const lineEnd = newline < 0 ? data.length : newline + 1;
          this.bodyLine += data.toString("latin1", offset, lineEnd);
          offset = lineEnd;
          if (this.bodyLine.length > maxChunkLineBytes) {
            this.bodyError("chunk-size or trailer line too long");
            return null;
          }
          if (newline < 0) break;
          if (!this.bodyLine.endsWith("\r\n")) {
            this.bodyError("chunked body lines must end with CRLF");
            return null;
          }
          const line = this.bodyLine.slice(0, -2);
          this.bodyLine = "";
          if (!this.chunkLine(line)) return null;
        }
      }
    }
    return offset === data.length ? null : data.subarray(offset);
  }

  /** One line of a chunked body; false when it was malformed (the connection is failed). */
  private chunkLine(line: string): boolean {
    if (this.bodyMode === BodyMode.ChunkEnd) {
      if (line !== "") {
        this.bodyError("chunk data not followed by CRLF");
        return false;
      }
      this.bodyMode = BodyMode.ChunkSize;
      return true;
    }
    if (this.bodyMode === BodyMode.Trailers) {
      // Trailers are not forwarded (the request was re-framed), only bounded.
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > this.frontend.options.maxHeaderBytes) {
        this.bodyError("request trailers too large");
        return false;
      }
      if (line === "") this.bodyComplete();
      return true;
    }
    const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line);
    if (size === null) {
      this.bodyError("malformed chunk size");
      return false;
    }
    this.bodyRemaining = Number.parseInt(size[1]!, 16);
    this.bodyMode = this.bodyRemaining === 0 ? BodyMode.Trailers : BodyMode.ChunkData;
    return true;
  }

  private deliverBody(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.heldChunks !== null) {
      this.heldChunks.push(owned(chunk));
      this.heldBytes += chunk.length;
    } else if (this.bodyStream !== null && !this.bodyStream.push(owned(chunk))) {
      this.pauseSocket();
    }
  }

  private bodyComplete(): void {
    this.bodyMode = BodyMode.None;
    this.deadlineKind = Deadline.None;
    const held = this.heldChunks;
    this.heldChunks = null;
    const stream = this.bodyStream;
    this.bodyStream = null;
    const request = this.current;
    if (held !== null && request !== null) {
      const body = held.length === 1 ? held[0]! : Buffer.concat(held, this.heldBytes);
      request.exchange!.start(body, true, body.length);
    } else if (stream !== null) stream.push(null);
    if (request === null) this.afterResponse();
  }

  /** A malformed chunked body: the exchange is abandoned and the client told so (or cut). */
  private bodyError(message: string): void {
    this.failBody(new Error(message));
    const request = this.current;
    if (request !== null && request.exchange !== null && !request.exchange.finished) {
      request.exchange.clientGone();
    }
    this.reject(400, message);
  }

  private failBody(error: Error): void {
    this.bodyMode = BodyMode.None;
    this.heldChunks = null;
    const stream = this.bodyStream;
    this.bodyStream = null;
    if (stream !== null) stream.destroy(error);
  }

  /** Answers with an error of the proxy's own and closes the connection. */
  private reject(status: number, message: string): void {
    this.failBody(new Error(message));
    this.buffered = null;
    this.deadlineKind = Deadline.None;
    const current = this.current;
    this.current = null;
    this.closeAfterResponse = true;
    if (current !== null && current.exchange !== null && !current.exchange.finished) {
      current.exchange.clientGone();
    }
    if (this.socket.writable && (current === null || !current.responseStarted)) {
      this.socket.end(simpleResponse(status, message, false), "latin1");
      // A client that neither reads nor closes must not keep the socket.
      setTimeout(() => this.socket.destroy(), 5000).unref();
    } else this.socket.destroy();
  }

  /** The current request's response was written in full. */
  responseEnded(request: RawRequest): void {
    assert(this.current === request, "a response ends only for the current request");
    this.current = null;
    if (this.closeAfterResponse) {
      this.failBody(new Error("connection closing"));
      this.socket.end();
      return;
    }
    if (this.bodyMode !== BodyMode.None) {
      // The upstream answered before the whole request body arrived: read the rest (and drop
      // it; the stream's consumer is gone) before the next request.
      this.heldChunks = null;
      const stream = this.bodyStream;
      this.bodyStream = null;
      stream?.destroy();
      this.resumeSocket();
      return;
    }
    this.afterResponse();
  }

  private afterResponse(): void {
    this.setDeadline(Deadline.Idle, this.frontend.options.clientKeepAliveMs);
    this.resumeSocket();
    if (this.buffered !== null) {
      // Pipelined: the next request waits until the current stack (the upstream connection's
      // release into its pool) has unwound.
      queueMicrotask(() => this.parseNext());
    }
  }

  private setDeadline(kind: Deadline, ms: number): void {
    this.deadlineKind = kind;
    this.deadlineAt = this.frontend.deadlineFor(ms);
  }

  private pauseSocket(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (!this.paused || this.gone) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Gives the connection, with every byte read so far, to the node:http server. */
  private handOff(): void {
    assert(this.current === null, "hand-off only between requests");
    const socket = this.socket;
    socket.off("data", this.onData);
    socket.off("end", this.onEnd);
    socket.off("error", this.onError);
    socket.off("close", this.onClose);
    this.frontend.forget(this);
    this.gone = true;
    this.handedOff = true;
    const data = this.buffered;
    this.buffered = null;
    if (data !== null) socket.unshift(owned(data));
    this.frontend.httpServer.emit("connection", socket);
    if (this.paused) socket.resume();
  }

  /** Shutdown: idle connections close now, busy ones after their response. */
  drain(): void {
    if (this.idle) this.socket.destroy();
    else this.closeAfterResponse = true;
  }
}

export class RawFrontend {
  readonly server: net.Server;
  private readonly connections = new Set<RawConnection>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepEveryMs = 1000;
  /** A coarse clock (performance.now() as of the last sweep): deadlines are set several times
   * per request, and they only need the sweep's resolution. */
  clockMs = performance.now();
  /** Ends the head of kept-alive responses: clients learn when an idle connection closes. */
  readonly keepAliveLine: string;

  constructor(
    readonly host: RawFrontendHost,
    readonly httpServer: http.Server,
    readonly options: RawFrontendOptions,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.accept(socket),
    );
    this.server.maxConnections = options.maxClientConnections;
    this.keepAliveLine = `keep-alive: timeout=${Math.floor(options.clientKeepAliveMs / 1000)}\r\n\r\n`;
  }

  /** Serves a client connection: one the server accepted, or one a worker was handed by the
   * primary (which accepts for all workers). */
  accept(socket: net.Socket): void {
    if (this.host.isDraining || this.connections.size >= this.options.maxClientConnections) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.connections.add(new RawConnection(socket, this));
  }

  /** Starts the timeout sweep: one timer for all connections, cheaper than timers per request. */
  startSweep(): void {
    const shortestMs = Math.min(
      this.options.clientHeadersMs,
      this.options.clientKeepAliveMs,
      this.options.clientRequestMs,
    );
    this.sweepEveryMs = Math.max(5, Math.min(1000, Math.floor(shortestMs / 10)));
    this.sweepTimer = setInterval(() => {
      const now = performance.now();
      this.clockMs = now;
      for (const connection of this.connections) connection.expire(now);
    }, this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  /** When a timeout of `ms` from now has passed: never early, at most two sweeps late (the clock
   * lags by up to one sweep). */
  deadlineFor(ms: number): number {
    return this.clockMs + ms + this.sweepEveryMs;
  }

  /** @internal */
  forget(connection: RawConnection): void {
    this.connections.delete(connection);
  }

  /** Closes idle connections; busy ones close after their response. The caller stops the
   * listener (server.close). */
  drain(): void {
    for (const connection of this.connections) connection.drain();
  }

  /** Closes every connection now. */
  destroy(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const connection of this.connections) connection.socket.destroy();
  }
}
