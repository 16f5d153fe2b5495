// The client side of an exchange accepted by node:http (`frontend: node`, and the requests the
// raw front end hands over: Upgrade, Expect, CONNECT, unusual transfer codings).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClientSide } from "./exchange.ts";
import { clientResponseHeaders, hashKeyOf, headerList, scanRequest } from "./headers.ts";
import type { ForwardHead } from "./upstream-pool.ts";

export class NodeClient implements ClientSide {
  readonly path: string;
  readonly headLines = null;
  private readonly headers: string[];
  readonly hasHost: boolean;
  /** The Content-Length value, or null without one. */
  readonly contentLength: string | null;
  readonly chunked: boolean;

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly isDraining: () => boolean,
  ) {
    const scanned = scanRequest(request, false);
    this.path = request.url ?? "/";
    this.headers = scanned.headers;
    this.hasHost = scanned.hasHost;
    this.contentLength = scanned.contentLength;
    this.chunked = scanned.chunked;
  }

  headerList(): string[] {
    return this.headers;
  }

  hashKey(hashKey: string): string | null {
    return hashKeyOf(this.request, hashKey);
  }

  respond(
    statusCode: number,
    statusText: string,
    rawHeaders: Buffer[] | string[] | null,
    forward: ForwardHead | null,
  ): void {
    const response = this.response;
    if (this.isDraining()) response.shouldKeepAlive = false;
    const headers =
      rawHeaders !== null ? clientResponseHeaders(rawHeaders) : headerList(forward!.lines, 0);
    response.writeHead(statusCode, statusText, headers);
  }

  write(chunk: Buffer, resume: () => void): boolean {
    // A copy: the chunk may be a view of the upstream client's reused read buffer.
    const ok = this.response.write(Buffer.from(chunk));
    if (!ok) this.response.once("drain", resume);
    return ok;
  }

  end(): void {
    this.response.end();
  }

  answer(statusCode: number, message: string): void {
    const response = this.response;
    if (response.headersSent || response.destroyed) {
      response.destroy();
      return;
    }
    const text = `${message}\n`;
    response.writeHead(statusCode, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    response.end(text);
  }

  cut(error: Error): void {
    this.response.destroy(error);
  }
}
