// Balancing policies. Each picks one backend from a non-empty list of usable backends. They are
// deliberately free of I/O and take their randomness from an injected source, so that tests can
// check each distribution exactly.
import type { PolicyType } from "./config.ts";
import { assert } from "./errors.ts";
import { type RandomSource, randomIndex } from "./random.ts";

/** What a policy may look at on a backend. */
export interface PolicyBackend {
  readonly name: string;
  readonly weight: number;
  /** Requests (or TCP connections) in flight through this process. */
  outstanding: number;
  /** Smooth weighted round robin's running score. */
  wrrCurrent: number;
}

export interface Policy {
  /** `list` is non-empty. `hashKey` is the request's stickiness key, if any. */
  pick<B extends PolicyBackend>(list: readonly B[], hashKey: string | null): B;
  /** Called when the set of backends changes, with every backend (usable or not). */
  rebuild?(all: readonly PolicyBackend[]): void;
}

class RoundRobin implements Policy {
  private next = 0;
  pick<B extends PolicyBackend>(list: readonly B[]): B {
    const index = this.next % list.length;
    this.next = (this.next + 1) % 0x7fffffff;
    return list[index]!;
  }
}

/** nginx's smooth weighted round robin: spreads the heavy backend's turns evenly instead of
 * sending it `weight` requests in a row. */
class WeightedRoundRobin implements Policy {
  pick<B extends PolicyBackend>(list: readonly B[]): B {
    let total = 0;
    let best = list[0]!;
    for (const backend of list) {
      backend.wrrCurrent += backend.weight;
      total += backend.weight;
      if (backend.wrrCurrent > best.wrrCurrent) best = backend;
    }
    best.wrrCurrent -= total;
    return best;
  }
}

/** Fewest requests in flight; ties rotate so that an idle proxy still spreads evenly. */
class LeastOutstanding implements Policy {
  private start = 0;
  pick<B extends PolicyBackend>(list: readonly B[]): B {
    const count = list.length;
    const offset = this.start++ % count;
    let best = list[offset]!;
    for (let step = 1; step < count; step++) {
      const backend = list[(offset + step) % count]!;
      if (backend.outstanding < best.outstanding) best = backend;
    }
    return best;
  }
}

class RandomPolicy implements Policy {
  constructor(private readonly random: RandomSource) {}
  pick<B extends PolicyBackend>(list: readonly B[]): B {
    return list[randomIndex(this.random, list.length)]!;
  }
}

/** Power of two choices: two distinct random backends, the one with fewer requests in flight
 * wins. Nearly as good as least-outstanding at avoiding a slow backend, without the herd
 * behaviour of every worker picking the same "least" backend at once. */
class PowerOfTwoChoices implements Policy {
  constructor(private readonly random: RandomSource) {}
  pick<B extends PolicyBackend>(list: readonly B[]): B {
    const count = list.length;
    if (count === 1) return list[0]!;
    const first = randomIndex(this.random, count);
    let second = randomIndex(this.random, count - 1);
    if (second >= first) second++;
    const a = list[first]!;
    const b = list[second]!;
    return b.outstanding < a.outstanding ? b : a;
  }
}

/** 32-bit FNV-1a followed by a murmur3 finaliser for better avalanche on short keys. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Consistent hashing on a ring of virtual nodes: a key keeps its backend while that backend is
 * usable, and removing one backend moves only the keys that were on it. Requests without a key
 * fall back to power of two choices. */
class ConsistentHash implements Policy {
  private points = new Uint32Array(0);
  private owners: string[] = [];
  private readonly fallback: PowerOfTwoChoices;

  constructor(
    random: RandomSource,
    private readonly virtualNodes: number,
  ) {
    this.fallback = new PowerOfTwoChoices(random);
  }

  rebuild(all: readonly PolicyBackend[]): void {
    const entries: Array<[number, string]> = [];
    for (const backend of all) {
      const count = this.virtualNodes * backend.weight;
      for (let index = 0; index < count; index++) {
        entries.push([hash32(`${backend.name}#${index}`), backend.name]);
      }
    }
    entries.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
    this.points = Uint32Array.from(entries, (entry) => entry[0]);
    this.owners = entries.map((entry) => entry[1]);
  }

  pick<B extends PolicyBackend>(list: readonly B[], hashKey: string | null): B {
    if (hashKey === null || this.points.length === 0) return this.fallback.pick(list);
    const target = hash32(hashKey);
    // First point at or after the key's hash, wrapping around.
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.points[middle]! < target) low = middle + 1;
      else high = middle;
    }
    const total = this.points.length;
    for (let step = 0; step < total; step++) {
      const owner = this.owners[(low + step) % total]!;
      for (const backend of list) if (backend.name === owner) return backend;
    }
    // Only reachable when a usable backend is not on the ring, which rebuild() prevents.
    assert(false, "consistent hash ring misses a usable backend");
  }
}

export function createPolicy(
  type: PolicyType,
  random: RandomSource,
  options: { virtualNodes: number },
): Policy {
  switch (type) {
    case "round-robin":
      return new RoundRobin();
    case "weighted-round-robin":
      return new WeightedRoundRobin();
    case "least-outstanding":
      return new LeastOutstanding();
    case "random":
      return new RandomPolicy(random);
    case "p2c":
      return new PowerOfTwoChoices(random);
    case "consistent-hash":
      return new ConsistentHash(random, options.virtualNodes);
  }
}
