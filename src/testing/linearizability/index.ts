// Public entry of the linearizability checker: parse a history (JSON lines, Jepsen register logs,
// EDN key-value histories), check it against a register or key-value model, explain violations.
export {
  type CheckOptions,
  checkHistory,
  DEFAULT_MAX_CACHE_BYTES,
  DEFAULT_TIMEOUT_MS,
  inferModel,
} from "./check.ts";
export { CheckerError, type CheckerErrorCode, HistoryParseError } from "./errors.ts";
export { describeOperation, explainResult } from "./explain.ts";
export { ILLEGAL, kvModel, type Model, modelByName, registerModel, stepCell } from "./models.ts";
export {
  checkHistoryParallel,
  MAX_WORKERS,
  type ParallelCheckOptions,
} from "./parallel.ts";
export { detectFormat, HISTORY_FORMATS, parseHistory } from "./parse.ts";
export type { JsonlEvent, JsonlTime, JsonlValue } from "./parse-jsonl.ts";
export type {
  CheckResult,
  History,
  HistoryFormat,
  ModelName,
  Operation,
  OperationKind,
  Outcome,
  Value,
  Verdict,
  Violation,
} from "./types.ts";
