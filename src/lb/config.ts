// Load balancer configuration: one zod schema is the single place where every field, its limit
// and its default are defined. Configuration is validated once, here, at the edge; the rest of
// the code trusts the resolved `LbConfig`.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { LbConfigError, LbError } from "./errors.ts";

const positiveMs = (max: number) => z.number().int().min(1).max(max);

export const policyTypes = [
  "round-robin",
  "weighted-round-robin",
  "least-outstanding",
  "random",
  "p2c",
  "consistent-hash",
] as const;
export type PolicyType = (typeof policyTypes)[number];

const upstreamSchema = z
  .object({
    /** Stable name used by the admin API, metrics and the state file. Defaults to host:port. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "use 1-64 letters, digits, '_', '.', ':' or '-'")
      .optional(),
    /** http://host:port or https://host:port (http mode); tcp://host:port or host:port (tcp mode). */
    url: z.string().min(1),
    /** Relative share for weighted round robin and consistent hashing. */
    weight: z.number().int().min(1).max(1000).default(1),
  })
  .strict();

const schema = z
  .object({
    /** http: layer-7 reverse proxy; tcp: layer-4 byte pipe. */
    mode: z.enum(["http", "tcp"]).default("http"),
    /** HOST:PORT the proxy accepts clients on. */
    listen: z.string().default("127.0.0.1:8080"),
    /** Processes serving traffic. 1 runs everything in one process; N > 1 forks N workers that
     * share the listening socket while the primary owns health checks and verdicts. "auto" uses
     * one worker per available CPU (measured ~1.4x the throughput of one process on 2 cores). */
    workers: z.union([z.number().int().min(1).max(64), z.literal("auto")]).default("auto"),
    /** Seed for the policies' random choices; omit for a clock-derived seed. */
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    upstreams: z.array(upstreamSchema).max(1024).default([]),
    /** HTTP client to the upstreams: "native", the proxy's own lean HTTP/1.1 client (less CPU
     * per request), or "undici". */
    upstreamClient: z.enum(["native", "undici"]).default("native"),
    /** Client side of HTTP mode: "raw", the proxy's own HTTP/1.1 request parser on plain
     * sockets (about half the CPU per request of Node.js' server objects), which hands anything
     * it does not handle itself (Upgrade, Expect, CONNECT, transfer codings other than chunked)
     * to a node:http server; or "node", node:http for every request. */
    frontend: z.enum(["raw", "node"]).default("raw"),
    policy: z
      .object({
        type: z.enum(policyTypes).default("p2c"),
        /** Consistent hashing key: "header:NAME", "cookie:NAME" or "client-address". */
        hashKey: z
          .string()
          .regex(
            /^(header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[^\s;=]+|client-address)$/,
            'use "header:NAME", "cookie:NAME" or "client-address"',
          )
          .default("client-address"),
        /** Points per unit of weight on the hash ring: more points, smoother spread. */
        virtualNodes: z.number().int().min(1).max(1000).default(160),
      })
      .strict()
      .prefault({}),
    healthCheck: z
      .object({
        enabled: z.boolean().default(true),
        /** Defaults to "http" in http mode and "tcp" in tcp mode. */
        type: z.enum(["http", "tcp"]).optional(),
        path: z.string().startsWith("/").default("/"),
        /** An exact status code or a class such as "2xx". */
        expectedStatus: z
          .union([z.number().int().min(100).max(599), z.enum(["2xx", "3xx", "4xx"])])
          .default("2xx"),
        intervalMs: positiveMs(3_600_000).default(2000),
        /** Interval while a server is changing state (between the first and the rise-th/fall-th
         * result), so that a verdict is reached quickly without checking stable servers often. */
        fastIntervalMs: positiveMs(3_600_000).default(250),
        /** Interval while a server is down (HAProxy's downinter): how soon a recovered server
         * is first noticed. */
        downIntervalMs: positiveMs(3_600_000).default(1000),
        timeoutMs: positiveMs(60_000).default(1000),
        rise: z.number().int().min(1).max(100).default(2),
        fall: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .prefault({}),
    outlier: z
      .object({
        enabled: z.boolean().default(true),
        /** A refused or reset connection is strong evidence that the process is gone. */
        consecutiveConnectErrors: z.number().int().min(1).max(1000).default(1),
        consecutive5xx: z.number().int().min(1).max(1000).default(5),
        baseEjectionMs: positiveMs(3_600_000).default(2000),
        maxEjectionMs: positiveMs(86_400_000).default(60_000),
        /** Ejections within this time of the previous one double the backoff. */
        ejectionMemoryMs: positiveMs(86_400_000).default(300_000),
        /** Never eject more than this share of the upstreams (at least one may always go). */
        maxEjectionPercent: z.number().int().min(0).max(100).default(50),
        /** Below this share of usable upstreams, send to every upstream not in drain or
         * maintenance instead: better some errors than overloading the last survivors. */
        panicThresholdPercent: z.number().int().min(0).max(100).default(50),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        /** Further attempts per request after the first. */
        maxRetries: z.number().int().min(0).max(10).default(2),
        /** Retries may add at most this share of the request rate (10 s window)... */
        budgetPercent: z.number().int().min(0).max(100).default(20),
        /** ...plus this many per second, so that a quiet proxy can still retry. */
        minRetriesPerSecond: z.number().int().min(0).max(100_000).default(10),
        /** Request bodies up to this size are held so that they can be re-sent; larger or
         * unsized bodies are streamed and such requests are retried only on connect failure
         * before the body is touched. */
        maxBufferedBodyBytes: z
          .number()
          .int()
          .min(0)
          .max(16 * 1024 * 1024)
          .default(64 * 1024),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        connectMs: positiveMs(600_000).default(2000),
        /** Time for an upstream to send response headers. */
        responseHeadersMs: positiveMs(3_600_000).default(30_000),
        /** Longest silence between two chunks of an upstream's response body. */
        bodyIdleMs: positiveMs(3_600_000).default(30_000),
        /** Idle pooled upstream connections are closed after this; keep it shorter than the
         * upstreams' own keep-alive (Node.js 5 s, nginx 75 s) so a request is never sent on a
         * connection the upstream is closing. */
        upstreamKeepAliveMs: positiveMs(3_600_000).default(4000),
        /** Idle client connections are closed after this. */
        clientKeepAliveMs: positiveMs(3_600_000).default(15_000),
        /** Time for a client to send its request headers. */
        clientHeadersMs: positiveMs(3_600_000).default(10_000),
        /** Time for a client to send its whole request. */
        clientRequestMs: positiveMs(3_600_000).default(60_000),
        /** TCP mode: a connection idle in both directions this long is closed. */
        tcpIdleMs: positiveMs(86_400_000).default(300_000),
        /** On shutdown, in-flight requests get this long to finish. */
        drainMs: positiveMs(3_600_000).default(10_000),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Pooled connections per upstream (per worker). */
        maxConnectionsPerUpstream: z.number().int().min(1).max(100_000).default(128),
        /** Requests in flight per upstream (per worker) before it is skipped. */
        maxOutstandingPerUpstream: z.number().int().min(1).max(1_000_000).default(1024),
        maxClientConnections: z.number().int().min(1).max(1_000_000).default(10_000),
        maxHeaderBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024)
          .default(16 * 1024),
      })
      .strict()
      .prefault({}),
    cluster: z
      .object({
        /** Any reachable members' API URLs; the rest are learned from their event streams. */
        seeds: z.array(z.string().url()).min(1).max(64),
        /** Pause before trying the next member after an event stream is lost. */
        reconnectDelayMs: positiveMs(60_000).default(100),
        /** A stream silent this long (no event, no ping) is considered lost. */
        streamIdleTimeoutMs: positiveMs(600_000).default(15_000),
        /** Without a stream, /v1/health/leader is polled at this interval. */
        leaderPollIntervalMs: positiveMs(600_000).default(1000),
      })
      .strict()
      .optional(),
    admin: z
      .object({
        /** HOST:PORT of the admin endpoint (status page, /metrics, drain/maintenance/ready);
         * null disables it. Keep it on a loopback or private address. */
        listen: z.string().nullable().default("127.0.0.1:9901"),
        /** Where drain/maintenance states are persisted across restarts; null keeps them in
         * memory only. */
        stateFile: z.string().nullable().default("hothot-lb-state.json"),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type LbConfigInput = z.input<typeof schema>;
type ParsedConfig = z.output<typeof schema>;

export interface UpstreamSpec {
  name: string;
  /** Normalised: http(s)://host:port in http mode, tcp://host:port in tcp mode. */
  url: string;
  host: string;
  port: number;
  tls: boolean;
  weight: number;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export type LbConfig = Omit<
  ParsedConfig,
  "upstreams" | "listen" | "healthCheck" | "admin" | "workers"
> & {
  listen: ListenAddress;
  workers: number;
  upstreams: UpstreamSpec[];
  healthCheck: ParsedConfig["healthCheck"] & { type: "http" | "tcp" };
  admin: { listen: ListenAddress | null; stateFile: string | null };
};

export function parseListenAddress(text: string, field: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new LbConfigError(field, `expected HOST:PORT (e.g. 127.0.0.1:8080), got "${text}"`);
  }
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

function parseUpstreamUrl(
  raw: string,
  mode: "http" | "tcp",
  field: string,
): { url: string; host: string; port: number; tls: boolean } {
  const text = mode === "tcp" && !raw.includes("://") ? `tcp://${raw}` : raw;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LbConfigError(field, `"${raw}" is not a URL; write e.g. http://127.0.0.1:3000`);
  }
  const allowed = mode === "http" ? ["http:", "https:"] : ["tcp:"];
  if (!allowed.includes(url.protocol)) {
    throw new LbConfigError(
      field,
      `"${raw}" has scheme ${url.protocol} but ${mode} mode needs ${allowed.join(" or ")}`,
    );
  }
  if (url.pathname !== "/" && url.pathname !== "" && mode === "http") {
    throw new LbConfigError(field, `"${raw}" has a path; upstream URLs are origins only`);
  }
  const tls = url.protocol === "https:";
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  if (mode === "tcp" && !url.port) throw new LbConfigError(field, `"${raw}" needs a port`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return { url: `${url.protocol}//${url.host}`, host, port, tls };
}

/** Validates raw configuration (from YAML or flags) and resolves defaults. */
export function parseLbConfig(input: unknown): LbConfig {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    let path = issue.path.map(String).join(".") || "(root)";
    if (issue.code === "unrecognized_keys") {
      path = [...issue.path.map(String), issue.keys[0] ?? ""].filter(Boolean).join(".");
      throw new LbConfigError(path, `unknown field; check its spelling against docs/lb.md`);
    }
    throw new LbConfigError(path, issue.message);
  }
  const parsed = result.data;
  const listen = parseListenAddress(parsed.listen, "listen");
  const names = new Set<string>();
  const upstreams = parsed.upstreams.map((upstream, index): UpstreamSpec => {
    const field = `upstreams.${index}.url`;
    const target = parseUpstreamUrl(upstream.url, parsed.mode, field);
    const name = upstream.name ?? `${target.host}:${target.port}`;
    if (names.has(name)) {
      throw new LbConfigError(`upstreams.${index}.name`, `duplicate upstream name "${name}"`);
    }
    names.add(name);
    return { name, weight: upstream.weight, ...target };
  });
  if (parsed.cluster) {
    if (parsed.mode !== "http") {
      throw new LbConfigError("cluster", "cluster-aware mode needs mode: http");
    }
    if (upstreams.length > 0) {
      throw new LbConfigError(
        "upstreams",
        "with cluster the upstreams are the cluster's members; remove upstreams",
      );
    }
  } else if (upstreams.length === 0) {
    throw new LbConfigError("upstreams", "at least one upstream (or cluster.seeds) is required");
  }
  if (parsed.timeouts.clientHeadersMs > parsed.timeouts.clientRequestMs) {
    throw new LbConfigError("timeouts.clientHeadersMs", "must not exceed timeouts.clientRequestMs");
  }
  if (parsed.outlier.maxEjectionMs < parsed.outlier.baseEjectionMs) {
    throw new LbConfigError("outlier.maxEjectionMs", "must be at least outlier.baseEjectionMs");
  }
  const healthType = parsed.healthCheck.type ?? parsed.mode;
  const healthPath = parsed.cluster && parsed.healthCheck.path === "/" ? "/v1/health" : null;
  return {
    ...parsed,
    listen,
    workers: parsed.workers === "auto" ? Math.min(availableParallelism(), 64) : parsed.workers,
    upstreams,
    healthCheck: {
      ...parsed.healthCheck,
      type: healthType,
      path: healthPath ?? parsed.healthCheck.path,
    },
    admin: {
      listen:
        parsed.admin.listen === null
          ? null
          : parseListenAddress(parsed.admin.listen, "admin.listen"),
      stateFile: parsed.admin.stateFile,
    },
  };
}

/** Reads and validates a YAML (or JSON) configuration file. */
export function loadLbConfigFile(path: string, overrides: Record<string, unknown> = {}): LbConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new LbError("LB_CONFIG_UNREADABLE", `cannot read ${path}: check the --config path`, {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new LbConfigError("(file)", `${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new LbConfigError("(root)", `${path} must hold a mapping of fields`);
  }
  return parseLbConfig({ ...(raw as Record<string, unknown>), ...overrides });
}

/** The upstream for a cluster member's API URL, named host:port so that admin states in the
 * state file keep applying whether the member was learned from a seed or an event stream. */
export function memberUpstream(api: string): UpstreamSpec {
  const target = parseUpstreamUrl(api, "http", `cluster member ${api}`);
  return { name: `${target.host}:${target.port}`, weight: 1, ...target };
}
