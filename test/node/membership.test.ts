// Membership changes on a running cluster while a writer keeps going: add a learner, promote it,
// remove an original member; no acknowledged write is lost and the new member converges.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HothotError } from "../../src/client/index.ts";
import { sleep, startCluster, type TestCluster } from "./helpers/cluster.ts";

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

test("add a learner, promote it and remove a member while writes continue", async () => {
  const leader = await cluster.waitForLeader();
  const writer = cluster.clientFor([1, 2, 3]);
  const acknowledged: string[] = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop && i < 20_000; i++) {
      const key = `m/${String(i).padStart(5, "0")}`;
      try {
        await writer.put(key, String(i));
        acknowledged.push(key);
      } catch (error) {
        if (!(error instanceof HothotError && error.code === "OUTCOME_UNKNOWN")) throw error;
      }
    }
  })();

  const added = cluster.cluster.addNode();
  const admin = cluster.clientFor([leader]);
  await admin.addLearner({ id: added.id, peer: added.peer, api: added.api });
  let members = (await admin.members()).members;
  assert.deepEqual(
    members.map((member) => [member.id, member.role]),
    [
      [1, "voter"],
      [2, "voter"],
      [3, "voter"],
      [added.id, "learner"],
    ],
  );

  // Promotion is refused until the learner has caught up; retry until it is accepted.
  let promoted = false;
  for (let attempt = 0; attempt < 200 && !promoted; attempt++) {
    try {
      await admin.promote(added.id);
      promoted = true;
    } catch (error) {
      if (!(error instanceof HothotError)) throw error;
      await sleep(100);
    }
  }
  assert.ok(promoted, "the learner was never promoted");
  members = (await admin.members()).members;
  assert.equal(members.find((member) => member.id === added.id)?.role, "voter");

  // Remove a follower of the original three.
  const removed = [1, 2, 3].find((id) => id !== leader)!;
  await admin.removeMember(removed);
  members = (await admin.members()).members;
  assert.deepEqual(
    members.map((member) => member.id).sort(),
    [1, 2, 3, added.id].filter((id) => id !== removed).sort(),
  );

  // Writes keep being acknowledged after the last change.
  const atRemoval = acknowledged.length;
  for (let waited = 0; acknowledged.length < atRemoval + 20 && waited < 30_000; waited += 50)
    await sleep(50);
  stop = true;
  await loop;
  assert.ok(
    acknowledged.length >= atRemoval + 20,
    `only ${acknowledged.length - atRemoval} writes were acknowledged after the removal`,
  );

  // The new member holds every acknowledged write.
  const reader = cluster.clientFor([added.id]);
  const seen = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await reader.list({
      prefix: "m/",
      limit: 1000,
      ...(cursor ? { after: cursor } : {}),
    });
    for (const item of page.items) seen.add(item.key);
    cursor = page.more ? (page.next ?? undefined) : undefined;
  } while (cursor);
  assert.deepEqual(
    acknowledged.filter((key) => !seen.has(key)),
    [],
  );
});
