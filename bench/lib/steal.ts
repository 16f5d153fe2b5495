// CPU time stolen from this machine by its host, as the kernel counts it in /proc/stat.
//
// On a virtual machine the host may run other guests on the physical cores this one's virtual
// CPUs run on; the time a virtual CPU was ready to run but not running is "steal". On the machines
// the benchmarks run on, it comes in spells of a minute or so, in which 10-40% of the CPU time is
// taken: a load measured in such a spell measures the host, not the system under test.
import { readFileSync } from "node:fs";

/** Cumulative CPU time of all CPUs, in clock ticks: all of it, and the part that was stolen. */
export interface CpuTimes {
  readonly total: number;
  readonly steal: number;
}

/** The first ("cpu") line of /proc/stat parsed, or null when it is not one. */
export function parseCpuLine(line: string): CpuTimes | null {
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== "cpu" || fields.length < 9) return null;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
  // counted in user and nice, so only the first eight make the total.
  const ticks = fields.slice(1, 9).map(Number);
  if (ticks.some((value) => !Number.isFinite(value) || value < 0)) return null;
  return { total: ticks.reduce((sum, value) => sum + value, 0), steal: ticks[7]! };
}

/** The machine's CPU times now; null where /proc/stat cannot be read (not Linux). */
export function cpuTimes(
  read: () => string = () => readFileSync("/proc/stat", "utf8"),
): CpuTimes | null {
  try {
    return parseCpuLine(read().split("\n", 1)[0] ?? "");
  } catch {
    return null;
  }
}

/** The share of the CPU time between two readings that was stolen, in percent (one decimal);
 * null when either reading is missing or no time passed. */
export function stolenPercent(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (!before || !after) return null;
  const total = after.total - before.total;
  if (total <= 0) return null;
  return Math.round((1000 * (after.steal - before.steal)) / total) / 10;
}

/** Runs `work` and tells how much of the machine's CPU time was stolen meanwhile. */
export async function measuringSteal<T>(
  work: () => Promise<T>,
): Promise<{ result: T; stealPct: number | null }> {
  const before = cpuTimes();
  const result = await work();
  return { result, stealPct: stolenPercent(before, cpuTimes()) };
}

/** When a measurement counts as taken in a spell of steal, and how often it is taken again. */
export interface StealPolicy {
  /** A measurement during which more than this share of the CPU time (percent) was stolen is
   * taken again. 100: never. */
  readonly maxStealPct: number;
  /** At most this many more attempts per measurement. */
  readonly maxRepeats: number;
}

/** The outcome of repeatWhileStolen: the attempt kept, and how it was come by. */
export interface Kept<T> {
  readonly kept: T;
  /** Attempts made, the kept one included. */
  readonly attempts: number;
  /** Whether the kept attempt was still over the limit (every attempt was). */
  readonly stolen: boolean;
}

/**
 * Runs `attempt` until one is not over the policy's steal limit, at most 1 + maxRepeats times.
 * The first attempt under the limit is kept; when none is, the least stolen one is. An attempt
 * whose steal is unknown (null) counts as under the limit. `onStolen` hears of each attempt over
 * the limit, and whether another follows.
 */
export async function repeatWhileStolen<T>(
  attempt: () => Promise<T>,
  stealOf: (result: T) => number | null,
  policy: StealPolicy,
  onStolen: (stealPct: number, attempt: number, again: boolean) => void = () => undefined,
): Promise<Kept<T>> {
  let best: { result: T; steal: number } | undefined;
  for (let made = 1; ; made++) {
    const result = await attempt();
    const steal = stealOf(result);
    if (steal === null || steal <= policy.maxStealPct) {
      return { kept: result, attempts: made, stolen: false };
    }
    if (!best || steal < best.steal) best = { result, steal };
    const again = made <= policy.maxRepeats;
    onStolen(steal, made, again);
    if (!again) return { kept: best.result, attempts: made, stolen: true };
  }
}

/** The share of the CPU time stolen over the next `ms` milliseconds (null: unknown). */
export async function stealOver(ms: number): Promise<number | null> {
  const { stealPct } = await measuringSteal(
    () => new Promise((resolve) => setTimeout(resolve, ms)),
  );
  return stealPct;
}

/**
 * Waits for a window in which the host took no more than `maxStealPct` of the CPU time: takes
 * windows (`window`, e.g. stealOver(3000)) until one is at or under the limit, at most `maxWindows`.
 * Tells how many were taken and the last one's steal (null: unknown, which ends the wait).
 */
export async function untilQuiet(
  window: () => Promise<number | null>,
  maxStealPct: number,
  maxWindows: number,
): Promise<{ windows: number; stealPct: number | null }> {
  let stealPct: number | null = null;
  for (let windows = 1; windows <= maxWindows; windows++) {
    stealPct = await window();
    if (stealPct === null || stealPct <= maxStealPct || windows === maxWindows)
      return { windows, stealPct };
  }
  return { windows: 0, stealPct };
}
