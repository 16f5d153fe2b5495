import assert from "node:assert/strict";
import { test } from "node:test";
import { bytes, Network } from "./helpers/network.ts";

test("entries proposed on the leader are committed and applied on every node in order", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 20; i++) net.node(1).propose(bytes(`v${i}`));
  net.stabilize();
  const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), expected);
});

test("a proposal on a follower is forwarded to the leader", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const result = net.node(2).propose(bytes("via-2"));
  assert.deepEqual(result, { forwarded: true });
  net.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["via-2"]);
});

test("a restarted node keeps its log and hard state and catches up", () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(bytes("a"));
  net.stabilize();
  net.crash(3);
  net.node(1).propose(bytes("b"));
  net.stabilize();
  net.restart(3);
  net.up(3);
  net.tick(3);
  assert.deepEqual(net.appliedData(3), ["a", "b"]);
  assert.equal(net.node(3).status().term, net.node(1).status().term);
});
