// Errors a node reports to its clients. `code` is stable and documented in docs/api.md; the HTTP
// status and retryability travel with it so every layer answers the same way.

export type NodeErrorCode =
  | "INVALID_JSON"
  | "INVALID_REQUEST"
  | "INVALID_BASE64"
  | "UNAUTHORIZED"
  | "KEY_NOT_FOUND"
  | "ROUTE_NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "KEY_TOO_LARGE"
  | "VALUE_TOO_LARGE"
  | "BODY_TOO_LARGE"
  | "NO_LEADER"
  | "OVERLOADED"
  | "NOT_LEADER"
  | "MEMBERSHIP_CHANGE_REFUSED"
  | "TRANSFER_FAILED"
  | "STORAGE_FAILED"
  | "TIMEOUT"
  | "INTERNAL";

const STATUS: Record<NodeErrorCode, number> = {
  INVALID_JSON: 400,
  INVALID_REQUEST: 400,
  INVALID_BASE64: 400,
  UNAUTHORIZED: 401,
  KEY_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  KEY_TOO_LARGE: 413,
  VALUE_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  MEMBERSHIP_CHANGE_REFUSED: 409,
  TRANSFER_FAILED: 409,
  NO_LEADER: 503,
  OVERLOADED: 503,
  NOT_LEADER: 503,
  STORAGE_FAILED: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};

const RETRYABLE = new Set<NodeErrorCode>(["NO_LEADER", "OVERLOADED", "NOT_LEADER"]);

export class NodeError extends Error {
  readonly code: NodeErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  readonly retryAfterSeconds: number | undefined;
  constructor(code: NodeErrorCode, message: string, options: { retryAfterSeconds?: number } = {}) {
    super(message);
    this.name = "NodeError";
    this.code = code;
    this.status = STATUS[code];
    this.retryable = RETRYABLE.has(code);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  toJSON(): { error: { code: string; message: string; retryable: boolean } } {
    return { error: { code: this.code, message: this.message, retryable: this.retryable } };
  }
}
