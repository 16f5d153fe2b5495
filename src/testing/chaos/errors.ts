// Typed errors of the chaos harness. `code` is stable; the message says what to do.
export type DrillErrorCode =
  | "INVALID_OPTION"
  | "NETNS_UNAVAILABLE"
  | "NETNS_COMMAND_FAILED"
  | "CLUSTER_NOT_READY"
  | "DIRECTORY_NOT_EMPTY"
  | "INTERRUPTED";

export class DrillError extends Error {
  readonly code: DrillErrorCode;
  constructor(code: DrillErrorCode, message: string) {
    super(message);
    this.name = "DrillError";
    this.code = code;
  }
}
