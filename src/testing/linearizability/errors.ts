// Typed errors of the checker. Every message names the file and line when there is one and
// says what to do.

export type CheckerErrorCode =
  | "HISTORY_PARSE"
  | "HISTORY_FORMAT_UNKNOWN"
  | "HISTORY_MODEL_MISMATCH"
  | "HISTORY_TOO_LARGE";

export class CheckerError extends Error {
  readonly code: CheckerErrorCode;
  constructor(code: CheckerErrorCode, message: string) {
    super(message);
    this.name = "CheckerError";
    this.code = code;
  }
}

export class HistoryParseError extends CheckerError {
  readonly source: string;
  readonly line: number;
  constructor(source: string, line: number, problem: string) {
    super("HISTORY_PARSE", `${source}:${line}: ${problem}`);
    this.name = "HistoryParseError";
    this.source = source;
    this.line = line;
  }
}
