// Liveness after healing: once faults stop and the network heals, a leader must emerge within a
// bounded number of ticks and every pending operation (client writes and reads, membership
// changes) must complete within a bounded number of ticks. Timing never affects safety, but a
// cluster that cannot recover from a healed network is broken too.

import { InvariantViolation } from "./violation.ts";

export interface LivenessBounds {
  /** Ticks after healing by which a stable leader must exist. */
  readonly leaderWithinTicks: number;
  /** Ticks after healing by which every pending operation must have completed. */
  readonly operationsWithinTicks: number;
}

export class LivenessChecker {
  private readonly bounds: LivenessBounds;
  private healedAtTick: number | undefined;
  private leaderAtTick: number | undefined;

  constructor(bounds: LivenessBounds) {
    if (!(bounds.leaderWithinTicks > 0 && bounds.operationsWithinTicks > 0)) {
      throw new RangeError("liveness bounds must be positive");
    }
    this.bounds = bounds;
  }

  get healed(): boolean {
    return this.healedAtTick !== undefined;
  }

  /** Ticks from healing to the first stable leader, once there was one. */
  get ticksToLeader(): number | undefined {
    if (this.healedAtTick === undefined || this.leaderAtTick === undefined) return undefined;
    return this.leaderAtTick - this.healedAtTick;
  }

  onHealed(tick: number): void {
    if (this.healedAtTick !== undefined) throw new Error("onHealed called twice");
    this.healedAtTick = tick;
  }

  /**
   * Call once per tick. `stableLeader`: one leader that every running member follows.
   * `pending`: descriptions of operations not yet complete (empty when none).
   */
  observe(tick: number, stableLeader: boolean, pending: readonly string[]): void {
    const healedAt = this.healedAtTick;
    if (healedAt === undefined) return;
    const elapsed = tick - healedAt;
    if (stableLeader && this.leaderAtTick === undefined) this.leaderAtTick = tick;
    if (this.leaderAtTick === undefined && elapsed > this.bounds.leaderWithinTicks) {
      throw new InvariantViolation(
        "liveness",
        `no stable leader ${elapsed} ticks after the network healed (bound ${this.bounds.leaderWithinTicks})`,
      );
    }
    if (pending.length > 0 && elapsed > this.bounds.operationsWithinTicks) {
      const shown = pending.slice(0, 5).join("; ");
      throw new InvariantViolation(
        "liveness",
        `${pending.length} operation(s) still pending ${elapsed} ticks after the network healed ` +
          `(bound ${this.bounds.operationsWithinTicks}): ${shown}${pending.length > 5 ? "; ..." : ""}`,
      );
    }
  }
}
