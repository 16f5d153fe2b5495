// The logger the transport writes to. Its shape is the subset of pino's API the transport uses,
// so a pino logger (or a `logger.child({ component: "transport" })`) can be passed directly.

export type LogFields = Record<string, unknown>;

export interface TransportLogger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

function ignore(_fields: LogFields, _message: string): void {}

/** Discards everything; the default when no logger is given. */
export const noopLogger: TransportLogger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
};
