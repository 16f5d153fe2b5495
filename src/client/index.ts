// The TypeScript client of a hothot cluster (HTTP API v1, see docs/api.md).
//
// It knows every endpoint, sends writes to the leader when it knows it (any node would forward
// them, at the cost of a hop), spreads reads over the nodes, and retries only what is safe to
// retry: reads, and writes that provably did not reach a node (connection refused) or that a node
// refused without writing (NO_LEADER, OVERLOADED). A write whose outcome is unknown (timeout,
// connection lost after sending) is never retried; it fails with OUTCOME_UNKNOWN.
import { Agent, errors as undiciErrors } from "undici";
import { HothotError } from "./errors.ts";

export { type ClientErrorCode, HothotError } from "./errors.ts";

export type Durability = "sync" | "async";
export type Consistency = "linearizable" | "lease" | "stale";

export interface ClientOptions {
  /** Base URLs of the nodes' client APIs, e.g. ["http://127.0.0.1:7101"]. */
  readonly endpoints: readonly string[];
  /** Bearer token for nodes that require one. */
  readonly token?: string;
  /** Per-request timeout. A write that times out has an unknown outcome. */
  readonly requestTimeoutMs?: number;
  /** Attempts per call (first try included) for safely retryable failures. */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt, with full jitter, up to retryDelayMaxMs. */
  readonly retryDelayMs?: number;
  readonly retryDelayMaxMs?: number;
  /**
   * A request still unanswered after this long starts a check of its node: if the node does not
   * answer a health probe within probeTimeoutMs while another node reports a leader elsewhere,
   * the request is abandoned (a write then fails with OUTCOME_UNKNOWN, a read is retried).
   */
  readonly hungAfterMs?: number;
  /** While a request is watched: how often other nodes are asked who leads (and health re-probed). */
  readonly probeIntervalMs?: number;
  readonly probeTimeoutMs?: number;
}

export const DEFAULT_CLIENT_OPTIONS = {
  requestTimeoutMs: 5000,
  maxAttempts: 8,
  retryDelayMs: 25,
  retryDelayMaxMs: 1000,
  hungAfterMs: 250,
  probeIntervalMs: 50,
  probeTimeoutMs: 150,
} as const;

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface BinaryKeyValue extends Omit<KeyValue, "value"> {
  readonly value: Uint8Array;
}

export interface PutResult {
  /** Revision of the write; null for async writes not yet committed. */
  readonly revision: number | null;
  readonly committed: boolean;
  /** Log index of an async write. */
  readonly index?: number;
}

export interface DeleteResult {
  readonly deleted: boolean;
  readonly revision: number;
}

export interface ListResult {
  readonly items: readonly KeyValue[];
  readonly more: boolean;
  readonly next: string | null;
}

export type CompareTarget = "value" | "version" | "modRevision" | "createRevision" | "exists";
export type CompareOperator = "=" | "!=" | "<" | ">";

export interface TxnCompare {
  readonly key: string;
  readonly target: CompareTarget;
  readonly op: CompareOperator;
  readonly value: string | number | boolean;
}

export type TxnOperation =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "get"; readonly key: string };

export interface TxnRequest {
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOperation[];
  readonly failure?: readonly TxnOperation[];
}

export interface TxnResult {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly unknown[];
}

export interface MemberStatus {
  readonly id: number;
  readonly api: string;
  readonly peer?: string;
  readonly role: "voter" | "learner";
  readonly matchIndex: number | null;
  readonly lag: number | null;
  readonly lastContactMs: number | null;
}

export interface NodeStatus {
  readonly id: number;
  readonly pid: number;
  readonly role: string;
  readonly leaderId: number | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberStatus[];
}

