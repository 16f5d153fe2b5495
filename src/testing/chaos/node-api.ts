// Direct requests to one node's HTTP API, for clients pinned to a node (their writes go through
// that node even when it is a follower, which then forwards them), for final reads, and for the
// harness's own status and digest polls. Each call is one attempt; the answer is classified into
// the history's outcomes: ok, fail (certainly not written), unknown (may have been written).
import { Agent } from "undici";
import type { NodeStatus } from "../../client/index.ts";
import type { Completion } from "./history.ts";

/** Codes with which a node says it wrote nothing (docs/api.md). */
export const NOT_WRITTEN_CODES: ReadonlySet<string> = new Set(["NO_LEADER", "OVERLOADED"]);
/** Socket failures that prove the request never reached the node. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export interface Digest {
  readonly sha256: string;
  readonly appliedIndex: number;
  readonly revision: number;
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
}

function errorCode(error: unknown): string {
  const own = (error as { code?: unknown } | null)?.code;
  if (typeof own === "string" && own !== "") return own;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof cause === "string" ? cause : "ERROR";
}

export class NodeApi {
  readonly origin: string;
  private readonly agent: Agent;
  private readonly token: string | undefined;

  constructor(
    origin: string,
    options: { token?: string; requestTimeoutMs: number; connectTimeoutMs?: number },
  ) {
    this.origin = new URL(origin).origin;
    this.token = options.token;
    this.agent = new Agent({
      connections: 16,
      keepAliveTimeout: 4000,
      connect: { timeout: options.connectTimeoutMs ?? 1000 },
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async request(
    method: string,
    path: string,
    body?: string,
    contentType?: string,
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (contentType) headers["content-type"] = contentType;
    const response = await this.agent.request({
      origin: this.origin,
      method: method as "GET",
      path,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.body.text();
    let json: unknown = null;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      json = { error: { code: "BAD_RESPONSE", message: text.slice(0, 200) } };
    }
    return { status: response.statusCode, json };
  }

  private classifyAnswer(answer: Answer, write: boolean): Completion {
    const code = (answer.json as { error?: { code?: unknown } } | null)?.error?.code;
    const errorCode = typeof code === "string" ? code : `HTTP_${answer.status}`;
    // A write answered with anything but "nothing was written" (TIMEOUT, a 500) may have happened.
    const outcome =
      !write || NOT_WRITTEN_CODES.has(errorCode) || answer.status < 500 ? "fail" : "unknown";
    return { outcome, errorCode, node: this.origin };
  }

  private classifyThrown(error: unknown, write: boolean): Completion {
    const code = errorCode(error);
    const outcome = !write || NOT_SENT_CODES.has(code) ? "fail" : "unknown";
    return { outcome, errorCode: code, node: this.origin };
  }

  async read(key: string): Promise<Completion> {
    try {
      const answer = await this.request("GET", `/v1/kv/${encodeURIComponent(key)}`);
      if (answer.status === 200) {
        return {
          outcome: "ok",
          result: (answer.json as { value: string }).value,
          node: this.origin,
        };
      }
      const code = (answer.json as { error?: { code?: unknown } } | null)?.error?.code;
      if (answer.status === 404 && code === "KEY_NOT_FOUND")
        return { outcome: "ok", result: null, node: this.origin };
      return this.classifyAnswer(answer, false);
    } catch (error) {
      return this.classifyThrown(error, false);
    }
  }

  async write(key: string, value: string): Promise<Completion> {
    try {
      const answer = await this.request(
        "PUT",
        `/v1/kv/${encodeURIComponent(key)}`,
        value,
        "text/plain; charset=utf-8",
      );
      if (answer.status === 200) return { outcome: "ok", node: this.origin };
      return this.classifyAnswer(answer, true);
    } catch (error) {
      return this.classifyThrown(error, true);
    }
  }

  async cas(key: string, from: string | null, to: string): Promise<Completion> {
    try {
      const answer = await this.request(
        "POST",
        "/v1/txn",
        JSON.stringify(casRequest(key, from, to)),
        "application/json",
      );
      if (answer.status === 200) {
        return {
          outcome: "ok",
          swapped: (answer.json as { succeeded: boolean }).succeeded === true,
          node: this.origin,
        };
      }
      return this.classifyAnswer(answer, true);
    } catch (error) {
      return this.classifyThrown(error, true);
    }
  }

  /** The node's status, or undefined when it does not answer in time. */
  async status(): Promise<NodeStatus | undefined> {
    try {
      const answer = await this.request("GET", "/v1/status");
      return answer.status === 200 ? (answer.json as NodeStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  async digest(): Promise<Digest | undefined> {
    try {
      const answer = await this.request("GET", "/v1/admin/digest");
      return answer.status === 200 ? (answer.json as Digest) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Compare-and-swap as a transaction: compare the value (or absence), put on success. */
export function casRequest(key: string, from: string | null, to: string) {
  return {
    compare: [
      from === null
        ? { key, target: "exists" as const, op: "=" as const, value: false }
        : { key, target: "value" as const, op: "=" as const, value: from },
    ],
    success: [{ op: "put" as const, key, value: to }],
  };
}
