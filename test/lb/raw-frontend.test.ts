// The raw front end against real sockets: framing edge cases written byte for byte.
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import { after, before, test } from "node:test";
import type { LbConfigInput, LoadBalancer } from "../../src/lb/index.ts";
import { get, sleep, startTestLb, startUpstream, type TestUpstream } from "./helpers.ts";

interface Echo {
  method: string;
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let upstream: TestUpstream;

before(async () => {
  upstream = await startUpstream("echo", (request, response) => {
    if (request.url === "/early") {
      // Answers before reading the request body (as an upload limit would).
      response.writeHead(413, { "content-length": "5" });
      response.end("early");
      request.resume();
      return;
    }
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const payload = JSON.stringify({
        method: request.method,
        url: request.url,
        httpVersion: request.httpVersion,
        headers: request.headers,
        body: Buffer.concat(chunks).toString("latin1"),
      });
      const delayMs = request.url?.startsWith("/slow") ? 150 : 0;
      setTimeout(() => {
        if (request.url?.startsWith("/stream")) {
          // No Content-Length: node:http frames it chunked.
          response.writeHead(200, { "content-type": "application/json" });
          response.write(payload.slice(0, 10));
          response.end(payload.slice(10));
          return;
        }
        response.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        });
        response.end(payload);
      }, delayMs);
    });
  });
});

after(async () => {
  await upstream.close();
});

function startLb(extra: LbConfigInput = {}): Promise<LoadBalancer> {
  return startTestLb({
    healthCheck: { enabled: false },
    upstreams: [{ name: "echo", url: upstream.url }],
    ...extra,
  });
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses complete responses from `data`; returns them and how many bytes they used. With
 * `closed`, a response without framing ends at the end of the data. */
function parseResponses(data: Buffer, closed: boolean): RawResponse[] {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const end = data.indexOf("\r\n\r\n", offset);
    if (end < 0) break;
    const lines = data.toString("latin1", offset, end).split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let position = end + 4;
    let body: string;
    if (status < 200 || status === 204 || status === 304) body = "";
    else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (data.length < position + length) break;
      body = data.toString("latin1", position, position + length);
      position += length;
    } else if (headers["transfer-encoding"] === "chunked") {
      body = "";
      let complete = false;
      while (true) {
        const lineEnd = data.indexOf("\r\n", position);
        if (lineEnd < 0) break;
        const size = Number.parseInt(data.toString("latin1", position, lineEnd), 16);
        if (data.length < lineEnd + 2 + size + 2) break;
        body += data.toString("latin1", lineEnd + 2, lineEnd + 2 + size);
        position = lineEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
    } else {
      if (!closed) break;
      body = data.toString("latin1", position);
      position = data.length;
    }
    responses.push({ status, headers, body });
    offset = position;
  }
  return responses;
}

interface Conversation {
  responses: RawResponse[];
  /** Whether the proxy closed the connection. */
  closed: boolean;
}

/**
 * Writes `parts` to the proxy (pausing `gapMs` between them) and collects responses until
 * `count` arrived and, with `waitClose`, the proxy closed the connection.
 */
