// The benchmarks' settings from the environment: an integer within bounds, or a clear error that
// names the variable, the accepted range and what it got (a typo must not run a benchmark with
// NaN rounds or connections and report nothing, or a misleading figure).

/** `raw` (the value of variable `name`) as an integer in [min, max]; `fallback` if unset or empty. */
export function parseInteger(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** parseInteger of `process.env[name]`; a bad value ends the benchmark with its message (exit 2). */
export function envInteger(name: string, fallback: number, min: number, max: number): number {
  try {
    return parseInteger(name, process.env[name], fallback, min, max);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}
