// The response side of the raw front end (see raw-frontend.ts): one request's view of its client
// connection, which frames the upstream's answer for that client. The head is held back until
// the first body bytes (or the end), so that a small response leaves in a single write.
import type net from "node:net";
import type { ClientSide, Exchange } from "./exchange.ts";
import { headerList, hopByHop } from "./headers.ts";
import { cookieValue, headerValue, type RequestHead } from "./request-head.ts";
import type { ForwardHead } from "./upstream-pool.ts";
import { holdUntilBatchEnd } from "./write-batch.ts";

/** What a request needs from its connection (RawConnection implements it). */
export interface RequestConnection {
  readonly socket: net.Socket;
  readonly clientAddress: string;
  /** The request being answered: calls from any other (stale) request are ignored. */
  readonly current: RawRequest | null;
  /** Set when the connection closes after the current response. */
  closeAfterResponse: boolean;
  /** Ends the head of kept-alive responses (`keep-alive: timeout=N` and the blank line). */
  readonly keepAliveLine: string;
  keepAliveAfter(request: RawRequest): boolean;
  responseEnded(request: RawRequest): void;
}

const lastChunk = Buffer.from("0\r\n\r\n");
/** Body chunks up to this size are copied into the same buffer as the response head, so that
 * a small response leaves in one write. */
const coalesceBytes = 16 * 1024;

/** Name lengths of the hop-by-hop headers and Content-Length: others are not lower-cased. */
const specialLengths = new Set([...hopByHop, "content-length"].map((name) => name.length));

const statusTexts: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
function text(item: Buffer | string): string {
  return typeof item === "string" ? item : item.toString("latin1");
}

/** One request on a raw connection: the exchange's view of the client. */
export class RawRequest implements ClientSide {
  readonly path: string;
  readonly headLines: string;
  readonly hasHost: boolean;
  private headers: string[] | null = null;
  exchange: Exchange | null = null;
  /** The response head, held until the first body bytes or the end so both leave together. */
  private pendingHead: string | null = null;
  private headSent = false;
  private chunkedOut = false;
  private noBody = false;

  constructor(
    private readonly connection: RequestConnection,
    readonly head: RequestHead,
  ) {
    this.path = head.target;
    this.headLines = head.lines;
    this.hasHost = head.hasHost;
  }

  get responseStarted(): boolean {
    return this.headSent;
  }

  private get current(): boolean {
    return this.connection.current === this;
  }

  /** Built only when asked for (undici, consistent hashing on a header or cookie). */
  headerList(): string[] {
    this.headers ??= headerList(this.headLines, 0);
    return this.headers;
  }

  hashKey(hashKey: string): string | null {
    if (hashKey === "client-address") return this.connection.clientAddress;
    if (hashKey.startsWith("header:")) return headerValue(this.headerList(), hashKey.slice(7));
    const cookies = headerValue(this.headerList(), "cookie");
    return cookies === null ? null : cookieValue(cookies, hashKey.slice(7));
  }

  respond(
    statusCode: number,
    statusText: string,
    rawHeaders: Buffer[] | string[] | null,
    forward: ForwardHead | null,
  ): void {
    if (!this.current) return;
    const head = this.head;
    let out = `HTTP/1.1 ${statusCode} ${statusText}\r\n`;
    let hasLength: boolean;
    if (forward !== null) {
      // The native upstream client already dropped the hop-by-hop lines: copy the rest.
      out += forward.lines;
      hasLength = forward.hasContentLength;
    } else {
      const copied = copyHeaders(rawHeaders!);
      out += copied.lines;
      hasLength = copied.hasContentLength;
    }
    this.noBody =
      head.method === "HEAD" || statusCode === 204 || statusCode === 304 || statusCode < 200;
    let keepAlive = this.connection.keepAliveAfter(this);
    if (!this.noBody && !hasLength) {
      // The upstream's framing was chunked or until-close: chunked for HTTP/1.1 clients,
      // until-close for HTTP/1.0 ones.
      if (head.minorVersion === 1) {
        this.chunkedOut = true;
        out += "transfer-encoding: chunked\r\n";
      } else keepAlive = false;
    }
    if (!keepAlive) {
      this.connection.closeAfterResponse = true;
      out += "connection: close\r\n\r\n";
    } else {
      out += head.minorVersion === 0 ? "connection: keep-alive\r\n" : "";
      out += this.connection.keepAliveLine;
    }
    this.pendingHead = out;
    this.headSent = true;
  }

