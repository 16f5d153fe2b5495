// The client API's listener. Most of a node's traffic is single-key reads and writes
// (`GET|PUT|DELETE /v1/kv/{key}`), and node:http builds an IncomingMessage, a ServerResponse and
// header objects for each of them and writes each answer through its stream machinery: that was
// the largest share of a node's CPU per read. The fast front parses those requests straight
// from the socket's bytes and answers each with one write. Anything else (other routes,
// HTTP/1.0, chunked or oversized bodies, Expect, Upgrade, a head that is malformed or merely
// unusual) hands the connection, with every byte read so far, to the node:http server, which
// then owns it: edge cases keep node:http's behaviour, and the fast front only has to recognise
// the plain requests it serves, not to judge the others.
//
// Requests on one connection are answered strictly in order: the next head is not parsed before
// the current answer is written, and the bytes waiting behind it are bounded (the socket is
// paused beyond that).
import http from "node:http";
import net from "node:net";
import { NodeError } from "./errors.ts";
import {
  type ApiAnswer,
  answerKv,
  authorized,
  createNodeHttpServer,
  errorAnswer,
  type HttpApiOptions,
  parseRequestUrl,
} from "./http-api.ts";

export interface ApiServerOptions extends HttpApiOptions {
  /** Serve single-key requests on the fast front (the default); false leaves every request to
   * node:http. */
  readonly fastFront?: boolean;
  /** An idle kept-alive connection closes after this (default 65 s, both fronts). */
  readonly keepAliveMs?: number;
  /** A request head must be complete within this (default 60 s, both fronts). */
  readonly headersTimeoutMs?: number;
}

/** node:http's default limit on a request head (--max-http-header-size). */
const MAX_HEAD_BYTES = 16 * 1024;
/** Longer than the usual client pool's idle time (4–60 s), so that the client closes first. */
const KEEP_ALIVE_MS = 65_000;
/** node:http's default headersTimeout. */
const HEADERS_TIMEOUT_MS = 60_000;
const HEAD_END = Buffer.from("\r\n\r\n");

const REQUEST_LINE = /^(GET|PUT|DELETE) (\/v1\/kv\/[\x21-\x7e]+) HTTP\/1\.1$/;
/** `name: value` with a token name and a value free of control characters other than HTAB. */
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*$/;
const DECIMAL = /^\d{1,15}$/;

/** The parts of a request head the fast front acts on. */
interface FastHead {
  readonly method: string;
  readonly target: string;
  readonly contentLength: number;
  readonly close: boolean;
  readonly authorization: string | undefined;
}

/**
 * Parses a request head (without its final CRLF CRLF) that the fast front serves, or returns
 * null for one it leaves to node:http (which also answers the malformed ones).
 */
export function parseFastHead(head: string): FastHead | null {
  const lines = head.split("\r\n");
  const requestLine = REQUEST_LINE.exec(lines[0]!);
  if (requestLine === null) return null;
  let contentLength = -1;
  let hosts = 0;
  let close = false;
  let authorization: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = HEADER_LINE.exec(lines[i]!);
    if (line === null) return null;
    const name = line[1]!.toLowerCase();
    const value = line[2]!;
    switch (name) {
      case "host":
        hosts++;
        break;
      case "content-length":
        if (contentLength >= 0 || !DECIMAL.test(value)) return null;
        contentLength = Number(value);
        break;
      case "connection": {
        const tokens = value.toLowerCase().split(",");
        for (const token of tokens) {
          const option = token.trim();
          if (option === "close") close = true;
          else if (option !== "keep-alive" && option !== "") return null;
        }
        break;
      }
      case "authorization":
        if (authorization !== undefined) return null;
        authorization = value;
        break;
      case "transfer-encoding":
      case "expect":
      case "upgrade":
      case "content-encoding":
        return null;
    }
  }
  // HTTP/1.1 requires exactly one Host (node:http answers 400 otherwise).
  if (hosts !== 1) return null;
  const method = requestLine[1]!;
  if (method !== "PUT" && contentLength > 0) return null;
  return {
    method,
    target: requestLine[2]!,
    contentLength: Math.max(0, contentLength),
    close,
    authorization,
  };
}

