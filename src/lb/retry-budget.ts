// Bounds retries so that a struggling upstream set is not hit with a multiple of its normal load:
// over a sliding window, retries may add at most `budgetPercent` of the request count plus a
// small per-second floor (so that a nearly idle proxy can still retry).

const windowSeconds = 10;

export class RetryBudget {
  private readonly requests = new Uint32Array(windowSeconds);
  private readonly retries = new Uint32Array(windowSeconds);
  private currentSecond = 0;

  constructor(
    private readonly budgetPercent: number,
    private readonly minRetriesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  private advance(): number {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.currentSecond) {
      const gap = Math.min(second - this.currentSecond, windowSeconds);
      for (let step = 1; step <= gap; step++) {
        const slot = (this.currentSecond + step) % windowSeconds;
        this.requests[slot] = 0;
        this.retries[slot] = 0;
      }
      this.currentSecond = second;
    }
    return second % windowSeconds;
  }

  recordRequest(): void {
    const slot = this.advance();
    this.requests[slot]!++;
  }

  /** Takes one retry from the budget if there is one left. */
  tryAcquire(): boolean {
    const slot = this.advance();
    let requests = 0;
    let retries = 0;
    for (let index = 0; index < windowSeconds; index++) {
      requests += this.requests[index]!;
      retries += this.retries[index]!;
    }
    const allowed =
      this.minRetriesPerSecond * windowSeconds + (requests * this.budgetPercent) / 100;
    if (retries >= allowed) return false;
    this.retries[slot]!++;
    return true;
  }
}