function converse(
  port: number,
  parts: Array<string | Buffer>,
  options: { count: number; gapMs?: number; waitClose?: boolean; timeoutMs?: number },
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = Buffer.alloc(0);
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete conversation in time; got ${JSON.stringify(data.toString())}`));
    }, options.timeoutMs ?? 5000);
    const check = () => {
      const responses = parseResponses(data, closed);
      if (responses.length >= options.count && (closed || !options.waitClose)) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ responses, closed });
      } else if (closed) {
        clearTimeout(timer);
        resolve({ responses, closed });
      }
    };
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      check();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed = true;
      check();
    });
    socket.once("connect", async () => {
      socket.setNoDelay(true);
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        if (options.gapMs) await sleep(options.gapMs);
      }
    });
  });
}

function echoOf(response: RawResponse): Echo {
  assert.equal(response.status, 200, response.body);
  return JSON.parse(response.body) as Echo;
}

test("a head split across many TCP segments, then a body split too", async () => {
  const lb = await startLb();
  try {
    const request = `POST /split HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world`;
    // Every few bytes in its own segment, including inside the final CRLFCRLF.
    const parts: string[] = [];
    for (let index = 0; index < request.length; index += 3)
      parts.push(request.slice(index, index + 3));
    const { responses } = await converse(lb.port, parts, { count: 1, gapMs: 2 });
    const echo = echoOf(responses[0]!);
    assert.equal(echo.method, "POST");
    assert.equal(echo.url, "/split");
    assert.equal(echo.body, "hello world");
    assert.equal(echo.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(echo.headers["x-forwarded-host"], "h");
  } finally {
    await lb.close();
  }
});

test("chunked request bodies are decoded and re-framed, with extensions and trailers", async () => {
  const lb = await startLb({ retry: { maxBufferedBodyBytes: 16 } });
  try {
    const big = "x".repeat(100_000);
    const parts = [
      "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
      "5;name=value\r\nhello\r\n",
      "6\r\n wor",
      "ld\r\n",
      `${big.length.toString(16)}\r\n${big}\r\n`,
      "0\r\nX-Trailer: t\r\n\r\n",
      // A sized body above maxBufferedBodyBytes streams through too.
      "POST /sized HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n",
      "0123456789".repeat(4),
    ];
    const { responses } = await converse(lb.port, parts, { count: 2, gapMs: 5 });
    const chunked = echoOf(responses[0]!);
    assert.equal(chunked.body, `hello world${big}`);
    assert.equal(chunked.headers["transfer-encoding"], "chunked");
    assert.equal(chunked.headers["x-trailer"], undefined);
    const sized = echoOf(responses[1]!);
    assert.equal(sized.body, "0123456789".repeat(4));
    assert.equal(sized.headers["content-length"], "40");
  } finally {
    await lb.close();
  }
});

test("a malformed chunk size is answered 400 and the connection closed", async () => {
  const lb = await startLb();
  try {
    const { responses, closed } = await converse(
      lb.port,
      ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"],
      { count: 1, waitClose: true },
    );
    assert.equal(responses[0]?.status, 400);
    assert.match(responses[0]!.body, /chunk size/);
    assert.equal(closed, true);
    assert.equal(lb.status().inflight, 0);
  } finally {
    await lb.close();
  }
});

test("pipelined requests are answered in order, a slow first one included", async () => {
  const lb = await startLb();
  try {
    const pipeline =
      "GET /slow/1 HTTP/1.1\r\nHost: h\r\n\r\n" +
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
      "GET /stream/3 HTTP/1.1\r\nHost: h\r\n\r\n" +
      "\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n";
    const { responses } = await converse(lb.port, [pipeline], { count: 4 });
    assert.deepEqual(
      responses.map((response) => echoOf(response).url),
      ["/slow/1", "/2", "/stream/3", "/4"],
    );
    assert.equal(echoOf(responses[1]!).body, "abc");
    // The upstream's chunked answer reaches an HTTP/1.1 client chunked.
    assert.equal(responses[2]!.headers["transfer-encoding"], "chunked");
  } finally {
    await lb.close();
  }
});

test("an answer that comes before the request body ends: the rest of the body is read and the next request served", async () => {
  const lb = await startLb({ retry: { maxBufferedBodyBytes: 1024 } });
  try {
    const bodyBytes = 200_000;
    const { responses } = await converse(
      lb.port,
      [
        `POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: ${bodyBytes}\r\n\r\n${"a".repeat(1000)}`,
        "b".repeat(bodyBytes - 1000),
        "GET /after-early HTTP/1.1\r\nHost: h\r\n\r\n",
      ],
      { count: 2, gapMs: 150 },
    );
    assert.equal(responses[0]!.status, 413);
    assert.equal(responses[0]!.body, "early");
    assert.equal(echoOf(responses[1]!).url, "/after-early");
    assert.equal(lb.status().inflight, 0);
  } finally {
    await lb.close();
  }
});

test("HTTP/1.0: closed after the response unless keep-alive was asked for; unframed bodies end with the connection", async () => {
  const lb = await startLb();
  try {
    const plain = await converse(lb.port, ["GET /a HTTP/1.0\r\n\r\n"], {
      count: 1,
      waitClose: true,
    });
    assert.equal(plain.closed, true);
    assert.equal(plain.responses[0]!.headers.connection, "close");
    const echo = echoOf(plain.responses[0]!);
    assert.equal(echo.headers.host, upstream.url.slice("http://".length));
    assert.equal(echo.headers["x-forwarded-host"], undefined);

    const kept = await converse(
      lb.port,
      [
        "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /stream/c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      ],
      { count: 2, gapMs: 50, waitClose: true },
    );
    assert.equal(kept.responses[0]!.headers.connection, "keep-alive");
    assert.equal(echoOf(kept.responses[0]!).url, "/b");
    // No length known and HTTP/1.0 has no chunked: the body ends when the connection does.
    assert.equal(kept.responses[1]!.headers.connection, "close");
    assert.equal(kept.responses[1]!.headers["transfer-encoding"], undefined);
    assert.equal(echoOf(kept.responses[1]!).url, "/stream/c");
    assert.equal(kept.closed, true);
  } finally {
    await lb.close();
  }
});

test("Connection: close is honoured after the response; requests behind it are not read", async () => {
  const lb = await startLb();
  const before = upstream.hits;
  try {
    const { responses, closed } = await converse(
      lb.port,
      ["GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n"],
      { count: 1, waitClose: true },
    );
    assert.equal(closed, true);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.headers.connection, "close");
    assert.equal(echoOf(responses[0]!).url, "/x");
    assert.equal(upstream.hits - before, 1);
  } finally {
    await lb.close();
  }
});

test("an oversized head gets 431 and a bad request line 400, and both close", async () => {
  const lb = await startLb({ limits: { maxHeaderBytes: 2048 } });
  try {
    const oversized = await converse(
      lb.port,
      [`GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(3000)}`],
      { count: 1, waitClose: true },
    );
    assert.equal(oversized.responses[0]?.status, 431);
    assert.match(oversized.responses[0]!.body, /maxHeaderBytes/);
    assert.equal(oversized.closed, true);

    const badLine = await converse(lb.port, ["GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"], {
      count: 1,
      waitClose: true,
    });
    assert.equal(badLine.responses[0]?.status, 400);
    assert.match(badLine.responses[0]!.body, /request line/);
    assert.equal(badLine.closed, true);

    const smuggle = await converse(
      lb.port,
      [
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      ],
      { count: 1, waitClose: true },
    );
    assert.equal(smuggle.responses[0]?.status, 400);
    // A good request still works afterwards.
    assert.equal((await get(lb.port, "/after")).status, 200);
  } finally {
    await lb.close();
  }
});

test("client timeouts: an unfinished head gets 408, an idle kept-alive connection is closed", async () => {
  const lb = await startLb({
    timeouts: { clientHeadersMs: 300, clientKeepAliveMs: 300, clientRequestMs: 600 },
  });
  try {
    const started = Date.now();
    const slowHead = await converse(lb.port, ["GET / HTTP/1.1\r\nHost: h\r\n"], {
      count: 1,
      waitClose: true,
    });
    assert.equal(slowHead.responses[0]?.status, 408);
    assert.ok(Date.now() - started >= 250, "not before the headers timeout");

    const slowBody = await converse(
      lb.port,
      ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"],
      { count: 1, waitClose: true },
    );
    assert.equal(slowBody.responses[0]?.status, 408);

    const idle = await converse(lb.port, ["GET / HTTP/1.1\r\nHost: h\r\n\r\n"], {
      count: 1,
      waitClose: true,
    });
    assert.equal(idle.responses[0]?.status, 200);
    assert.equal(idle.responses[0]!.headers["keep-alive"], "timeout=0");
    assert.equal(idle.closed, true);
    assert.equal(lb.status().inflight, 0);
  } finally {
    await lb.close();
  }
});

test("Expect: 100-continue is handed to node:http and still proxied, after a request the raw front end served", async () => {
  const lb = await startLb();
  try {
    const { responses } = await converse(
      lb.port,
      [
        "GET /first HTTP/1.1\r\nHost: h\r\n\r\n",
        "PUT /expect HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        "data",
        "GET /third HTTP/1.1\r\nHost: h\r\n\r\n",
      ],
      { count: 4, gapMs: 100 },
    );
    assert.equal(echoOf(responses[0]!).url, "/first");
    assert.equal(responses[1]!.status, 100);
    const echo = echoOf(responses[2]!);
    assert.equal(echo.body, "data");
    assert.equal(echo.headers.expect, undefined);
    // node:http now owns the connection and serves what follows on it.
    assert.equal(echoOf(responses[3]!).url, "/third");
  } finally {
    await lb.close();
  }
});

test("a connection handed to node:http is still closed by shutdown and keeps node's timeouts", async () => {
  const lb = await startLb({ timeouts: { clientHeadersMs: 300, clientRequestMs: 600 } });
  const socket = net.connect({ host: "127.0.0.1", port: lb.port });
  try {
    await new Promise((resolve) => socket.once("connect", resolve));
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.on("error", () => undefined);
    socket.write(
      "PUT /h HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok",
    );
    const deadline = Date.now() + 5000;
    while (!received.includes("/h") && Date.now() < deadline) await sleep(20);
    assert.match(received, /HTTP\/1\.1 200/);
    // Now owned by node:http: an unfinished second head meets its headers timeout.
    socket.write("GET /never HTTP/1.1\r\nHost: h\r\n");
    // 300 ms timeout; the wait is generous because a loaded machine delays node:http's checks.
    const timedOut = await Promise.race([closed.then(() => true), sleep(10_000).then(() => false)]);
    assert.equal(timedOut, true, "node:http closed the stalled handed-over connection");
    assert.match(received, /408/);
  } finally {
    socket.destroy();
    await lb.close();
  }
});

test("shutdown closes an idle connection that node:http took over", async () => {
  const lb = await startLb();
  const socket = net.connect({ host: "127.0.0.1", port: lb.port });
  try {
    await new Promise((resolve) => socket.once("connect", resolve));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    socket.write(
      "PUT /h HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok",
    );
    await sleep(300);
    const started = Date.now();
    await lb.close();
    assert.ok(Date.now() - started < 2000, "close did not wait for the idle connection");
    await closed;
  } finally {
    socket.destroy();
  }
});

test("frontend: node serves the same requests", async () => {
  const lb = await startLb({ frontend: "node" });
  try {
    const { responses } = await converse(
      lb.port,
      [
        "GET /n1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /n2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok",
      ],
      { count: 2 },
    );
    assert.deepEqual(
      responses.map((response) => echoOf(response).url),
      ["/n1", "/n2"],
    );
    assert.equal(responses[0]!.headers["keep-alive"], "timeout=15");
  } finally {
    await lb.close();
  }
});

test("connections reading into the one shared buffer never see each other's bytes", async () => {
  // Every connection's pipelined requests wait behind a slow first one, in pieces cut at odd
  // places, while the other connections read: bytes kept between reads must be copies.
  // Bodies: small ones held for retries, a large one streamed, and a chunked one.
  const lb = await startLb({ retry: { maxBufferedBodyBytes: 1024 } });
  try {
    const conversations = Array.from({ length: 6 }, (_, connection) => {
      const small = `c${connection}-small-`.repeat(20);
      const large = `c${connection}-large-`.repeat(700);
      const pipeline =
        `GET /slow/${connection} HTTP/1.1\r\nHost: h\r\n\r\n` +
        `POST /small/${connection} HTTP/1.1\r\nHost: h\r\nContent-Length: ${small.length}\r\n\r\n${small}` +
        `POST /large/${connection} HTTP/1.1\r\nHost: h\r\nContent-Length: ${large.length}\r\n\r\n${large}` +
        `POST /chunked/${connection} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${small.length.toString(16)}\r\n${small}\r\n0\r\n\r\n` +
        `GET /last/${connection} HTTP/1.1\r\nHost: h\r\n\r\n`;
      const parts: string[] = [];
      for (let offset = 0; offset < pipeline.length; ) {
        const size = 7 + ((offset * 31 + connection * 17) % 1500);
        parts.push(pipeline.slice(offset, offset + size));
        offset += size;
      }
      return converse(lb.port, parts, { count: 5, gapMs: 1, timeoutMs: 20_000 }).then(
        ({ responses }) => ({ connection, small, large, responses }),
      );
    });
    for (const { connection, small, large, responses } of await Promise.all(conversations)) {
      const echoes = responses.map(echoOf);
      assert.deepEqual(
        echoes.map((echo) => echo.url),
        [
          `/slow/${connection}`,
          `/small/${connection}`,
          `/large/${connection}`,
          `/chunked/${connection}`,
          `/last/${connection}`,
        ],
      );
      assert.deepEqual(
        echoes.map((echo) => echo.body),
        ["", small, large, small, ""],
      );
    }
  } finally {
    await lb.close();
  }
});
