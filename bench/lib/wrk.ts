// Runs wrk with a Lua script and parses its summary.
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface WrkFigures {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Socket errors: connect, read, write and timeout (a request unanswered for 5 s) together. */
  readonly errors: number;
  /** The same by kind, as wrk reports them. */
  readonly errorKinds: { connect: number; read: number; write: number; timeout: number };
  readonly non2xx: number;
}

/** "" when there were none, else e.g. "errors 32 (timeout 32), non-2xx 4". */
export function describeErrors(figures: WrkFigures): string {
  const parts: string[] = [];
  if (figures.errors > 0) {
    const kinds = Object.entries(figures.errorKinds)
      .filter(([, count]) => count > 0)
      .map(([kind, count]) => `${kind} ${count}`);
    parts.push(`errors ${figures.errors} (${kinds.join(", ")})`);
  }
  if (figures.non2xx > 0) parts.push(`non-2xx ${figures.non2xx}`);
  return parts.join(", ");
}

export function wrkAvailable(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v wrk"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function toMs(value: string, unit: string): number {
  const number = Number(value);
  if (unit === "us") return number / 1000;
  if (unit === "s") return number * 1000;
  if (unit === "m") return number * 60_000;
  return number;
}

export function parseWrk(output: string): WrkFigures {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s|m)\b/.exec(output);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)\b/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (!rps || !p50 || !p99 || !total) throw new Error(`cannot parse wrk output:\n${output}`);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1]!, p50[2]!),
    p99Ms: toMs(p99[1]!, p99[2]!),
    requests: Number(total[1]),
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0,
    errorKinds: {
      connect: Number(socketErrors?.[1] ?? 0),
      read: Number(socketErrors?.[2] ?? 0),
      write: Number(socketErrors?.[3] ?? 0),
      timeout: Number(socketErrors?.[4] ?? 0),
    },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly threads: number;
  readonly durationSeconds: number;
  /** Lua source; see wrk's SCRIPTING. */
  readonly script: string;
  readonly scriptDir: string;
  readonly name: string;
}

export function runWrk(run: WrkRun): Promise<WrkFigures> {
  const scriptPath = join(run.scriptDir, `${run.name}.lua`);
  writeFileSync(scriptPath, run.script);
  const args = [
    `-t${Math.min(run.threads, run.connections)}`,
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    "--latency",
    "--timeout",
    "5s",
    "-s",
    scriptPath,
    run.url,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      "wrk",
      args,
      { timeout: (run.durationSeconds + 30) * 1000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`wrk failed: ${error.message}\n${stderr}`));
        try {
          resolve(parseWrk(stdout));
        } catch (parseError) {
          reject(parseError);
        }
      },
    );
  });
}

/** Sum of several concurrent wrk runs (e.g. one per node). */
export function combine(results: readonly WrkFigures[]): WrkFigures {
  const requests = results.reduce((sum, result) => sum + result.requests, 0);
  return {
    requestsPerSec: results.reduce((sum, result) => sum + result.requestsPerSec, 0),
    // Weighted by requests for the median; the worst for the tail.
    p50Ms:
      results.reduce((sum, result) => sum + result.p50Ms * result.requests, 0) /
      Math.max(1, requests),
    p99Ms: Math.max(...results.map((result) => result.p99Ms)),
    requests,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    errorKinds: {
      connect: results.reduce((sum, result) => sum + result.errorKinds.connect, 0),
      read: results.reduce((sum, result) => sum + result.errorKinds.read, 0),
      write: results.reduce((sum, result) => sum + result.errorKinds.write, 0),
      timeout: results.reduce((sum, result) => sum + result.errorKinds.timeout, 0),
    },
    non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
  };
}

export function rssKiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Linux reports process CPU times in clock ticks of 1/100 s (USER_HZ). */
const USER_HZ = 100;

/** User plus system CPU time, in microseconds, of all threads, from a /proc/<pid>/stat line. */
export function parseCpuMicros(stat: string): number {
  // The command name may hold spaces and parentheses: the fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return ((utime + stime) * 1_000_000) / USER_HZ;
}

/** A process's CPU time so far in microseconds (0 when it is gone or not on Linux). */
export function cpuMicros(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return parseCpuMicros(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return 0;
  }
}
