// The client-facing HTTP API of a member (docs/api.md). It parses and validates requests,
// calls the member, and maps answers and typed errors to HTTP. It holds no cluster state.
import { timingSafeEqual } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import { NodeError } from "./errors.ts";
import {
  type ClusterEvent,
  type Consistency,
  type Durability,
  type KeyRecord,
  type MemberApi,
  memberAddSchema,
  transferSchema,
  txnRequestSchema,
} from "./member-api.ts";

export interface HttpApiOptions {
  readonly member: MemberApi;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Bearer token required on every route but /v1/health*. Undefined = no token required. */
  readonly token?: string;
  /** Interval of the `: ping` comment on event streams. */
  readonly eventPingIntervalMs?: number;
  /** Called once per answered request, for metrics. */
  readonly onRequest?: (route: string, method: string, status: number, durationMs: number) => void;
}

const JSON_HEADERS = { "content-type": "application/json" } as const;
const MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

interface RouteContext {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly url: RequestUrl;
  readonly method: string;
}

/** The parts of a request URL the API reads. */
export interface RequestUrl {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

const EMPTY_QUERY = new URLSearchParams();
/** Paths whose WHATWG parse is the text itself: not `//host`, no dot segments, nothing to escape. */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*$/;
const PLAIN_QUERY = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*$/;
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * Parses the request target. Plain paths (every key a client percent-encodes) skip `new URL`,
 * which is a measurable share of a request's cost; anything else gets the full WHATWG parse, so
 * both give the same pathname and query.
 */
export function parseRequestUrl(target: string): RequestUrl {
  const mark = target.indexOf("?");
  const pathname = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? "" : target.slice(mark + 1);
  if (PLAIN_PATH.test(pathname) && !DOT_SEGMENT.test(pathname) && PLAIN_QUERY.test(query)) {
    return { pathname, searchParams: query === "" ? EMPTY_QUERY : new URLSearchParams(query) };
  }
  return new URL(target, "http://node");
}

/** The node:http server for every route (the fast front in api-server.ts hands it what it does
 * not serve itself). */
export function createNodeHttpServer(
  options: HttpApiOptions,
  serverOptions: ServerOptions = {},
): Server {
  const server = createServer(serverOptions, (request, response) => {
    const startedAt = performance.now();
    let route = "unknown";
    const finish = (status: number) => {
      options.onRequest?.(route, request.method ?? "?", status, performance.now() - startedAt);
    };
    response.on("finish", () => finish(response.statusCode));
    const leader = options.member.leaderApi();
    if (leader) response.setHeader("x-hothot-leader", leader);
    let url: RequestUrl;
    try {
      url = parseRequestUrl(request.url ?? "/");
    } catch {
      sendError(response, new NodeError("INVALID_REQUEST", "the request URL cannot be parsed"));
      return;
    }
    route = routeName(url.pathname);
    const context: RouteContext = { request, response, url, method: request.method ?? "GET" };
    if (options.token !== undefined && !url.pathname.startsWith("/v1/health")) {
      if (!authorized(request.headers.authorization, options.token)) {
        sendError(
          response,
          new NodeError(
            "UNAUTHORIZED",
            "send `Authorization: Bearer <token>` with the token from the node configuration",
          ),
        );
        return;
      }
    }
    handle(context, options).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      sendError(response, asNodeError(error));
    });
  });
  return server;
}

const ROUTES = new Set([
  "/v1/kv",
  "/v1/txn",
  "/v1/status",
  "/v1/health",
  "/v1/health/leader",
  "/v1/health/replica",
  "/v1/events",
  "/metrics",
  "/v1/admin/bootstrap",
  "/v1/admin/digest",
  "/v1/admin/transfer-leadership",
  "/v1/admin/members",
]);

/** The metrics label of a path: a route template, or "unmatched" (never the raw path, which a
 * client could vary without bound). */
function routeName(pathname: string): string {
  if (pathname.startsWith("/v1/kv/")) return "/v1/kv/{key}";
  if (pathname.startsWith("/v1/admin/members/")) return "/v1/admin/members/{id}";
  return ROUTES.has(pathname) ? pathname : "unmatched";
}

