import assert from "node:assert/strict";
import { test } from "node:test";
import { headerList } from "../../src/lb/headers.ts";
import {
  cookieValue,
  handOff,
  headerValue,
  parseRequestHead,
  type RequestHead,
} from "../../src/lb/request-head.ts";

function head(lines: string[]): RequestHead {
  const parsed = parseRequestHead(lines.join("\r\n"), "192.0.2.7");
  assert.ok(parsed !== handOff && !("status" in parsed), `accepted: ${JSON.stringify(parsed)}`);
  return parsed;
}

function refusal(lines: string[]): string {
  const parsed = parseRequestHead(lines.join("\r\n"), "192.0.2.7");
  assert.ok(parsed !== handOff && "status" in parsed, `refused: ${JSON.stringify(parsed)}`);
  assert.equal(parsed.status, 400);
  return parsed.message;
}

test("a request head becomes the upstream's header list with forwarding headers", () => {
  const parsed = head([
    "POST /a?b=c HTTP/1.1",
    "Host: example.test",
    "X-Forwarded-For: 203.0.113.1",
    "X-Forwarded-Proto: https",
    "Content-Length: 12",
    "Keep-Alive: timeout=5",
    "Connection: keep-alive, X-Secret",
    "X-Secret: 1",
    "TE: trailers",
    "Cookie: a=1; session=xyz",
    "X-Spaces: \t padded value \t",
  ]);
  assert.equal(parsed.method, "POST");
  assert.equal(parsed.target, "/a?b=c");
  assert.equal(parsed.minorVersion, 1);
  assert.equal(parsed.contentLength, 12);
  assert.equal(parsed.chunked, false);
  assert.equal(parsed.keepAlive, true);
  assert.equal(parsed.hasHost, true);
  assert.deepEqual(headerList(parsed.lines, 0), [
    "Host",
    "example.test",
    "Cookie",
    "a=1; session=xyz",
    "X-Spaces",
    "padded value",
    "x-forwarded-for",
    "203.0.113.1, 192.0.2.7",
    "x-forwarded-proto",
    "http",
    "x-forwarded-host",
    "example.test",
  ]);
  const list = headerList(parsed.lines, 0);
  assert.equal(headerValue(list, "x-spaces"), "padded value");
  assert.equal(cookieValue(headerValue(list, "cookie")!, "session"), "xyz");
});

test("without names listed in Connection, forwarded lines are the client's lines as sent", () => {
  const parsed = head([
    "GET / HTTP/1.1",
    "host: h",
    "Connection: keep-alive",
    "X-A:  spaced\t",
    "Content-Length: 0",
    "x-b: 2",
  ]);
  assert.equal(
    parsed.lines,
    "host: h\r\nX-A:  spaced\t\r\nx-b: 2\r\n" +
      "x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\nx-forwarded-host: h\r\n",
  );
});

test("keep-alive follows the version and the Connection header", () => {
  assert.equal(head(["GET / HTTP/1.1", "Host: h"]).keepAlive, true);
  assert.equal(head(["GET / HTTP/1.1", "Host: h", "Connection: close"]).keepAlive, false);
  assert.equal(head(["GET / HTTP/1.0"]).keepAlive, false);
  assert.equal(head(["GET / HTTP/1.0", "Connection: Keep-Alive"]).keepAlive, true);
  assert.equal(head(["GET / HTTP/1.0"]).hasHost, false);
});

test("chunked is the only transfer coding parsed here; others go to node:http", () => {
  assert.equal(head(["POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked"]).chunked, true);
  assert.equal(
    parseRequestHead("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked", "x"),
    handOff,
  );
});

test("Upgrade, Expect and CONNECT are handed to node:http", () => {
  const upgrade = "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket";
  assert.equal(parseRequestHead(upgrade, "x"), handOff);
  assert.equal(parseRequestHead("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue", "x"), handOff);
  assert.equal(parseRequestHead("CONNECT h:443 HTTP/1.1\r\nHost: h:443", "x"), handOff);
});

test("ambiguous or malformed heads are refused with 400", () => {
  assert.match(refusal(["GET /"]), /request line/);
  assert.match(refusal(["GET  / HTTP/1.1", "Host: h"]), /request line/);
  assert.match(refusal(["GET / HTTP/2.0", "Host: h"]), /request line/);
  assert.match(refusal(["GET /a b HTTP/1.1", "Host: h"]), /request line/);
  assert.match(refusal(["G@T / HTTP/1.1", "Host: h"]), /request line/);
  assert.match(refusal(["GET / HTTP/1.1"]), /Host/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: a", "Host: b"]), /Host/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: h", "X-A: 1", " folded"]), /folding/);
  assert.match(refusal(["GET / HTTP/1.1", "Host : h"]), /header name/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: h", "no colon here"]), /header line/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: h\nX-Injected: 1"]), /bare CR\/LF/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: h", "X-A: a\rb"]), /bare CR\/LF/);
  assert.match(refusal(["GET / HTTP/1.1", "Host: h", "X-A: a\u0000b"]), /control/);
  assert.match(refusal(["POST / HTTP/1.1", "Host: h", "Content-Length: -1"]), /Content-Length/);
  assert.match(refusal(["POST / HTTP/1.1", "Host: h", "Content-Length: 1, 1"]), /Content-Length/);
  assert.match(
    refusal(["POST / HTTP/1.1", "Host: h", "Content-Length: 1", "Content-Length: 2"]),
    /conflicting/,
  );
  assert.match(
    refusal(["POST / HTTP/1.1", "Host: h", "Content-Length: 3", "Transfer-Encoding: chunked"]),
    /together/,
  );
  assert.match(refusal(["POST / HTTP/1.0", "Transfer-Encoding: chunked"]), /HTTP\/1\.0/);
  // The same Content-Length twice is not ambiguous.
  assert.equal(
    head(["POST / HTTP/1.1", "Host: h", "Content-Length: 4", "content-length: 4"]).contentLength,
    4,
  );
});
