import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Balancer,
  createPolicy,
  type PolicyType,
  parseLbConfig,
  type Snapshot,
  seededRandom,
} from "../../src/lb/index.ts";
import { countBy, get, startTestLb, startUpstream, type TestUpstream } from "./helpers.ts";

function snapshotOf(weights: number[]): Snapshot {
  const config = parseLbConfig({
    upstreams: weights.map((weight, index) => ({
      name: `u${index}`,
      url: `http://127.0.0.1:${10001 + index}`,
      weight,
    })),
  });
  return {
    leader: null,
    upstreams: config.upstreams.map((spec) => ({
      spec,
      healthy: true,
      ejected: false,
      admin: "ready",
      role: null,
    })),
  };
}

function balancer(type: PolicyType, weights: number[], seed = 7): Balancer {
  const result = new Balancer({
    policy: createPolicy(type, seededRandom(seed), { virtualNodes: 160 }),
    panicThresholdPercent: 50,
    maxOutstandingPerUpstream: 1000,
  });
  result.apply(snapshotOf(weights));
  return result;
}

function pickNames(
  b: Balancer,
  count: number,
  key: (index: number) => string | null = () => null,
): string[] {
  const names: string[] = [];
  for (let index = 0; index < count; index++) names.push(b.pick(key(index), false, null)!.name);
  return names;
}

describe("policy distributions (pure, seeded)", () => {
  test("round robin gives every upstream exactly its turn", () => {
    assert.deepEqual(countBy(pickNames(balancer("round-robin", [1, 1, 1]), 300)), {
      u0: 100,
      u1: 100,
      u2: 100,
    });
  });

  test("weighted round robin follows the weights exactly and interleaves them", () => {
    const b = balancer("weighted-round-robin", [1, 2, 3]);
    const names = pickNames(b, 600);
    assert.deepEqual(countBy(names), { u0: 100, u1: 200, u2: 300 });
    // Smooth: the heaviest never gets more than weight-share+1 of any 6 consecutive picks.
    for (let start = 0; start + 6 <= names.length; start += 6) {
      assert.equal(names.slice(start, start + 6).filter((name) => name === "u2").length, 3);
    }
  });

  test("least outstanding avoids the busy upstream and rotates ties", () => {
    const b = balancer("least-outstanding", [1, 1, 1]);
    b.get("u0")!.outstanding = 5;
    b.get("u1")!.outstanding = 1;
    const names = pickNames(b, 30);
    assert.deepEqual(countBy(names), { u2: 30 });
    b.get("u0")!.outstanding = 0;
    b.get("u1")!.outstanding = 0;
    assert.deepEqual(countBy(pickNames(b, 30)), { u0: 10, u1: 10, u2: 10 });
  });

  test("random is uniform within a chi-square bound and repeats for the same seed", () => {
    const names = pickNames(balancer("random", [1, 1, 1, 1]), 4000);
    const counts = Object.values(countBy(names));
    const chiSquare = counts.reduce((sum, count) => sum + (count - 1000) ** 2 / 1000, 0);
    assert.ok(chiSquare < 16.27, `chi-square ${chiSquare} (p=0.001, 3 df)`); // uniform
    assert.deepEqual(
      pickNames(balancer("random", [1, 1, 1, 1], 99), 50),
      pickNames(balancer("random", [1, 1, 1, 1], 99), 50),
    );
  });

  test("power of two choices never picks the busiest of two and spreads idle load", () => {
    const b = balancer("p2c", [1, 1, 1]);
    b.get("u0")!.outstanding = 10;
    const names = pickNames(b, 3000);
    const counts = countBy(names);
    // Whenever u0 is drawn it loses to the other (idle) draw.
    assert.equal(counts.u0, undefined);
    assert.ok(Math.abs((counts.u1 ?? 0) - 1500) < 150, JSON.stringify(counts));
    b.get("u0")!.outstanding = 0;
    const idle = countBy(pickNames(b, 3000));
    for (const name of ["u0", "u1", "u2"])
      assert.ok(Math.abs((idle[name] ?? 0) - 1000) < 150, JSON.stringify(idle));
  });

  test("consistent hashing is sticky, spreads keys, and moves only the removed upstream's keys", () => {
    const b = balancer("consistent-hash", [1, 1, 1, 1]);
    const keys = Array.from({ length: 2000 }, (_, index) => `user-${index}`);
    const first = keys.map((key) => b.pick(key, false, null)!.name);
    assert.deepEqual(
      keys.map((key) => b.pick(key, false, null)!.name),
      first,
      "same key, same upstream",
    );
    for (const count of Object.values(countBy(first)))
      assert.ok(count > 350 && count < 650, JSON.stringify(countBy(first)));
    const snapshot = snapshotOf([1, 1, 1, 1]);
    snapshot.upstreams[2]!.healthy = false;
    b.apply(snapshot);
    const second = keys.map((key) => b.pick(key, false, null)!.name);
    for (let index = 0; index < keys.length; index++) {
      if (first[index] !== "u2")
        assert.equal(second[index], first[index], `key ${keys[index]} moved`);
      else assert.notEqual(second[index], "u2");
    }
  });

  test("panic threshold sends to every ready upstream when too few are healthy", () => {
    const b = balancer("round-robin", [1, 1, 1, 1]);
    const snapshot = snapshotOf([1, 1, 1, 1]);
    for (const index of [0, 1, 2]) snapshot.upstreams[index]!.healthy = false;
    snapshot.upstreams[3]!.admin = "drain";
    b.apply(snapshot);
    // 0 of 3 ready upstreams healthy (< 50 %): all three ready ones are used, never the drained.
    assert.equal(b.inPanic, true);
    assert.deepEqual(countBy(pickNames(b, 30)), { u0: 10, u1: 10, u2: 10 });
  });
});