  write(chunk: Buffer, resume: () => void): boolean {
    if (!this.current || this.noBody || chunk.length === 0) return true;
    let ok: boolean;
    const socket = this.connection.socket;
    const head = this.pendingHead;
    this.pendingHead = null;
    // Writes get their own copy of `chunk` (a view of the upstream client's reused read
    // buffer): a small one is copied in behind the head anyway, so that both leave in one write.
    if (this.chunkedOut) {
      const size = `${chunk.length.toString(16)}\r\n`;
      socket.cork();
      socket.write(head === null ? size : head + size, "latin1");
      socket.write(Buffer.from(chunk));
      ok = socket.write("\r\n", "latin1");
      socket.uncork();
    } else if (head !== null && chunk.length <= coalesceBytes) {
      const buffer = Buffer.allocUnsafe(head.length + chunk.length);
      buffer.write(head, 0, "latin1");
      chunk.copy(buffer, head.length);
      holdUntilBatchEnd(socket);
      ok = socket.write(buffer);
    } else if (head !== null) {
      socket.cork();
      socket.write(head, "latin1");
      ok = socket.write(Buffer.from(chunk));
      socket.uncork();
    } else ok = socket.write(Buffer.from(chunk));
    if (!ok) socket.once("drain", resume);
    return ok;
  }

  end(): void {
    if (!this.current) return;
    const socket = this.connection.socket;
    const head = this.pendingHead;
    this.pendingHead = null;
    if (this.chunkedOut && !this.noBody) {
      if (head === null) socket.write(lastChunk);
      else socket.write(`${head}0\r\n\r\n`, "latin1");
    } else if (head !== null) {
      holdUntilBatchEnd(socket);
      socket.write(head, "latin1");
    }
    this.connection.responseEnded(this);
  }

  answer(statusCode: number, message: string): void {
    if (!this.current) return;
    if (this.headSent) {
      this.cut();
      return;
    }
    const keepAlive = this.connection.keepAliveAfter(this);
    if (!keepAlive) this.connection.closeAfterResponse = true;
    this.connection.socket.write(simpleResponse(statusCode, message, keepAlive), "latin1");
    this.connection.responseEnded(this);
  }

  cut(): void {
    if (this.current) this.connection.socket.destroy();
  }
}

const onlyConnectionOptions = /^[\s,]*(?:(?:keep-alive|close)[\s,]*)*$/i;

/** A header list (undici's, or the native client's when Connection names headers to drop)
 * as lines for the client, minus hop-by-hop headers. */
function copyHeaders(rawHeaders: Buffer[] | string[]): ForwardHead {
  let out = "";
  let hasContentLength = false;
  let listed: string | null = null;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = text(rawHeaders[index]!);
    const value = text(rawHeaders[index + 1]!);
    const lower = specialLengths.has(name.length) ? name.toLowerCase() : "";
    if (hopByHop.has(lower)) {
      if (lower === "connection") listed = listed === null ? value : `${listed},${value}`;
      continue;
    }
    if (lower === "content-length") hasContentLength = true;
    out += `${name}: ${value}\r\n`;
  }
  // Usually "keep-alive" or "close", which name no header to drop.
  if (listed !== null && !onlyConnectionOptions.test(listed)) out = dropListed(out, listed);
  return { lines: out, hasContentLength };
}

/** Header lines minus the headers a Connection header listed. */
function dropListed(head: string, listed: string): string {
  const names = new Set<string>();
  for (const raw of listed.split(",")) {
    const name = raw.trim().toLowerCase();
    if (name !== "" && name !== "close" && name !== "keep-alive") names.add(name);
  }
  if (names.size === 0) return head;
  return head
    .split("\r\n")
    .filter((line) => {
      const colon = line.indexOf(":");
      return colon < 0 || !names.has(line.slice(0, colon).toLowerCase());
    })
    .join("\r\n");
}

export function simpleResponse(statusCode: number, message: string, keepAlive: boolean): string {
  const body = `${message}\n`;
  return (
    `HTTP/1.1 ${statusCode} ${statusTexts[statusCode] ?? "Error"}\r\n` +
    "content-type: text/plain; charset=utf-8\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    (keepAlive ? "\r\n" : "connection: close\r\n\r\n") +
    body
  );
}