async function handle(context: RouteContext, options: HttpApiOptions): Promise<void> {
  const { url, method, response } = context;
  const member = options.member;
  const path = url.pathname;

  if (path.startsWith("/v1/kv/")) {
    // The key is checked before a body is read, so a bad key is what the client hears about.
    decodeKey(path.slice("/v1/kv/".length), options.maxKeyBytes);
    const body =
      method === "PUT"
        ? await readBody(
            context.request,
            encodingOf(url) === "base64" ? options.maxValueBytes * 2 : options.maxValueBytes,
            "VALUE_TOO_LARGE",
          )
        : null;
    return sendAnswer(response, await answerKv(options, method, url, body));
  }

  switch (path) {
    case "/v1/kv": {
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      const prefix = url.searchParams.get("prefix") ?? "";
      const after = url.searchParams.get("after") ?? undefined;
      const limit = integerParam(url, "limit", 100, 1, 1000);
      const answer = await member.list({ prefix, after, limit }, consistencyOf(url));
      response.setHeader("x-hothot-applied-index", String(answer.appliedIndex));
      const base64 = encodingOf(url) === "base64";
      return sendJson(response, 200, {
        items: answer.value.items.map((record) => recordJson(record, base64)),
        more: answer.value.more,
        next: answer.value.next,
      });
    }
    case "/v1/txn": {
      if (method !== "POST") return methodNotAllowed(response, ["POST"]);
      const parsed = txnRequestSchema.safeParse(await readJson(context.request));
      if (!parsed.success) throw invalid(parsed.error.issues);
      for (const compare of parsed.data.compare)
        decodeKey(encodeURIComponent(compare.key), options.maxKeyBytes);
      const answer = await member.txn(parsed.data, durabilityOf(url));
      const base64 = parsed.data.encoding === "base64";
      return sendJson(response, 200, {
        ...answer,
        results: answer.results.map((result) =>
          result.op === "get"
            ? { op: "get", kv: result.kv ? recordJson(result.kv, base64) : null }
            : result,
        ),
      });
    }
    case "/v1/status":
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      return sendJson(response, 200, member.status());
    case "/v1/health":
    case "/v1/health/leader":
    case "/v1/health/replica":
      if (method !== "GET" && method !== "HEAD") return methodNotAllowed(response, ["GET", "HEAD"]);
      return health(context, member);
    case "/v1/events":
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      return events(context, member, options.eventPingIntervalMs ?? 5000);
    case "/metrics": {
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      const text = await member.metricsText();
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      response.end(text);
      return;
    }
    case "/v1/admin/bootstrap":
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      return sendJson(response, 200, member.bootstrap());
    case "/v1/admin/digest":
      if (method !== "GET") return methodNotAllowed(response, ["GET"]);
      return sendJson(response, 200, member.digest());
    case "/v1/admin/transfer-leadership": {
      if (method !== "POST") return methodNotAllowed(response, ["POST"]);
      const parsed = transferSchema.safeParse(await readJson(context.request));
      if (!parsed.success) throw invalid(parsed.error.issues);
      return sendJson(response, 200, await member.transferLeadership(parsed.data.to));
    }
    case "/v1/admin/members": {
      if (method === "GET") return sendJson(response, 200, { members: member.status().members });
      if (method !== "POST") return methodNotAllowed(response, ["GET", "POST"]);
      const parsed = memberAddSchema.safeParse(await readJson(context.request));
      if (!parsed.success) throw invalid(parsed.error.issues);
      await member.addLearner(parsed.data);
      return sendJson(response, 200, { members: member.status().members });
    }
  }

  const memberPath = /^\/v1\/admin\/members\/(\d+)(\/promote)?$/.exec(path);
  if (memberPath) {
    const id = Number(memberPath[1]);
    if (memberPath[2]) {
      if (method !== "POST") return methodNotAllowed(response, ["POST"]);
      await member.promote(id);
    } else {
      if (method !== "DELETE") return methodNotAllowed(response, ["DELETE"]);
      await member.removeMember(id);
    }
    return sendJson(response, 200, { members: member.status().members });
  }
  throw new NodeError(
    "ROUTE_NOT_FOUND",
    `no route ${method} ${path}; see docs/api.md for the routes`,
  );
}

/** An answer to send: what both the node:http server and the fast front (api-server.ts) write. */
export interface ApiAnswer {
  readonly status: number;
  /** JSON text. */
  readonly body: string;
  /** Headers besides content-type and content-length (lower-case names). */
  readonly headers: Readonly<Record<string, string>> | undefined;
}

/**
 * Answers a request to `/v1/kv/{key}` (`url.pathname` starts with it). `body` is the request
 * body of a PUT, already bounded by the caller (the value limit, twice that for base64);
 * null for other methods. Throws NodeError for bad input and failed operations.
 */
