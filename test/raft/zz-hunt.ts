import assert from "node:assert/strict";
import { type ConfChange, MemoryStorage, RaftError } from "../../src/raft/index.ts";
import { bytes, Network, seededRandom } from "./helpers/network.ts";

const IDS = [1, 2, 3, 4, 5];
function runSeed(seed: number, steps: number): void {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const pv = random() < 0.8;
  const opts = {
    earlyFailover: random() < 0.5,
    preVote: pv,
    checkQuorum: !pv || random() < 0.8,
    maxInflightMessages: 1 + Math.floor(random() * 4),
    maxMessageSizeBytes: 1 + Math.floor(random() * 40),
  };
  const net = new Network([1, 2, 3], opts, seed);
  for (const id of [4, 5])
    net.addMember(id, new MemoryStorage({ voters: [1, 2, 3], learners: [] }));
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
    } else if (r < 0.05) net.heal();
    else if (r < 0.065) {
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
    } else if (r < 0.12) {
      const id = pick(IDS);
      const m = net.member(id);
      const snapIndex = m.storage.snapshot().metadata.index;
      if (!net.isDown(id) && m.appliedIndex > snapIndex + 3) {
        m.storage.createSnapshot(m.appliedIndex, undefined, bytes(`s`));
        m.storage.compact(
          random() < 0.5 ? m.appliedIndex : Math.max(m.storage.firstIndex(), m.appliedIndex - 2),
        );
      }
    } else if (r < 0.14) {
      const leader = net.leaders()[0];
      if (leader !== undefined) {
        const conf = net.node(leader).status().confState;
        const id = pick(IDS);
        let change: ConfChange;
        if (conf.learners.includes(id))
          change =
            random() < 0.5
              ? { type: "promote-learner", nodeId: id }
              : { type: "remove-node", nodeId: id };
        else if (conf.voters.includes(id)) change = { type: "remove-node", nodeId: id };
        else
          change =
            random() < 0.7
              ? { type: "add-learner", nodeId: id }
              : { type: "add-voter", nodeId: id };
        if (change.type === "remove-node" && conf.voters.length <= 2 && conf.voters.includes(id))
          continue;
        try {
          net.node(leader).proposeConfChange(change);
        } catch (err) {
          if (!(err instanceof RaftError) || err.code === "INVARIANT") throw err;
        }
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
  for (const id of IDS) net.up(id);
  net.heal();
  net.tick(200);
  check();
  const leaders = net.leaders();
  if (leaders.length !== 1 && process.env.DBG) {
    console.log(JSON.stringify(opts));
    for (const id of IDS) {
      const s = net.node(id).status();
      console.log(
        id,
        s.role,
        "term",
        s.term,
        "lead",
        s.leaderId,
        "vote",
        s.vote,
        "commit",
        s.commit,
        "last",
        s.lastIndex,
        JSON.stringify(s.confState),
        "lastTerm",
        net.member(id).storage.lastIndex() >= net.member(id).storage.firstIndex() - 1
          ? net.member(id).storage.term(net.member(id).storage.lastIndex())
          : -1,
      );
    }
  }
  assert.equal(leaders.length, 1, `seed ${seed}: one leader after healing`);
  net.node(leaders[0]!).propose(bytes("final"));
  net.tick(10);
  check();
  const st = net.node(leaders[0]!).status();
  for (const id of [...st.confState.voters, ...st.confState.learners])
    assert.equal(net.node(id).status().commit, st.commit, `seed ${seed}: node ${id} converged`);
}
const from = Number(process.argv[2] ?? 1),
  to = Number(process.argv[3] ?? 200);
let fails = 0;
for (let seed = from; seed <= to; seed++) {
  try {
    runSeed(seed, 1500);
  } catch (err) {
    fails++;
    console.log(`seed ${seed}:`, (err as Error).message.split("\n")[0]);
    if (fails > 10) break;
  }
}
console.log("done", from, to, "fails", fails);
