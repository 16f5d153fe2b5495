// The simulated network between nodes. It decides, per message, whether and when each copy
// arrives: latency from a distribution (in sub-tick time units), random loss, duplication,
// latency spikes that make later messages overtake earlier ones (reordering), and a link matrix
// for partitions. Links are directional, so one-way partitions and bridge topologies are just
// patterns of cut links. The network owns no queue; the simulation schedules the deliveries.

import type { Prng } from "./prng.ts";

export interface LatencyModel {
  /** Ordinary one-way latency is uniform in [minUnits, maxUnits]. */
  readonly minUnits: number;
  readonly maxUnits: number;
  /** Probability that a message is delayed by an extra spike (this is what reorders messages). */
  readonly spikeProbability: number;
  /** A spike adds uniform [0, spikeMaxUnits] on top of the ordinary latency. */
  readonly spikeMaxUnits: number;
  /**
   * Probability that a message is held back very long (a stuck retransmission), so it arrives
   * after elections and term changes: stale votes, appends and responses.
   */
  readonly lateProbability: number;
  readonly lateMaxUnits: number;
}

export interface LossModel {
  readonly dropProbability: number;
  readonly duplicateProbability: number;
}

export const NO_LOSS: LossModel = { dropProbability: 0, duplicateProbability: 0 };

/** At most this many copies of one message are ever delivered (original + duplicates). */
const MAX_COPIES = 3;

export class Network {
  private readonly size: number;
  /** cut[from * size + to] = 1 when messages from -> to are lost. */
  private readonly cut: Uint8Array;
  private readonly prng: Prng;
  private latency: LatencyModel;
  private loss: LossModel = NO_LOSS;

  constructor(maxNodeId: number, prng: Prng, latency: LatencyModel) {
    if (!Number.isInteger(maxNodeId) || maxNodeId < 1 || maxNodeId > 64) {
      throw new RangeError(`maxNodeId must be an integer in [1, 64], got ${maxNodeId}`);
    }
    validateLatency(latency);
    this.size = maxNodeId + 1;
    this.cut = new Uint8Array(this.size * this.size);
    this.prng = prng;
    this.latency = latency;
  }

  setLatency(latency: LatencyModel): void {
    validateLatency(latency);
    this.latency = latency;
  }

  setLoss(loss: LossModel): void {
    for (const [name, value] of Object.entries(loss)) {
      if (!(value >= 0 && value <= 1))
        throw new RangeError(`${name} must be in [0, 1], got ${value}`);
    }
    this.loss = loss;
  }

  getLoss(): LossModel {
    return this.loss;
  }

  isLinkUp(from: number, to: number): boolean {
    return this.cut[this.slot(from, to)] === 0;
  }

  /** True when no link is cut. */
  isHealed(): boolean {
    return this.cut.every((value) => value === 0);
  }

  /** Cut or restore one direction of one link. */
  setLink(from: number, to: number, up: boolean): void {
    this.cut[this.slot(from, to)] = up ? 0 : 1;
  }

  /** Symmetric partition: nodes in different groups cannot talk; nodes in one group can. */
  partition(groups: readonly (readonly number[])[]): void {
    this.heal();
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const from of groups[a]!) for (const to of groups[b]!) this.setLink(from, to, false);
      }
    }
  }

  /** One-way partition: `from` can no longer reach `to`, but still hears from it. */
  cutOneWay(from: number, to: number): void {
    this.setLink(from, to, false);
  }

  /** Cut every link of `node` in both directions. */
  isolate(node: number, nodes: readonly number[]): void {
    for (const other of nodes) {
      if (other === node) continue;
      this.setLink(node, other, false);
      this.setLink(other, node, false);
    }
  }

  /**
   * Bridge topology: `left` and `right` cannot talk to each other, `middle` talks to both.
   * With three nodes A-B-C this is "A-B and B-C connected, A-C not".
   */
  bridge(left: readonly number[], middle: readonly number[], right: readonly number[]): void {
    this.partition([left, right]);
    void middle; // middle keeps all its links: nothing to cut.
  }

  heal(): void {
    this.cut.fill(0);
  }

  /**
   * Delays (in time units, >= 1) after which each copy of a message from -> to arrives; empty
   * when the message is lost (cut link or random drop).
   */
  plan(from: number, to: number): number[] {
    if (!this.isLinkUp(from, to)) return [];
    if (this.prng.chance(this.loss.dropProbability)) return [];
    const delays = [this.sampleLatency()];
    while (delays.length < MAX_COPIES && this.prng.chance(this.loss.duplicateProbability)) {
      delays.push(this.sampleLatency());
    }
    return delays;
  }

  /** Readable list of cut links, e.g. "1->2 1<->3"; "healed" when none. */
  describe(): string {
    const parts: string[] = [];
    for (let from = 1; from < this.size; from++) {
      for (let to = 1; to < this.size; to++) {
        if (from === to || this.isLinkUp(from, to)) continue;
        const reverseCut = !this.isLinkUp(to, from);
        if (reverseCut && to < from) continue; // printed once as a<->b
        parts.push(reverseCut ? `${from}<->${to}` : `${from}->${to}`);
      }
    }
    return parts.length === 0 ? "healed" : parts.join(" ");
  }

  private sampleLatency(): number {
    const { minUnits, maxUnits, spikeProbability, spikeMaxUnits, lateProbability, lateMaxUnits } =
      this.latency;
    let delay = this.prng.range(minUnits, maxUnits);
    if (this.prng.chance(spikeProbability)) delay += this.prng.range(0, spikeMaxUnits);
    if (this.prng.chance(lateProbability)) delay += this.prng.range(0, lateMaxUnits);
    return Math.max(1, delay);
  }

  private slot(from: number, to: number): number {
    if (from < 1 || from >= this.size || to < 1 || to >= this.size) {
      throw new RangeError(`node id out of range: ${from} -> ${to} (max ${this.size - 1})`);
    }
    return from * this.size + to;
  }
}

function validateLatency(latency: LatencyModel): void {
  if (!(latency.minUnits >= 0 && latency.maxUnits >= latency.minUnits)) {
    throw new RangeError(`latency range [${latency.minUnits}, ${latency.maxUnits}] is invalid`);
  }
  if (!(latency.spikeProbability >= 0 && latency.spikeProbability <= 1)) {
    throw new RangeError(`spikeProbability must be in [0, 1], got ${latency.spikeProbability}`);
  }
  if (!(latency.spikeMaxUnits >= 0 && latency.lateMaxUnits >= 0)) {
    throw new RangeError("spikeMaxUnits and lateMaxUnits must be >= 0");
  }
  if (!(latency.lateProbability >= 0 && latency.lateProbability <= 1)) {
    throw new RangeError(`lateProbability must be in [0, 1], got ${latency.lateProbability}`);
  }
}
