// A small seeded fault run over the in-test network (the full simulator lives in src/testing):
// random partitions, message loss, crashes with restart from persisted state, proposals,
// transfers and compaction. After every step: at most one leader per term, and no two nodes
// apply different entries at one index. After healing: one leader and convergence.

import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../../src/raft/index.ts";
import { bytes, Network, seededRandom } from "./helpers/network.ts";

const IDS = [1, 2, 3, 4, 5];

function runSeed(seed: number, steps: number): void {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  // Even seeds propagate commits lazily (decided by parity, so every seed keeps its draws).
  const net = new Network(
    IDS,
    { earlyFailover: random() < 0.5, lazyCommitPropagation: seed % 2 === 0 },
    seed,
  );
  const leaderOfTerm = new Map<number, number>();
  const appliedAt = new Map<number, string>();
  const checked = new Map<number, number>(IDS.map((id) => [id, 0]));
  let writes = 0;

  const check = (): void => {
    for (const id of IDS) {
      if (net.isDown(id)) continue;
      const s = net.node(id).status();
      if (s.role === "leader") {
        const other = leaderOfTerm.get(s.term);
        assert.ok(
          other === undefined || other === id,
          `seed ${seed}: leaders ${other} and ${id} in term ${s.term}`,
        );
        leaderOfTerm.set(s.term, id);
      }
      const m = net.member(id);
      // The helper resets `applied` on a snapshot; check what was applied since.
      const from = Math.max(0, m.applied.length - (m.appliedIndex - (checked.get(id) ?? 0)));
      for (const e of m.applied.slice(from)) {
        const key = `${e.term}:${e.type}:${Array.from(e.data).join(",")}`;
        const seen = appliedAt.get(e.index);
        assert.ok(
          seen === undefined || seen === key,
          `seed ${seed}: node ${id} applied a different entry at ${e.index}`,
        );
        appliedAt.set(e.index, key);
      }
      checked.set(id, m.appliedIndex);
    }
  };

  for (let step = 0; step < steps; step++) {
    const r = random();
    if (r < 0.03) {
      net.heal();
      const cut = IDS.filter(() => random() < 0.4);
      net.partition(
        cut,
        IDS.filter((id) => !cut.includes(id)),
      );
    } else if (r < 0.05) {
      net.heal();
    } else if (r < 0.065) {
      const id = pick(IDS);
      if (!net.isDown(id)) {
        net.crash(id);
        net.restart(id);
      } else net.up(id);
    } else if (r < 0.07) {
      for (const id of IDS) if (net.isDown(id)) net.up(id);
    } else if (r < 0.09) {
      const id = pick(IDS);
      if (!net.isDown(id)) net.node(id).reportLeaderLost();
    } else if (r < 0.1) {
      const leader = net.leaders()[0];
      if (leader !== undefined) {
        try {
          net.node(leader).transferLeadership(pick(IDS.filter((id) => id !== leader)));
        } catch (err) {
          if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
        }
      }
    } else if (r < 0.11) {
      const id = pick(IDS);
      const m = net.member(id);
      const snapIndex = m.storage.snapshot().metadata.index;
      if (!net.isDown(id) && m.appliedIndex > snapIndex + 5) {
        m.storage.createSnapshot(m.appliedIndex, undefined, bytes(`state@${m.appliedIndex}`));
        m.storage.compact(m.appliedIndex);
      }
    } else if (r < 0.4) {
      const id = pick(IDS);
      if (!net.isDown(id)) {
        try {
          net.node(id).propose(bytes(`w${writes++}`));
        } catch (err) {
          if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
        }
      }
    } else {
      net.dropIf = () => random() < 0.1;
      net.tick(1);
      net.dropIf = () => false;
    }
    check();
  }
  // Liveness: heal everything; a leader must emerge and all nodes converge. The bound covers a
  // snapshot retry (snapshotRetryTicks, 10 election timeouts): a snapshot message lost to the
  // random drops is only sent again after it.
  for (const id of IDS) net.up(id);
  net.heal();
  net.tick(120);
  check();
  const leaders = net.leaders();
  assert.equal(leaders.length, 1, `seed ${seed}: one leader after healing`);
  net.node(leaders[0]!).propose(bytes("final"));
  net.tick(5);
  check();
  const commit = net.node(leaders[0]!).status().commit;
  for (const id of IDS)
    assert.equal(net.node(id).status().commit, commit, `seed ${seed}: node ${id} converged`);
}

test("seeded fault runs keep election safety and state machine safety, then converge", () => {
  for (let seed = 1; seed <= 30; seed++) runSeed(seed, 600);
});
