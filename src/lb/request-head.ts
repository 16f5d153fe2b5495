// Parsing of an HTTP/1.1 request head for the raw front end. Strict on purpose: a proxy that
// reads a request differently from its upstream can be used to smuggle a second request past
// it, so anything ambiguous (obsolete line folding, bare CR or LF, whitespace before a colon,
// conflicting or malformed Content-Length, Transfer-Encoding together with Content-Length or on
// HTTP/1.0, a missing or repeated Host on HTTP/1.1) is refused with 400 instead of guessed at.
// What the raw front end does not implement itself (Upgrade, Expect, CONNECT, transfer codings
// other than a lone "chunked") is marked for the node:http server.
import { headerList } from "./headers.ts";

const requestLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s\x00-\x1f\x7f]+) HTTP\/1\.([01])$/;
/** A header name at `lastIndex` (sticky): it must end where the colon is. */
const tokenAt = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
/** Control characters other than HTAB, and CR or LF that are not part of a CRLF pair. */
const forbidden = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;
const decimal = /^\d{1,15}$/;

enum Kind {
  Other = 0,
  Host,
  Connection,
  HopByHop,
  TransferEncoding,
  ContentLength,
  ForwardedFor,
  ForwardedOther,
  ForwardedHost,
  Expect,
  Upgrade,
}

/** Lower-case names the parser treats specially. Other headers are forwarded as they are. */
const kinds = new Map<string, Kind>([
  ["host", Kind.Host],
  ["connection", Kind.Connection],
  ["keep-alive", Kind.HopByHop],
  ["proxy-connection", Kind.HopByHop],
  ["proxy-authenticate", Kind.HopByHop],
  ["proxy-authorization", Kind.HopByHop],
  ["te", Kind.HopByHop],
  ["trailer", Kind.HopByHop],
  ["upgrade", Kind.Upgrade],
  ["transfer-encoding", Kind.TransferEncoding],
  ["content-length", Kind.ContentLength],
  ["x-forwarded-for", Kind.ForwardedFor],
  ["x-forwarded-proto", Kind.ForwardedOther],
  ["x-forwarded-host", Kind.ForwardedHost],
  ["expect", Kind.Expect],
]);
/** Name lengths that occur in `kinds`: other names are not even lower-cased. */
const interestingLengths = new Set([...kinds.keys()].map((name) => name.length));

export interface RequestHead {
  method: string;
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** Header lines for the upstream, each ending in CRLF: no hop-by-hop headers, no
   * Content-Length, with X-Forwarded-For/-Proto/-Host set by the proxy. */
  lines: string;
  hasHost: boolean;
  /** -1 without a Content-Length. */
  contentLength: number;
  chunked: boolean;
  /** Whether the client wants the connection kept open after this exchange. */
  keepAlive: boolean;
}

export interface HeadError {
  status: 400;
  message: string;
}

/** The node:http server should take this connection over (see the file comment). */
export const handOff = "hand-off" as const;

function bad(message: string): HeadError {
  return { status: 400, message };
}

/**
 * Parses `text`, the latin1 head without its final CRLFCRLF and without leading empty lines.
 * `clientAddress` goes into X-Forwarded-For.
 */
