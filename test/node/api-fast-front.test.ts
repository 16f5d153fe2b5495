// The fast front must answer exactly as node:http does. Each conversation (raw bytes, sent whole,
// byte by byte, or pipelined) goes to an API server with the fast front and to one without it,
// each over a fresh fake member; the answers must be the same bytes (but the Date header).
// node:http starts pipelined requests before the ones ahead of them finished (a GET behind a
// PUT can run before the PUT's body was even read); the fast front runs them strictly in
// order. So node:http gets each request of a pipelined conversation only after the answer to
// the one before, which is the order the fast front must match.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import {
  type ApiServer,
  type ApiServerOptions,
  createHttpApi,
  parseFastHead,
} from "../../src/node/api-server.ts";
import { FakeMember } from "./fake-member.ts";

const TOKEN = "s3cret-token-0123456";

interface Pair {
  fast: ApiServer;
  plain: ApiServer;
}

async function startPair(extra: Partial<ApiServerOptions> = {}): Promise<Pair> {
  const make = async (fastFront: boolean) => {
    const server = createHttpApi({
      member: new FakeMember(),
      maxKeyBytes: 16,
      maxValueBytes: 64,
      fastFront,
      ...extra,
    });
    await server.listen(0, "127.0.0.1");
    return server;
  };
  return { fast: await make(true), plain: await make(false) };
}

let open: Pair;
let protectedPair: Pair;
before(async () => {
  open = await startPair();
  protectedPair = await startPair({ token: TOKEN });
});
after(() => {
  for (const pair of [open, protectedPair]) {
    pair.fast.close();
    pair.plain.close();
  }
});

/**
 * Sends `parts` (each written separately, `gapMs` apart) and collects what the server sends
 * until it closes the connection or `expected` answers arrived (then waits briefly for extra
 * bytes that must not be there).
 */
function converse(
  server: ApiServer,
  parts: readonly string[],
  expected: number,
  gapMs = 0,
  sequential = false,
  halfClose = false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.address().port, "127.0.0.1");
    let received = "";
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(limit);
      socket.destroy();
      resolve(received);
    };
    const limit = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`no complete answer in time; got ${JSON.stringify(received)}`));
    }, 10_000);
    socket.setEncoding("latin1");
    let sent = 0;
    socket.on("data", (text: string) => {
      received += text;
      const complete = splitAnswers(received).complete;
      if (complete >= expected) setTimeout(finish, 50);
      else if (sequential && complete === sent && sent < parts.length) {
        socket.write(parts[sent++]!, "utf8");
      }
    });
    socket.on("close", finish);
    socket.on("error", () => {});
    socket.on("connect", async () => {
      if (sequential) {
        socket.write(parts[sent++]!, "utf8");
        return;
      }
      for (const part of parts) {
        socket.write(part, "utf8");
        if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
      if (halfClose) socket.end();
    });
  });
}

/** Counts complete answers (heads with Content-Length bodies) in `text`. */
function splitAnswers(text: string): { complete: number } {
  let complete = 0;
  let offset = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", offset);
    if (end < 0) break;
    const head = text.slice(offset, end);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    const bodyEnd = end + 4 + (length ? Number(length[1]) : 0);
    if (text.length < bodyEnd) break;
    complete++;
    offset = bodyEnd;
  }
  return { complete };
}

const withoutDate = (text: string) => text.replace(/\r\nDate: [^\r]*/g, "\r\nDate: -");

/** Sends the fast front `requests` in one write (pipelined), node:http one after the other. */
async function samePipelined(pair: Pair, requests: readonly string[]): Promise<string> {
  const fast = withoutDate(await converse(pair.fast, [requests.join("")], requests.length));
  const plain = withoutDate(await converse(pair.plain, requests, requests.length, 0, true));
  assert.equal(fast, plain);
  return fast;
}

async function sameAnswers(
  pair: Pair,
  parts: readonly string[],
  expected: number,
  gapMs = 0,
): Promise<string> {
  const fast = withoutDate(await converse(pair.fast, parts, expected, gapMs));
  const plain = withoutDate(await converse(pair.plain, parts, expected, gapMs));
  assert.equal(fast, plain);
  assert.ok(fast.startsWith("HTTP/1.1 "), `an answer: ${JSON.stringify(fast)}`);
  return fast;
}

const put = (key: string, value: string, extra = "") =>
  `PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(value)}\r\n${extra}\r\n${value}`;
