// Header handling shared by the HTTP and WebSocket paths: hop-by-hop headers (RFC 9110 7.6.1)
// describe one connection and must not be forwarded; X-Forwarded-* tell the upstream who the
// client was.
import type { IncomingMessage } from "node:http";

/** Hop-by-hop headers (RFC 9110 7.6.1), in both directions: never forwarded. */
export const hopByHop: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Headers the proxy sets itself. `expect` is answered by the proxy (100-continue). */
const replaced = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "expect"]);

/** Extra hop-by-hop names a Connection header lists, lower-cased; null when there are none. */
function connectionTokens(value: string | undefined): Set<string> | null {
  if (value === undefined) return null;
  let tokens: Set<string> | null = null;
  for (const raw of value.split(",")) {
    const token = raw.trim().toLowerCase();
    if (token === "" || token === "close" || token === "keep-alive" || token === "upgrade")
      continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

function clientAddress(request: IncomingMessage): string {
  const address = request.socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

export interface ScannedRequest {
  /** Headers to send upstream as a flat [name, value, …] list. */
  headers: string[];
  /** The Content-Length value, or null without one (it is not in `headers`: the upstream
   * client writes the framing of the body it actually sends). */
  contentLength: string | null;
  hasHost: boolean;
  /** True when the request has a Transfer-Encoding (a body of unknown length). */
  chunked: boolean;
}

/**
 * One pass over the raw request headers: the headers to send upstream and the body framing.
 * It reads `rawHeaders` only, because touching `request.headers` makes Node.js build a second,
 * parsed copy of every header, which is measurable on the proxy's hot path. With `keepUpgrade`
 * (WebSocket), Connection and Upgrade are kept because the handshake needs them.
 */
export function scanRequest(request: IncomingMessage, keepUpgrade: boolean): ScannedRequest {
  const raw = request.rawHeaders;
  const out: string[] = [];
  let connection: string | null = null;
  let forwardedFor: string | null = null;
  let forwardedHost: string | null = null;
  let host: string | null = null;
  let contentLength: string | null = null;
  let chunked = false;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    const value = raw[index + 1]!;
    const lower = name.toLowerCase();
    if (hopByHop.has(lower)) {
      if (lower === "connection")
        connection = connection === null ? value : `${connection}, ${value}`;
      else if (lower === "transfer-encoding") chunked = true;
      if (!(keepUpgrade && (lower === "connection" || lower === "upgrade"))) continue;
    } else if (replaced.has(lower)) {
      if (lower === "x-forwarded-for") {
        forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
      } else if (lower === "x-forwarded-host") forwardedHost ??= value;
      continue;
    } else if (lower === "host") host = value;
    else if (lower === "content-length") {
      contentLength = value;
      continue;
    }
    out.push(name, value);
  }
  const address = clientAddress(request);
  out.push("x-forwarded-for", forwardedFor === null ? address : `${forwardedFor}, ${address}`);
  out.push("x-forwarded-proto", "http");
  if (host !== null) out.push("x-forwarded-host", forwardedHost ?? host);
  const listed = connectionTokens(connection ?? undefined);
  const hasHost = host !== null;
  if (listed === null) return { headers: out, contentLength, chunked, hasHost };
  const filtered: string[] = [];
  for (let index = 0; index < out.length; index += 2) {
    if (!listed.has(out[index]!.toLowerCase())) filtered.push(out[index]!, out[index + 1]!);
  }
  return { headers: filtered, contentLength, chunked, hasHost };
}

function text(item: Buffer | string): string {
  return typeof item === "string" ? item : item.toString("latin1");
}

/** The upstream's response headers (strings, or raw Buffers from undici) minus hop-by-hop
 * ones. */
export function clientResponseHeaders(raw: Buffer[] | string[]): string[] {
  const out: string[] = [];
  let listed: Set<string> | null = null;
  for (let index = 0; index < raw.length; index += 2) {
    const name = text(raw[index]!);
    const lower = name.toLowerCase();
    const value = text(raw[index + 1]!);
    if (lower === "connection") listed = connectionTokens(value);
    if (hopByHop.has(lower)) continue;
    out.push(name, value);
  }
  if (listed === null) return out;
  const filtered: string[] = [];
  for (let index = 0; index < out.length; index += 2) {
    if (!listed.has(out[index]!.toLowerCase())) filtered.push(out[index]!, out[index + 1]!);
  }
  return filtered;
}

export function hashKeyOf(request: IncomingMessage, hashKey: string): string | null {
  if (hashKey === "client-address") return clientAddress(request);
  if (hashKey.startsWith("header:")) {
    const value = request.headers[hashKey.slice(7).toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? (value[0] ?? null) : value;
  }
  const cookieName = hashKey.slice(7);
  const cookies = request.headers.cookie;
  if (!cookies) return null;
  for (const part of cookies.split(";")) {
    const equals = part.indexOf("=");
    if (equals > 0 && part.slice(0, equals).trim() === cookieName) {
      return part.slice(equals + 1).trim();
    }
  }
  return null;
}

export { clientAddress };

/** Every header of a head as a flat [name, value, …] list; `from` is the first header line. */
export function headerList(text: string, from: number): string[] {
  const headers: string[] = [];
  let start = from;
  while (start < text.length) {
    const found = text.indexOf("\r\n", start);
    const end = found < 0 ? text.length : found;
    const colon = text.indexOf(":", start);
    headers.push(text.slice(start, colon), text.slice(colon + 1, end).trim());
    start = end + 2;
  }
  return headers;
}