export async function answerKv(
  options: HttpApiOptions,
  method: string,
  url: RequestUrl,
  body: Buffer | null,
): Promise<ApiAnswer> {
  const member = options.member;
  const key = decodeKey(url.pathname.slice("/v1/kv/".length), options.maxKeyBytes);
  const base64 = encodingOf(url) === "base64";
  switch (method) {
    case "GET": {
      const answer = await member.get(key, consistencyOf(url));
      const headers = { "x-hothot-applied-index": String(answer.appliedIndex) };
      if (!answer.value) {
        return errorAnswer(
          new NodeError("KEY_NOT_FOUND", `key ${JSON.stringify(key)} does not exist`),
          headers,
        );
      }
      return { status: 200, body: JSON.stringify(recordJson(answer.value, base64)), headers };
    }
    case "PUT": {
      const raw = body ?? Buffer.alloc(0);
      const value = base64 ? decodeBase64(raw.toString("utf8")) : raw;
      if (value.length > options.maxValueBytes) {
        throw new NodeError(
          "VALUE_TOO_LARGE",
          `the value is ${value.length} bytes; the limit is ${options.maxValueBytes} (limits.maxValueBytes)`,
        );
      }
      const result = await member.put(key, value, durabilityOf(url));
      return { status: 200, body: JSON.stringify(result), headers: undefined };
    }
    case "DELETE": {
      const result = await member.delete(key, durabilityOf(url));
      return { status: 200, body: JSON.stringify(result), headers: undefined };
    }
    default:
      return methodNotAllowedAnswer(["GET", "PUT", "DELETE"]);
  }
}

/** The answer for a failed request: the error's status and JSON, Retry-After where it has one. */
export function errorAnswer(error: unknown, headers?: Readonly<Record<string, string>>): ApiAnswer {
  const nodeError = asNodeError(error);
  const retryAfter =
    nodeError.retryAfterSeconds === undefined
      ? undefined
      : { "retry-after": String(nodeError.retryAfterSeconds) };
  return {
    status: nodeError.status,
    body: JSON.stringify(nodeError.toJSON()),
    headers: headers && retryAfter ? { ...headers, ...retryAfter } : (headers ?? retryAfter),
  };
}

function methodNotAllowedAnswer(allowed: string[]): ApiAnswer {
  return errorAnswer(
    new NodeError("METHOD_NOT_ALLOWED", `use one of ${allowed.join(", ")} on this route`),
    { allow: allowed.join(", ") },
  );
}

function health(context: RouteContext, member: MemberApi): void {
  const status = member.status();
  const path = context.url.pathname;
  let healthy: boolean;
  let reason: string;
  if (path === "/v1/health/leader") {
    healthy = status.role === "leader";
    reason = healthy ? "leader" : `not the leader (role ${status.role})`;
  } else if (path === "/v1/health/replica") {
    const maxLag = integerParam(
      context.url,
      "maxLag",
      Number.MAX_SAFE_INTEGER,
      0,
      Number.MAX_SAFE_INTEGER,
    );
    const lag = Math.max(0, status.commitIndex - status.appliedIndex);
    healthy = status.role !== "leader" && status.leaderId !== null && lag <= maxLag;
    reason = healthy
      ? `replica, lag ${lag}`
      : status.role === "leader"
        ? "leader, not a replica"
        : status.leaderId === null
          ? "no leader known"
          : `lag ${lag} over ${maxLag}`;
  } else {
    healthy = status.leaderId !== null;
    reason = healthy ? "member of a cluster with a leader" : "no leader known";
  }
  sendJson(context.response, healthy ? 200 : 503, {
    healthy,
    reason,
    role: status.role,
    leaderId: status.leaderId,
    term: status.term,
    appliedIndex: status.appliedIndex,
  });
}