const get = (key: string, extra = "") => `GET /v1/kv/${key} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

test("single-key reads, writes and deletes answer alike, pipelined in one write", async () => {
  const before = open.fast.counters.fastRequests;
  const text = await samePipelined(open, [
    put("a", "one"),
    get("a"),
    put("a", "two"),
    get("a?consistency=stale"),
    "DELETE /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n",
    get("a"),
  ]);
  assert.match(text, /"value":"two"/);
  assert.match(text, /HTTP\/1\.1 404 Not Found/);
  assert.equal(open.fast.counters.fastRequests - before, 6, "served by the fast front");
});

test("a request split into single bytes is reassembled", async () => {
  const request = put("split", "value-split");
  await sameAnswers(open, [...request], 1, 1);
});

test("a large value arriving in many pieces is stored whole", async () => {
  const own = await startPair({ maxValueBytes: 1024 * 1024 });
  try {
    // Every piece differs, so a piece overwritten by a later read cannot pass for itself.
    const value = Array.from({ length: 45_000 }, (_, i) => i.toString(16).padStart(16, ".")).join(
      "",
    );
    const request = put("big", value);
    const pieces: string[] = [];
    for (let at = 0; at < request.length; at += 16_384) pieces.push(request.slice(at, at + 16_384));
    await sameAnswers(own, pieces, 1, 1);
    const text = await sameAnswers(own, [get("big")], 1);
    assert.ok(text.includes(value), "the stored value is the value sent");
  } finally {
    own.fast.close();
    own.plain.close();
  }
});

test("errors: bad key, bad parameter, oversized key and value, bad base64", async () => {
  await samePipelined(open, [
    get("%E0%A4%A"),
    get("k?consistency=maybe"),
    put("k?durability=never", "v"),
    get("k".repeat(17)),
    put("k?encoding=base64", "not*base64"),
    put("k?encoding=base64", Buffer.alloc(65).toString("base64")),
  ]);
  // Over the value limit: the fast front leaves it to node:http, which answers 413 itself.
  const text = await sameAnswers(open, [put("big", "v".repeat(65))], 1);
  assert.match(text, /413/);
});

test("a client that half-closes after its requests gets every answer, then the close", async () => {
  const own = await startPair();
  try {
    const fast = await converse(own.fast, [put("hc", "v") + get("hc")], 2, 0, false, true);
    assert.equal(splitAnswers(fast).complete, 2);
    assert.match(fast, /"value":"v"/);
    // node:http answers a half-closed connection the same way (one request: it would run a
    // pipelined GET before the PUT ahead of it, see the top of this file).
    const one = get("hc-none");
    const fastOne = await converse(own.fast, [one], 1, 0, false, true);
    const plainOne = await converse(own.plain, [one], 1, 0, false, true);
    assert.equal(withoutDate(fastOne), withoutDate(plainOne));
  } finally {
    own.fast.close();
    own.plain.close();
  }
});

test("Connection: close ends the connection after the answer", async () => {
  const text = await sameAnswers(open, [put("c", "v", "Connection: close\r\n")], 1);
  assert.match(text, /Connection: close/);
  // Bytes after it are not served (node:http answers them with a 400 in place of the PUT's
  // answer; the fast front answers the PUT and closes).
  const own = await startPair();
  try {
    const after = await converse(own.fast, [put("c", "w", "Connection: close\r\n") + get("c")], 1);
    assert.equal(splitAnswers(after).complete, 1);
    assert.match(after, /^HTTP\/1\.1 200 OK/);
  } finally {
    own.fast.close();
    own.plain.close();
  }
});

test("requests the fast front leaves to node:http are answered as node:http answers them", async () => {
  const handOffs = open.fast.counters.handOffs;
  const cases: Array<[string, number]> = [
    ["GET /v1/kv/h HTTP/1.0\r\nHost: x\r\n\r\n", 1],
    [
      "PUT /v1/kv/h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      1,
    ],
    ["GET /v1/kv/h HTTP/1.1\r\nHost : x\r\n\r\n", 1],
    ["GET /v1/kv/h HTTP/1.1\r\n\r\n", 1],
    ["PUT /v1/kv/h HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 1],
    ["POST /v1/kv/h HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 1],
    ["GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 1],
    ["GET /v1/kv/h HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n", 1],
    [`GET /v1/kv/h HTTP/1.1\r\nHost: x\r\nX-Long: ${"a".repeat(17 * 1024)}\r\n\r\n`, 1],
  ];
  for (const [request, answers] of cases) await sameAnswers(open, [request], answers);
  assert.equal(open.fast.counters.handOffs - handOffs, cases.length);
});

test("a kept-alive connection moves to node:http mid-way and stays correct", async () => {
  const text = await samePipelined(open, [
    put("m", "1"),
    get("m"),
    "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    get("m"),
  ]);
  assert.equal(splitAnswers(text).complete, 4);
});

test("the bearer token is required on single-key routes", async () => {
  const text = await samePipelined(protectedPair, [
    get("t"),
    get("t", "Authorization: Bearer wrong-token-0123456\r\n"),
    put("t", "v", `Authorization: Bearer ${TOKEN}\r\n`),
    get("t", `Authorization: Bearer ${TOKEN}\r\n`),
  ]);
  assert.equal((text.match(/ 401 Unauthorized/g) ?? []).length, 2);
  assert.match(text, /"value":"v"/);
});

test("parseFastHead takes only plain single-key requests", () => {
  const ok = parseFastHead("PUT /v1/kv/a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3");
  assert.deepEqual(ok, {
    method: "PUT",
    target: "/v1/kv/a?x=1",
    contentLength: 3,
    close: false,
    authorization: undefined,
  });
  assert.equal(parseFastHead("GET /v1/kv/a HTTP/1.1\r\nHost: h\r\nConnection: close")?.close, true);
  for (const head of [
    "GET /v1/kv/ HTTP/1.1\r\nHost: h",
    "GET /v1/kv HTTP/1.1\r\nHost: h",
    "GET /v1/kv/a HTTP/1.1",
    "GET /v1/kv/a HTTP/1.1\r\nHost: h\r\nHost: h",
    "GET /v1/kv/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2",
    "GET /v1/kv/a HTTP/1.1\r\nHost: h\r\nConnection: upgrade",
    "GET /v1/kv/a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue",
    "PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nContent-Length: -1",
    "PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1",
    "GET /v1/kv/a\tb HTTP/1.1\r\nHost: h",
    "GET /v1/kv/a HTTP/1.1\r\nHost: h\r\n folded",
    "get /v1/kv/a HTTP/1.1\r\nHost: h",
  ]) {
    assert.equal(parseFastHead(head), null, JSON.stringify(head));
  }
});

test("an idle kept-alive connection is closed, and a head that does not arrive gets 408", async () => {
  const pair = await startPair({ keepAliveMs: 300, headersTimeoutMs: 400 });
  try {
    // converse() returns when the server closes the connection (or fails after 10 s).
    const idle = await sameAnswers(pair, [put("i", "v")], 2);
    assert.equal(splitAnswers(idle).complete, 1);
    assert.match(idle, /Keep-Alive: timeout=0/);
    const slow = await sameAnswers(pair, ["GET /v1/kv/i HTTP/1.1\r\nHo"], 2);
    assert.equal(slow, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");
  } finally {
    pair.fast.close();
    pair.plain.close();
  }
});

test("generated conversations of single-key requests answer alike, however the bytes are split", async () => {
  const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261127);
  const keyArb = fc.oneof(
    fc.constantFrom("a", "b", "k%2Fx", "%E2%82%AC", "%E0%A4%A", "k".repeat(17), "x%20y"),
    fc.stringMatching(/^[a-z0-9_-]{1,12}$/),
  );
  const queryArb = fc.constantFrom(
    "",
    "?consistency=stale",
    "?consistency=lease",
    "?consistency=never",
    "?durability=async",
    "?durability=bad",
    "?encoding=base64",
    "?encoding=hex",
    "?x=1&y",
  );
  const valueArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    // At most the value limit: a longer body is handed to node:http (see lastArb).
    fc.constantFrom("aGVsbG8=", "not*base64", "v".repeat(64), "€uro"),
  );
  const extraArb = fc.constantFrom(
    "",
    "Connection: keep-alive\r\n",
    "X-Custom: a b\tc\r\n",
    "accept: */*\r\nuser-agent: test\r\n",
    "content-type: text/plain\r\n",
  );
  const requestArb = fc
    .record({
      method: fc.constantFrom("GET", "PUT", "DELETE"),
      key: keyArb,
      query: queryArb,
      value: valueArb,
      extra: extraArb,
    })
    .map(({ method, key, query, value, extra }) =>
      method === "PUT"
        ? put(`${key}${query}`, value, extra)
        : `${method} /v1/kv/${key}${query} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`,
    );
  // A last request the fast front leaves to node:http, or none. Only last: node:http would run
  // requests pipelined behind it concurrently (see the top of this file).
  const lastArb = fc.constantFrom(
    "",
    put("a", "v".repeat(65)),
    "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /v1/kv/a HTTP/1.0\r\n\r\n",
    "POST /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(requestArb, { minLength: 1, maxLength: 6 }),
      lastArb,
      fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 4 }),
      async (requests, last, cuts) => {
        const all = last === "" ? requests : [...requests, last];
        const own = await startPair();
        try {
          // The fast front gets the whole conversation cut at arbitrary points.
          const bytes = all.join("");
          const parts: string[] = [];
          let at = 0;
          for (const cut of [...cuts].sort((x, y) => x - y)) {
            if (cut <= at || cut >= bytes.length) continue;
            parts.push(bytes.slice(at, cut));
            at = cut;
          }
          parts.push(bytes.slice(at));
          const fast = withoutDate(await converse(own.fast, parts, all.length, 2));
          const plain = withoutDate(await converse(own.plain, all, all.length, 0, true));
          assert.equal(fast, plain);
        } finally {
          own.fast.close();
          own.plain.close();
        }
      },
    ),
    { seed, numRuns: 40 },
  );
});
