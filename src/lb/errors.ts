// Typed errors of the load balancer. Every error has a stable `code` callers can match on and a
// message that says what went wrong and what to do about it.

export type LbErrorCode =
  | "LB_CONFIG_INVALID"
  | "LB_CONFIG_UNREADABLE"
  | "LB_UNKNOWN_UPSTREAM"
  | "LB_ADMIN_REQUEST_FAILED"
  | "LB_STATE_FILE_INVALID"
  | "LB_LISTEN_FAILED"
  | "LB_WORKER_FAILED";

export class LbError extends Error {
  readonly code: LbErrorCode;

  constructor(code: LbErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LbError";
    this.code = code;
  }
}

/** Configuration that failed validation; `field` is the dotted path of the first bad field. */
export class LbConfigError extends LbError {
  readonly field: string;

  constructor(field: string, message: string) {
    super("LB_CONFIG_INVALID", `invalid load balancer configuration at "${field}": ${message}`);
    this.name = "LbConfigError";
    this.field = field;
  }
}

/** Thrown where an invariant the code relies on is broken: a bug, never a user error. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`hothot lb invariant violated: ${message}`);
}