export function parseRequestHead(
  text: string,
  clientAddress: string,
): RequestHead | HeadError | typeof handOff {
  if (forbidden.test(text)) return bad("control characters or a bare CR/LF in the request head");
  let lineEnd = text.indexOf("\r\n");
  const first = lineEnd < 0 ? text : text.slice(0, lineEnd);
  // test() and positions rather than exec(): no match array per request.
  if (!requestLine.test(first)) {
    return bad("malformed request line (expected METHOD TARGET HTTP/1.x)");
  }
  const methodEnd = first.indexOf(" ");
  const method = first.slice(0, methodEnd);
  const target = first.slice(methodEnd + 1, first.length - 9);
  if (method === "CONNECT") return handOff;
  const minorVersion = first.charCodeAt(first.length - 1) === 49 ? 1 : 0;
  let host: string | null = null;
  let hostCount = 0;
  let connection: string | null = null;
  let transferEncoding: string | null = null;
  let contentLength = -1;
  let forwardedFor: string | null = null;
  let forwardedHost: string | null = null;
  let upgrade = false;
  // Forwarded lines are copied as runs of the original text; only the headers the proxy acts
  // on are sliced into strings.
  let lines = "";
  let runStart = lineEnd < 0 ? text.length : lineEnd + 2;
  while (lineEnd >= 0) {
    const start = lineEnd + 2;
    lineEnd = text.indexOf("\r\n", start);
    const end = lineEnd < 0 ? text.length : lineEnd;
    const colon = text.indexOf(":", start);
    if (colon < 0 || colon >= end) {
      const first = text.charCodeAt(start);
      return bad(
        first === 32 || first === 9
          ? "obsolete header line folding is not accepted"
          : "malformed header line (expected NAME: VALUE)",
      );
    }
    tokenAt.lastIndex = start;
    if (!tokenAt.test(text) || tokenAt.lastIndex !== colon) {
      return bad(`malformed header name ${JSON.stringify(text.slice(start, colon))}`);
    }
    const kind = interestingLengths.has(colon - start)
      ? (kinds.get(text.slice(start, colon).toLowerCase()) ?? Kind.Other)
      : Kind.Other;
    if (kind === Kind.Other) continue;
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isBlank(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isBlank(text.charCodeAt(valueEnd - 1))) valueEnd--;
    const value = text.slice(valueStart, valueEnd);
    switch (kind) {
      case Kind.Host:
        host = value;
        hostCount++;
        continue; // forwarded as it is
      case Kind.Connection:
        connection = connection === null ? value : `${connection}, ${value}`;
        break;
      case Kind.TransferEncoding:
        transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
        break;
      case Kind.ContentLength: {
        if (!decimal.test(value)) return bad("Content-Length must be a decimal number");
        const length = Number(value);
        if (contentLength >= 0 && contentLength !== length) {
          return bad("conflicting Content-Length headers");
        }
        contentLength = length;
        break;
      }
      case Kind.ForwardedFor:
        forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
        break;
      case Kind.ForwardedHost:
        forwardedHost ??= value;
        break;
      case Kind.Expect:
      case Kind.Upgrade:
        upgrade = true;
        break;
      default:
        // Other hop-by-hop headers and X-Forwarded-Proto, which the proxy sets itself.
        break;
    }
    // Not forwarded: close the run of copied lines before this one.
    if (start > runStart) lines += text.slice(runStart, start);
    runStart = end + 2;
  }
  if (runStart < text.length) lines += `${text.slice(runStart)}\r\n`;
  if (upgrade) return handOff;
  let chunked = false;
  if (transferEncoding !== null) {
    if (minorVersion === 0) return bad("Transfer-Encoding is not allowed in HTTP/1.0 requests");
    if (contentLength >= 0) return bad("Transfer-Encoding and Content-Length together");
    if (transferEncoding.toLowerCase() !== "chunked") return handOff;
    chunked = true;
  }
  if (hostCount > 1) return bad("more than one Host header");
  if (minorVersion === 1 && host === null) return bad("HTTP/1.1 requests need a Host header");
  let keepAlive = minorVersion === 1;
  let listed: Set<string> | null = null;
  if (connection !== null) {
    for (const raw of connection.split(",")) {
      const option = raw.trim().toLowerCase();
      if (option === "close") keepAlive = false;
      else if (option === "keep-alive") keepAlive ||= minorVersion === 0;
      else if (option === "upgrade") return handOff;
      else if (option !== "") {
        listed ??= new Set();
        listed.add(option);
      }
    }
  }
  if (listed !== null) {
    // Names listed in Connection are hop-by-hop too (RFC 9110 7.6.1).
    const kept = headerList(lines, 0);
    lines = "";
    for (let index = 0; index < kept.length; index += 2) {
      if (!listed.has(kept[index]!.toLowerCase())) {
        lines += `${kept[index]!}: ${kept[index + 1]!}\r\n`;
      }
    }
  }
  lines += `x-forwarded-for: ${forwardedFor === null ? clientAddress : `${forwardedFor}, ${clientAddress}`}\r\nx-forwarded-proto: http\r\n`;
  if (host !== null) lines += `x-forwarded-host: ${forwardedHost ?? host}\r\n`;
  return {
    method,
    target,
    minorVersion,
    lines,
    hasHost: host !== null,
    contentLength,
    chunked,
    keepAlive,
  };
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/** The first value of header `name` (any case) in a flat list, or null. */
export function headerValue(headers: string[], name: string): string | null {
  const lower = name.toLowerCase();
  for (let index = 0; index < headers.length; index += 2) {
    const candidate = headers[index]!;
    if (candidate.length === lower.length && candidate.toLowerCase() === lower) {
      return headers[index + 1]!;
    }
  }
  return null;
}

/** The value of cookie `name` in a Cookie header value, or null. */
export function cookieValue(cookies: string, name: string): string | null {
  for (const part of cookies.split(";")) {
    const equals = part.indexOf("=");
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return null;
}