/** 60 requests over 3 upstreams: each gets a fair share within a wide (seeded) margin. */
function assertSpread(counts: Record<string, number>): void {
  assert.deepEqual(Object.keys(counts).sort(), ["a", "b", "c"]);
  for (const count of Object.values(counts))
    assert.ok(count >= 8 && count <= 32, JSON.stringify(counts));
}

describe("policy distributions through the proxy (real sockets)", () => {
  let upstreams: TestUpstream[] = [];
  before(async () => {
    upstreams = await Promise.all(["a", "b", "c"].map((name) => startUpstream(name)));
  });
  after(async () => {
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });

  const cases: Array<{
    type: PolicyType;
    weights: number[];
    check: (counts: Record<string, number>) => void;
  }> = [
    {
      type: "round-robin",
      weights: [1, 1, 1],
      check: (c) => assert.deepEqual(c, { a: 20, b: 20, c: 20 }),
    },
    {
      type: "weighted-round-robin",
      weights: [1, 2, 3],
      check: (c) => assert.deepEqual(c, { a: 10, b: 20, c: 30 }),
    },
    {
      type: "least-outstanding",
      weights: [1, 1, 1],
      check: (c) => assert.deepEqual(c, { a: 20, b: 20, c: 20 }),
    },
    {
      type: "random",
      weights: [1, 1, 1],
      check: (c) => assertSpread(c),
    },
    {
      type: "p2c",
      weights: [1, 1, 1],
      check: (c) => assertSpread(c),
    },
  ];
  for (const { type, weights, check } of cases) {
    test(`${type}: 60 sequential requests`, async () => {
      const lb = await startTestLb({
        policy: { type },
        healthCheck: { enabled: false },
        upstreams: upstreams.map((upstream, index) => ({
          name: upstream.name,
          url: upstream.url,
          weight: weights[index]!,
        })),
      });
      try {
        const names: string[] = [];
        for (let index = 0; index < 60; index++) names.push((await get(lb.port)).body);
        check(countBy(names));
      } finally {
        await lb.close();
      }
    });
  }

  test("consistent-hash on a header: each key sticks to one upstream", async () => {
    const lb = await startTestLb({
      policy: { type: "consistent-hash", hashKey: "header:x-user" },
      healthCheck: { enabled: false },
      upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    });
    try {
      const seen = new Map<string, Set<string>>();
      for (let round = 0; round < 3; round++) {
        for (let user = 0; user < 30; user++) {
          const reply = await get(lb.port, "/", { headers: { "x-user": `user-${user}` } });
          if (!seen.has(`user-${user}`)) seen.set(`user-${user}`, new Set());
          seen.get(`user-${user}`)!.add(reply.body);
        }
      }
      for (const [user, names] of seen)
        assert.equal(names.size, 1, `${user} went to ${[...names]}`);
      const used = new Set([...seen.values()].flatMap((names) => [...names]));
      assert.equal(used.size, 3, "30 keys should spread over all three upstreams");
    } finally {
      await lb.close();
    }
  });

  test("consistent-hash on a cookie", async () => {
    const lb = await startTestLb({
      policy: { type: "consistent-hash", hashKey: "cookie:sid" },
      healthCheck: { enabled: false },
      upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    });
    try {
      for (const sid of ["alpha", "beta", "gamma"]) {
        const names = new Set<string>();
        for (let round = 0; round < 5; round++) {
          names.add(
            (await get(lb.port, "/", { headers: { cookie: `theme=dark; sid=${sid}` } })).body,
          );
        }
        assert.equal(names.size, 1);
      }
    } finally {
      await lb.close();
    }
  });
});