interface CallOptions {
  readonly method: "GET" | "PUT" | "POST" | "DELETE";
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  /** Writes go to the leader first and are not retried once their outcome is unknown. */
  readonly write: boolean;
  /** Ask exactly this endpoint, without failover. */
  readonly endpoint?: string;
  /** 404 KEY_NOT_FOUND is an answer, not an error. */
  readonly notFoundIsAnswer?: boolean;
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

// Failures that prove the request never reached the server: safe to retry even for writes.
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export class HothotClient {
  private readonly endpoints: string[];
  private readonly options: Required<Omit<ClientOptions, "token" | "endpoints">>;
  private readonly token: string | undefined;
  private readonly agent: Agent;
  private leaderEndpoint: string | undefined;
  private nextRead = 0;

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) {
      throw new HothotError("INVALID_ARGUMENT", "at least one endpoint is required");
    }
    this.endpoints = options.endpoints.map((endpoint) => {
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        throw new HothotError(
          "INVALID_ARGUMENT",
          `endpoint ${JSON.stringify(endpoint)} is not a URL; use e.g. http://127.0.0.1:7101`,
        );
      }
      return url.origin;
    });
    this.options = { ...DEFAULT_CLIENT_OPTIONS, ...stripUndefined(options) };
    this.token = options.token;
    this.agent = new Agent({
      connections: 64,
      keepAliveTimeout: 4000,
      headersTimeout: this.options.requestTimeoutMs,
      bodyTimeout: this.options.requestTimeoutMs,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The endpoint currently believed to be the leader, if any. */
  get leader(): string | undefined {
    return this.leaderEndpoint;
  }

  async put(
    key: string,
    value: string | Uint8Array,
    options: { durability?: Durability } = {},
  ): Promise<PutResult> {
    const binary = typeof value !== "string";
    const query = new URLSearchParams();
    if (options.durability) query.set("durability", options.durability);
    if (binary) query.set("encoding", "base64");
    const answer = await this.call({
      method: "PUT",
      path: `/v1/kv/${encodeURIComponent(key)}${suffix(query)}`,
      body: binary ? Buffer.from(value).toString("base64") : value,
      contentType: "text/plain; charset=utf-8",
      write: true,
    });
    return answer.json as PutResult;
  }

  async get(
    key: string,
    options: { consistency?: Consistency; endpoint?: string } = {},
  ): Promise<KeyValue | undefined> {
    const query = new URLSearchParams();
    if (options.consistency) query.set("consistency", options.consistency);
    const answer = await this.call({
      method: "GET",
      path: `/v1/kv/${encodeURIComponent(key)}${suffix(query)}`,
      write: false,
      notFoundIsAnswer: true,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
    return answer.status === 404 ? undefined : (answer.json as KeyValue);
  }

  async getBinary(
    key: string,
    options: { consistency?: Consistency } = {},
  ): Promise<BinaryKeyValue | undefined> {
    const query = new URLSearchParams({ encoding: "base64" });
    if (options.consistency) query.set("consistency", options.consistency);
    const answer = await this.call({
      method: "GET",
      path: `/v1/kv/${encodeURIComponent(key)}${suffix(query)}`,
      write: false,
      notFoundIsAnswer: true,
    });
    if (answer.status === 404) return undefined;
    const kv = answer.json as KeyValue;
    return { ...kv, value: new Uint8Array(Buffer.from(kv.value, "base64")) };
  }

  async delete(key: string, options: { durability?: Durability } = {}): Promise<DeleteResult> {
    const query = new URLSearchParams();
    if (options.durability) query.set("durability", options.durability);
    const answer = await this.call({
      method: "DELETE",
      path: `/v1/kv/${encodeURIComponent(key)}${suffix(query)}`,
      write: true,
    });
    return answer.json as DeleteResult;
  }

  async list(
    options: { prefix?: string; limit?: number; after?: string; consistency?: Consistency } = {},
  ): Promise<ListResult> {
    const query = new URLSearchParams();
    if (options.prefix !== undefined) query.set("prefix", options.prefix);
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.after !== undefined) query.set("after", options.after);
    if (options.consistency) query.set("consistency", options.consistency);
    const answer = await this.call({ method: "GET", path: `/v1/kv${suffix(query)}`, write: false });
    return answer.json as ListResult;
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    const answer = await this.call({
      method: "POST",
      path: "/v1/txn",
      body: JSON.stringify(request),
      contentType: "application/json",
      write: true,
    });
    return answer.json as TxnResult;
  }

  /** The status of one node (the first reachable one when no endpoint is named). */
  async status(endpoint?: string): Promise<NodeStatus> {
    const answer = await this.call({
      method: "GET",
      path: "/v1/status",
      write: false,
      ...(endpoint ? { endpoint } : {}),
    });
    return answer.json as NodeStatus;
  }

  /** Every endpoint's status, or the error that endpoint gave. */
  async statusAll(): Promise<
    Array<{ endpoint: string; status?: NodeStatus; error?: HothotError }>
  > {
    return Promise.all(
      this.endpoints.map(async (endpoint) => {
        try {
          return { endpoint, status: await this.status(endpoint) };
        } catch (error) {
          return { endpoint, error: asHothotError(error) };
        }
      }),
    );
  }

  async transferLeadership(to: number): Promise<{ leaderId: number }> {
    const answer = await this.call({
      method: "POST",
      path: "/v1/admin/transfer-leadership",
      body: JSON.stringify({ to }),
      contentType: "application/json",
      write: true,
    });
    return answer.json as { leaderId: number };
  }

  async members(): Promise<{ members: MemberStatus[] }> {
    const answer = await this.call({ method: "GET", path: "/v1/admin/members", write: false });
    return answer.json as { members: MemberStatus[] };
  }

  async addLearner(member: { id: number; peer: string; api: string }): Promise<unknown> {
    const answer = await this.call({
      method: "POST",
      path: "/v1/admin/members",
      body: JSON.stringify(member),
      contentType: "application/json",
      write: true,
    });
    return answer.json;
  }

  async promote(id: number): Promise<unknown> {
    const answer = await this.call({
      method: "POST",
      path: `/v1/admin/members/${id}/promote`,
      write: true,
    });
    return answer.json;
  }

  async removeMember(id: number): Promise<unknown> {
    const answer = await this.call({
      method: "DELETE",
      path: `/v1/admin/members/${id}`,
      write: true,
    });
    return answer.json;
  }

  /** Learn the leader's endpoint from any node's status. */
  async refreshLeader(): Promise<string | undefined> {
    for (const endpoint of this.endpoints) {
      try {
        const answer = await this.once(endpoint, {
          method: "GET",
          path: "/v1/status",
          write: false,
        });
        if (answer.status !== 200) continue;
        const status = answer.json as NodeStatus;
        const leader = status.members?.find((member) => member.id === status.leaderId);
        if (leader?.api) {
          this.leaderEndpoint = new URL(leader.api).origin;
          return this.leaderEndpoint;
        }
      } catch {
        // try the next endpoint
      }
    }
    this.leaderEndpoint = undefined;
    return undefined;
  }

  /**
   * A request to a process that hangs (stopped, overloaded, partitioned away) would wait for the
   * whole request timeout. Once a request has waited `hungAfterMs`, watch its endpoint: if it
   * does not answer a health probe within `probeTimeoutMs` while another node reports a leader
   * elsewhere, give up on it. The two checks run independently: the health probe takes its
   * whole timeout to fail, and the cluster elects a new leader whenever it does, so the leader
   * is looked for every `probeIntervalMs` and the request is abandoned as soon as both hold
   * (waiting for a fresh health timeout each round made the abandonment lag the election by up
   * to a whole probe round). At most one probe of each kind is in flight. Returns a function
   * that stops the watch.
   */
  private watchEndpoint(endpoint: string, controller: AbortController): () => void {
    if (this.endpoints.length < 2) return () => {};
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    /** The endpoint failed its latest health probe. */
    let unresponsive = false;
    let healthInFlight = false;
    let leaderElsewhere: string | undefined;
    const decide = (): boolean => {
      if (stopped || !unresponsive || leaderElsewhere === undefined) return false;
      stopped = true;
      clearTimeout(timer);
      this.leaderEndpoint = leaderElsewhere;
      controller.abort();
      return true;
    };
    const checkHealth = () => {
      if (healthInFlight) return;
      healthInFlight = true;
      void this.answers(endpoint, "/v1/health").then((alive) => {
        healthInFlight = false;
        unresponsive = !alive;
        decide();
      });
    };
    const probe = async () => {
      if (stopped) return;
      checkHealth();
      leaderElsewhere = await this.leaderOtherThan(endpoint);
      if (stopped || decide()) return;
      timer = setTimeout(probe, this.options.probeIntervalMs);
    };
    timer = setTimeout(probe, this.options.hungAfterMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  private async answers(endpoint: string, path: string): Promise<boolean> {
    try {
      const response = await this.agent.request({
        origin: endpoint,
        method: "GET",
        path,
        signal: AbortSignal.timeout(this.options.probeTimeoutMs),
        ...(this.token ? { headers: { authorization: `Bearer ${this.token}` } } : {}),
      });
      await response.body.dump();
      return true;
    } catch {
      return false;
    }
  }

  /** The API origin of a leader some other node reports, if it is not `endpoint`. */
  private async leaderOtherThan(endpoint: string): Promise<string | undefined> {
    const others = this.endpoints.filter((candidate) => candidate !== endpoint);
    const found = await Promise.all(
      others.map(async (other) => {
        try {
          const response = await this.agent.request({
            origin: other,
            method: "GET",
            path: "/v1/status",
            signal: AbortSignal.timeout(this.options.probeTimeoutMs),
            ...(this.token ? { headers: { authorization: `Bearer ${this.token}` } } : {}),
          });
          const status = (await response.body.json()) as NodeStatus;
          const leader = status.members?.find((member) => member.id === status.leaderId);
          return leader?.api ? new URL(leader.api).origin : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    return found.find((origin) => origin !== undefined && origin !== endpoint);
  }

  private order(write: boolean): string[] {
    const start = this.nextRead++ % this.endpoints.length;
    const rotated = [...this.endpoints.slice(start), ...this.endpoints.slice(0, start)];
    if (write && this.leaderEndpoint) {
      return [
        this.leaderEndpoint,
        ...rotated.filter((endpoint) => endpoint !== this.leaderEndpoint),
      ];
    }
    return rotated;
  }

  private async call(options: CallOptions): Promise<Answer> {
    const { maxAttempts, retryDelayMs, retryDelayMaxMs } = this.options;
    let lastError: HothotError | undefined;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const candidates = options.endpoint ? [options.endpoint] : this.order(options.write);
      for (const endpoint of candidates) {
        try {
          const answer = await this.once(endpoint, options);
          if (answer.status < 400 || (answer.status === 404 && options.notFoundIsAnswer)) {
            return answer;
          }
          const error = serverError(answer, options.write);
          if (!error.retryable) throw error;
          lastError = error;
          if (error.code === "NO_LEADER" && options.write) this.leaderEndpoint = undefined;
        } catch (error) {
          const failure = this.classify(error, options.write);
          // Whatever happened, this endpoint is no longer a good guess for the leader.
          if (endpoint === this.leaderEndpoint) this.leaderEndpoint = undefined;
          if (!failure.retryable) throw failure;
          lastError = failure;
        }
      }
      if (attempt + 1 < maxAttempts) {
        if (options.write && !options.endpoint) await this.refreshLeader();
        const capMs = Math.min(retryDelayMaxMs, retryDelayMs * 2 ** attempt);
        await sleep(Math.random() * capMs);
      }
    }
    throw lastError ?? new HothotError("UNAVAILABLE", "no endpoint answered", { retryable: true });
  }

  private classify(error: unknown, write: boolean): HothotError {
    if (error instanceof HothotError) return error;
    const code = errorCode(error);
    const causeCode = errorCode((error as { cause?: unknown } | null)?.cause);
    if (NOT_SENT_CODES.has(code) || NOT_SENT_CODES.has(causeCode)) {
      return new HothotError("UNAVAILABLE", `endpoint unreachable (${code || causeCode})`, {
        retryable: true,
        cause: error,
      });
    }
    if (!write) {
      return new HothotError("UNAVAILABLE", `read failed: ${String(error)}`, {
        retryable: true,
        cause: error,
      });
    }
    const timedOut =
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError;
    return new HothotError(
      "OUTCOME_UNKNOWN",
      `${timedOut ? "the write timed out" : `the connection failed after sending (${code})`}; ` +
        "it may or may not have taken effect: read the key to find out",
      { cause: error },
    );
  }

  private async once(endpoint: string, options: CallOptions): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.contentType) headers["content-type"] = options.contentType;
    const controller = new AbortController();
    const watchdog = this.watchEndpoint(endpoint, controller);
    let response: Awaited<ReturnType<Agent["request"]>>;
    try {
      response = await this.agent.request({
        origin: endpoint,
        method: options.method,
        path: options.path,
        headers,
        signal: controller.signal,
        ...(options.body !== undefined ? { body: options.body } : {}),
      });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new HothotError(
          options.write ? "OUTCOME_UNKNOWN" : "UNAVAILABLE",
          `${endpoint} stopped answering and another node leads the cluster now` +
            (options.write
              ? "; the write may or may not have taken effect: read the key to find out"
              : ""),
          { retryable: !options.write, cause: error },
        );
      }
      throw error;
    } finally {
      watchdog();
    }
    const text = await response.body.text();
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      throw new HothotError(
        "BAD_RESPONSE",
        `${endpoint}${options.path} answered ${response.statusCode} with non-JSON: ${text.slice(0, 200)}`,
        { status: response.statusCode },
      );
    }
    const leaderHeader = response.headers["x-hothot-leader"];
    if (typeof leaderHeader === "string" && leaderHeader.length > 0) {
      try {
        this.leaderEndpoint = new URL(leaderHeader).origin;
      } catch {
        // a malformed hint is ignored; status refresh still works
      }
    }
    return { status: response.statusCode, json };
  }
}

function serverError(answer: Answer, write: boolean): HothotError {
  const body = answer.json as {
    error?: { code?: unknown; message?: unknown; retryable?: unknown };
  };
  const code = typeof body?.error?.code === "string" ? body.error.code : `HTTP_${answer.status}`;
  const message =
    typeof body?.error?.message === "string" ? body.error.message : `HTTP ${answer.status}`;
  // A node answers 504 TIMEOUT when a write was not applied in time or its forwarding to the
  // leader failed after sending: for a write that is the client's OUTCOME_UNKNOWN, one code
  // for "may or may not have taken effect" whichever side noticed it. Never retried.
  if (write && code === "TIMEOUT") {
    return new HothotError(
      "OUTCOME_UNKNOWN",
      /may or may not/.test(message)
        ? `${message}: read the key to find out`
        : `${message}; the write may or may not have taken effect: read the key to find out`,
      { status: answer.status },
    );
  }
  const retryable =
    body?.error?.retryable === true || code === "NO_LEADER" || code === "OVERLOADED";
  return new HothotError(code, message, { status: answer.status, retryable });
}

function asHothotError(error: unknown): HothotError {
  return error instanceof HothotError
    ? error
    : new HothotError("UNAVAILABLE", String(error), { cause: error });
}

function suffix(query: URLSearchParams): string {
  const text = query.toString();
  return text.length > 0 ? `?${text}` : "";
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