function events(context: RouteContext, member: MemberApi, pingIntervalMs: number): void {
  const { request, response } = context;
  response.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const write = (event: ClusterEvent) => {
    response.write(`event: status\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const status = member.status();
  write({
    id: status.id,
    role: status.role,
    leaderId: status.leaderId,
    term: status.term,
    members: status.members.map(({ id, api, role }) => ({ id, api, role })),
  });
  const unsubscribe = member.subscribe(write);
  const ping = setInterval(() => response.write(": ping\n\n"), pingIntervalMs);
  ping.unref();
  const stop = () => {
    clearInterval(ping);
    unsubscribe();
  };
  request.on("close", stop);
  response.on("error", stop);
}

/** Whether an Authorization header value carries the bearer token (constant time). */
export function authorized(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const actual = Buffer.from(header ?? "");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function decodeKey(encoded: string, maxKeyBytes: number): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw new NodeError("INVALID_REQUEST", "the key is not valid URL-encoded UTF-8");
  }
  if (key.length === 0) throw new NodeError("INVALID_REQUEST", "the key must not be empty");
  const size = Buffer.byteLength(key);
  if (size > maxKeyBytes) {
    throw new NodeError(
      "KEY_TOO_LARGE",
      `the key is ${size} bytes; the limit is ${maxKeyBytes} (limits.maxKeyBytes)`,
    );
  }
  return key;
}

function consistencyOf(url: RequestUrl): Consistency {
  const value = url.searchParams.get("consistency") ?? "linearizable";
  if (value === "linearizable" || value === "lease" || value === "stale") return value;
  throw new NodeError(
    "INVALID_REQUEST",
    `consistency must be linearizable, lease or stale, not ${JSON.stringify(value)}`,
  );
}

function durabilityOf(url: RequestUrl): Durability {
  const value = url.searchParams.get("durability") ?? "sync";
  if (value === "sync" || value === "async") return value;
  throw new NodeError(
    "INVALID_REQUEST",
    `durability must be sync or async, not ${JSON.stringify(value)}`,
  );
}

function encodingOf(url: RequestUrl): "utf8" | "base64" {
  const value = url.searchParams.get("encoding") ?? "utf8";
  if (value === "utf8" || value === "base64") return value;
  throw new NodeError(
    "INVALID_REQUEST",
    `encoding must be utf8 or base64, not ${JSON.stringify(value)}`,
  );
}

function integerParam(
  url: RequestUrl,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new NodeError("INVALID_REQUEST", `${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function decodeBase64(text: string): Uint8Array {
  const trimmed = text.trim();
  if (trimmed.length % 4 !== 0 || !BASE64.test(trimmed)) {
    throw new NodeError("INVALID_BASE64", "the body is not valid base64 (RFC 4648, with padding)");
  }
  return new Uint8Array(Buffer.from(trimmed, "base64"));
}

function recordJson(record: KeyRecord, base64: boolean): Record<string, unknown> {
  return {
    key: record.key,
    value: base64
      ? Buffer.from(record.value).toString("base64")
      : Buffer.from(record.value).toString("utf8"),
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
  };
}

function readBody(
  request: IncomingMessage,
  limitBytes: number,
  code: "VALUE_TOO_LARGE" | "BODY_TOO_LARGE",
): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? "0");
  if (declared > limitBytes) {
    request.resume();
    return Promise.reject(
      new NodeError(code, `the body is ${declared} bytes; the limit is ${limitBytes}`),
    );
  }
  if (request.readableEnded) return Promise.resolve(Buffer.alloc(0));
  // Plain listeners rather than an async iterator: this runs for every write, and the
  // iterator's promises and wrappers were a measurable share of a leader's allocations.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        request.resume();
        reject(new NodeError(code, `the body is over the limit of ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      if (request.complete) return;
      cleanup();
      reject(new Error("the client closed the connection before the whole body arrived"));
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
    request.on("close", onClose);
  });
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const body = await readBody(request, MAX_JSON_BODY_BYTES, "BODY_TOO_LARGE");
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new NodeError("INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

function invalid(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): NodeError {
  const text = issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join(".") || "(body)"}: ${issue.message}`)
    .join("; ");
  return new NodeError("INVALID_REQUEST", text);
}

function asNodeError(error: unknown): NodeError {
  if (error instanceof NodeError) return error;
  return new NodeError("INTERNAL", `internal error: ${(error as Error)?.message ?? String(error)}`);
}

function methodNotAllowed(response: ServerResponse, allowed: string[]): void {
  sendAnswer(response, methodNotAllowedAnswer(allowed));
}

function sendAnswer(response: ServerResponse, answer: ApiAnswer): void {
  if (answer.headers) {
    for (const name in answer.headers) response.setHeader(name, answer.headers[name]!);
  }
  response.writeHead(answer.status, {
    ...JSON_HEADERS,
    "content-length": Buffer.byteLength(answer.body),
  });
  response.end(answer.body);
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  sendAnswer(response, { status, body: JSON.stringify(value), headers: undefined });
}

function sendError(response: ServerResponse, error: NodeError): void {
  sendAnswer(response, errorAnswer(error));
}
