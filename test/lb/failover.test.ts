import assert from "node:assert/strict";
import { test } from "node:test";
import { type ChildUpstream, get, sleep, spawnUpstream, startTestLb, waitFor } from "./helpers.ts";

test("an upstream killed -9 under load: no failed idempotent request, few failed POSTs, ejected at once, back after rise checks", async () => {
  const upstreams = await Promise.all(["a", "b", "c"].map((name) => spawnUpstream(name, 0, 2)));
  const lb = await startTestLb({
    policy: { type: "round-robin" },
    upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    // Slow regular checks: only passive ejection can take b out quickly.
    healthCheck: {
      intervalMs: 5000,
      downIntervalMs: 100,
      fastIntervalMs: 50,
      timeoutMs: 200,
      rise: 3,
      fall: 2,
    },
    outlier: { baseEjectionMs: 300, consecutiveConnectErrors: 1 },
    retry: { maxRetries: 2 },
  });
  let restarted: ChildUpstream | null = null;
  try {
    const victim = upstreams[1]!;
    const failures = { GET: 0, POST: 0 };
    const counts = { GET: 0, POST: 0 };
    let stop = false;
    const client = async (id: number) => {
      for (let index = 0; !stop && index < 5000; index++) {
        const method = (index + id) % 2 === 0 ? "GET" : "POST";
        counts[method]++;
        try {
          const reply = await get(
            lb.port,
            `/${id}/${index}`,
            method === "POST" ? { method, body: "x=1" } : { method },
          );
          if (reply.status !== 200) failures[method]++;
        } catch {
          failures[method]++;
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, id) => client(id));
    await sleep(400);
    await victim.kill();
    const killedAt = Date.now();
    let ejectedAfterMs = -1;
    await waitFor(
      () => {
        const status = lb.status().upstreams.find((upstream) => upstream.name === "b")!;
        if (status.ejections > 0) ejectedAfterMs = Date.now() - killedAt;
        return ejectedAfterMs >= 0;
      },
      2000,
      "b to be ejected",
    );
    await sleep(600);
    stop = true;
    await Promise.all(clients);
    assert.ok(counts.GET > 100 && counts.POST > 100, `load too light: ${JSON.stringify(counts)}`);
    assert.equal(failures.GET, 0, `failed GETs (of ${counts.GET})`);
    assert.ok(failures.POST <= 8, `failed POSTs: ${failures.POST} of ${counts.POST}`);
    // "At once": on the first failed request, long before a health check (every 5 s) could.
    assert.ok(ejectedAfterMs < 500, `ejected after ${ejectedAfterMs} ms`);
    const metrics = await lb.metricsText();
    assert.match(metrics, /hothot_lb_ejections_total\{upstream="b",reason="connect"\} [1-9]/);

    // The ejection backoff (300 ms) has passed, but b stays out: it must pass `rise` checks.
    const down = lb.status().upstreams.find((upstream) => upstream.name === "b")!;
    assert.equal(down.healthy, false);
    restarted = await spawnUpstream("b", victim.port, 0);
    const restartedAt = Date.now();
    await waitFor(
      () => lb.status().upstreams.find((upstream) => upstream.name === "b")!.healthy,
      5000,
      "b healthy again",
    );
    const recoveredAfterMs = Date.now() - restartedAt;
    // rise 3 at the fast interval: at least two 50 ms gaps after the first good probe.
    assert.ok(recoveredAfterMs >= 90, `recovered after only ${recoveredAfterMs} ms`);
    const names = new Set<string>();
    for (let index = 0; index < 9; index++) names.add((await get(lb.port)).body);
    assert.deepEqual([...names].sort(), ["a", "b", "c"]);
  } finally {
    await lb.close();
    await Promise.all(
      [...upstreams, ...(restarted ? [restarted] : [])].map((upstream) => upstream.kill()),
    );
  }
});