let dateSecond = -1;
let dateText = "";
/** The Date header's value, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

class FastConnection {
  /** Bytes not consumed yet (the start of a head, or requests behind the current one). */
  private buffered: Buffer | null = null;
  /** A request is being answered; the next one waits. */
  private busy = false;
  private paused = false;
  private closing = false;
  /** The client half-closed its side. */
  private ended = false;
  /** performance.now() of the last byte or answer; the sweep closes idle connections. */
  lastActivityMs = performance.now();
  /** When the first byte of an incomplete head arrived, or -1. */
  private headStartedMs = -1;
  /** While a body is incomplete: the bytes `buffered` must reach, and the chunks that came
   * since (joined once, when enough arrived, not copied again per chunk). */
  private neededBytes = 0;
  private arrived: Buffer[] = [];
  private arrivedBytes = 0;

  constructor(
    readonly socket: net.Socket,
    private readonly server: ApiServer,
  ) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    // After `Connection: close` was answered, nothing more is served: drop what still comes.
    if (this.closing) return;
    this.lastActivityMs = performance.now();
    if (this.neededBytes > 0) {
      this.arrived.push(chunk);
      this.arrivedBytes += chunk.length;
      if (this.buffered!.length + this.arrivedBytes < this.neededBytes) return;
      this.buffered = Buffer.concat([this.buffered!, ...this.arrived]);
      this.arrived = [];
      this.arrivedBytes = 0;
      this.neededBytes = 0;
      this.next();
      return;
    }
    this.buffered = this.buffered === null ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.busy) {
      if (this.buffered.length > MAX_HEAD_BYTES + this.server.maxBodyBytes && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    this.next();
  };
  private readonly onEnd = (): void => {
    // The client sent its last byte (a half-close): answer what it asked, then close.
    this.ended = true;
    if (!this.busy) this.afterLastRequest();
  };
  private readonly onError = (): void => {
    this.socket.destroy();
  };
  private readonly onClose = (): void => {
    this.closing = true;
    this.server.forget(this);
  };

  /** Serves the next complete request in `buffered`, or hands the connection off. */
  private next(): void {
    const data = this.buffered;
    if (data === null || this.closing) return;
    const end = data.indexOf(HEAD_END);
    if (end < 0) {
      if (data.length > MAX_HEAD_BYTES) this.handOffOrClose();
      else if (this.headStartedMs < 0) this.headStartedMs = this.lastActivityMs;
      return;
    }
    const head = end > MAX_HEAD_BYTES ? null : parseFastHead(data.toString("latin1", 0, end));
    if (head === null || head.contentLength > this.server.bodyLimitFor(head.target)) {
      this.handOffOrClose();
      return;
    }
    const bodyStart = end + 4;
    const requestEnd = bodyStart + head.contentLength;
    if (data.length < requestEnd) {
      if (this.headStartedMs < 0) this.headStartedMs = this.lastActivityMs;
      this.neededBytes = requestEnd;
      return;
    }
    // The body outlives this read: copy it out of the (possibly shared) chunk.
    const body = head.method === "PUT" ? Buffer.from(data.subarray(bodyStart, requestEnd)) : null;
    this.buffered = requestEnd === data.length ? null : data.subarray(requestEnd);
    this.headStartedMs = -1;
    this.busy = true;
    this.server.serve(head, body).then(
      (answer) => this.answered(head, answer),
      (error: unknown) => this.answered(head, errorAnswer(error)),
    );
  }

  private answered(head: FastHead, answer: ApiAnswer): void {
    this.busy = false;
    this.lastActivityMs = performance.now();
    if (this.closing) return;
    const close = head.close || this.server.closing;
    this.socket.write(this.server.response(answer, close));
    if (close) {
      this.closing = true;
      this.socket.end();
      return;
    }
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.buffered !== null) this.next();
    if (this.ended && !this.busy) this.afterLastRequest();
  }

  /** After the client's half-close, once every whole request it sent is answered. */
  private afterLastRequest(): void {
    if (this.closing) return;
    this.next();
    if (this.busy || this.closing) return;
    // What is left is an incomplete request that can no longer complete.
    this.closing = true;
    this.socket.end();
  }

  private handOffOrClose(): void {
    // A stream that ended cannot take its bytes back for node:http; a client that half-closed
    // after a request the fast front does not serve is rare enough to be cut.
    if (this.ended) {
      this.closing = true;
      this.socket.destroy();
    } else this.handOff();
  }

  /** Gives the connection, with every byte read so far, to the node:http server. */
  private handOff(): void {
    const socket = this.socket;
    socket.off("data", this.onData);
    socket.off("end", this.onEnd);
    socket.off("error", this.onError);
    socket.off("close", this.onClose);
    this.closing = true;
    this.server.forget(this);
    this.server.counters.handOffs++;
    const data = this.buffered;
    this.buffered = null;
    if (data !== null) socket.unshift(data);
    this.server.http.emit("connection", socket);
    if (this.paused) socket.resume();
  }

  /** Called by the sweep. */
  expire(nowMs: number): void {
    if (this.busy) return;
    if (this.headStartedMs >= 0 && nowMs - this.headStartedMs > this.server.headersTimeoutMs) {
      // As node:http does for a head that does not arrive in time.
      this.closing = true;
      this.socket.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else if (this.buffered === null && nowMs - this.lastActivityMs > this.server.keepAliveMs) {
      this.socket.destroy();
    }
  }
}

/**
 * The client API: a listener with the fast front for single-key requests and the node:http
 * server (http-api.ts) for everything else.
 */
