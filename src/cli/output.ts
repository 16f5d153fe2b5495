// Shared helpers of the CLI commands: option parsing and human/JSON output.
import { InvalidArgumentError } from "commander";

export interface Output {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Human messages go to stdout, or to stderr when stdout carries JSON. */
export function output(json: boolean): Output {
  const write = (stream: NodeJS.WriteStream, prefix: string, message: string) =>
    stream.write(`${prefix}${message}\n`);
  const info = json ? process.stderr : process.stdout;
  return {
    info: (message) => write(info, "", message),
    warn: (message) => write(process.stderr, "warning: ", message),
    error: (message) => write(process.stderr, "error: ", message),
  };
}

/** A commander option parser for an integer in [min, max]. */
export function integerOption(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return parsed;
  };
}
