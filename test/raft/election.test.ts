import assert from "node:assert/strict";
import { test } from "node:test";
import { Network } from "./helpers/network.ts";

test("a follower that hears nothing for its election timeout becomes leader of a fresh cluster", () => {
  const net = new Network([1, 2, 3]);
  net.tick(25);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  for (const id of [1, 2, 3]) assert.equal(net.node(id).status().leaderId, leaders[0]);
});