export class ApiServer {
  /** The socket that listens (the node:http server itself without the fast front). */
  readonly listener: net.Server;
  /** Serves every request the fast front does not. */
  readonly http: http.Server;
  readonly maxBodyBytes: number;
  readonly keepAliveMs: number;
  readonly headersTimeoutMs: number;
  closing = false;
  /** Requests the fast front answered, and connections it handed to node:http. */
  readonly counters = { fastRequests: 0, handOffs: 0 };
  private readonly connections = new Set<FastConnection>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly sweepEveryMs: number;

  constructor(readonly options: ApiServerOptions) {
    this.keepAliveMs = options.keepAliveMs ?? KEEP_ALIVE_MS;
    this.headersTimeoutMs = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    // Deadlines are checked by one timer for all connections, at a tenth of the shortest (and
    // node:http checks its own as often).
    this.sweepEveryMs = Math.max(
      10,
      Math.min(1000, this.headersTimeoutMs / 10, this.keepAliveMs / 10),
    );
    this.http = createNodeHttpServer(options, {
      keepAliveTimeout: this.keepAliveMs,
      headersTimeout: this.headersTimeoutMs,
      connectionsCheckingInterval: this.sweepEveryMs,
    });
    this.maxBodyBytes = options.maxValueBytes * 2;
    if (options.fastFront === false) {
      this.listener = this.http;
    } else {
      // allowHalfOpen: a client's half-close still gets the answers to what it sent.
      this.listener = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) =>
        this.accept(socket),
      );
      // node:http tracks its connections (for headersTimeout, requestTimeout and
      // closeAllConnections) from its 'listening' event on; it receives them by hand-off.
      this.http.emit("listening");
    }
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(port, host, () => {
        this.listener.off("error", reject);
        if (this.listener !== this.http) {
          this.sweepTimer = setInterval(() => this.sweep(), this.sweepEveryMs);
          this.sweepTimer.unref();
        }
        resolve();
      });
    });
  }

  address(): net.AddressInfo {
    const address = this.listener.address();
    if (address === null || typeof address === "string") {
      throw new Error("the API server is not listening on a TCP port");
    }
    return address;
  }

  /** Stops listening and closes every connection now. */
  close(): void {
    this.closing = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.listener.close();
    if (this.listener !== this.http) this.http.close();
    this.http.closeAllConnections();
    for (const connection of this.connections) connection.socket.destroy();
    this.connections.clear();
  }

  /** The largest body the fast front takes for a target; larger ones go to node:http, which
   * answers VALUE_TOO_LARGE. */
  bodyLimitFor(target: string): number {
    return target.includes("encoding=") ? this.maxBodyBytes : this.options.maxValueBytes;
  }

  /** @internal */
  forget(connection: FastConnection): void {
    this.connections.delete(connection);
  }

  /** @internal Answers one request the fast front parsed. */
  async serve(head: FastHead, body: Buffer | null): Promise<ApiAnswer> {
    const startedAt = performance.now();
    this.counters.fastRequests++;
    let answer: ApiAnswer;
    try {
      const token = this.options.token;
      if (token !== undefined && !authorized(head.authorization, token)) {
        answer = errorAnswer(
          new NodeError(
            "UNAUTHORIZED",
            "send `Authorization: Bearer <token>` with the token from the node configuration",
          ),
        );
      } else {
        // A body over the value limit is base64 (bodyLimitFor); answerKv checks what it decodes to.
        let url: ReturnType<typeof parseRequestUrl>;
        try {
          url = parseRequestUrl(head.target);
        } catch {
          throw new NodeError("INVALID_REQUEST", "the request URL cannot be parsed");
        }
        answer = await answerKv(this.options, head.method, url, body);
      }
    } catch (error) {
      answer = errorAnswer(error);
    }
    this.options.onRequest?.(
      "/v1/kv/{key}",
      head.method,
      answer.status,
      performance.now() - startedAt,
    );
    return answer;
  }

  /** @internal The bytes of an answer: head and body in one string, one write. */
  response(answer: ApiAnswer, close: boolean): string {
    let head = `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? ""}\r\n`;
    const leader = this.options.member.leaderApi();
    if (leader) head += `x-hothot-leader: ${leader}\r\n`;
    if (answer.headers) {
      for (const name in answer.headers) head += `${name}: ${answer.headers[name]}\r\n`;
    }
    head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(answer.body)}\r\nDate: ${httpDate()}\r\n`;
    head += close
      ? "Connection: close\r\n\r\n"
      : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(this.keepAliveMs / 1000)}\r\n\r\n`;
    return head + answer.body;
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.connections.add(new FastConnection(socket, this));
  }

  private sweep(): void {
    const now = performance.now();
    for (const connection of this.connections) connection.expire(now);
  }
}

/** The client API of a member: see ApiServer. */
export function createHttpApi(options: ApiServerOptions): ApiServer {
  return new ApiServer(options);
}
