// Typed errors of the client. `code` is stable: server codes come through unchanged (see
// docs/api.md), client-side failures have codes of their own.

export type ClientErrorCode =
  // The client could not reach any endpoint (connection refused, reset before an answer).
  | "UNAVAILABLE"
  // A write may or may not have taken effect (timeout or connection lost after sending).
  | "OUTCOME_UNKNOWN"
  // The server answered something that is not the documented JSON.
  | "BAD_RESPONSE"
  // Invalid arguments to a client call.
  | "INVALID_ARGUMENT"
  // Any code the server sent, e.g. KEY_TOO_LARGE, NO_LEADER, OVERLOADED.
  | (string & {});

export class HothotError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status when the server answered, else 0. */
  readonly status: number;
  /** True when retrying the same request is safe and may succeed. */
  readonly retryable: boolean;
  constructor(
    code: ClientErrorCode,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HothotError";
    this.code = code;
    this.status = options.status ?? 0;
    this.retryable = options.retryable ?? false;
  }
}
