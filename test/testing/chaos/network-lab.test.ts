import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { NetworkLab, networkLabAvailability } from "../../../src/testing/chaos/index.ts";

const availability = networkLabAvailability();

const rules = (lab: NetworkLab, id: number) =>
  execFileSync("ip", ["netns", "exec", lab.namespace(id), "iptables", "-S", "INPUT"], {
    encoding: "utf8",
  });
const links = () => execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
const namespaces = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });

test("namespaces, partition rules and their cleanup", {
  // Creating namespaces needs root; CI runs as root, a developer's shell may not.
  skip: availability.available ? false : `network namespaces unavailable: ${availability.reason}`,
}, () => {
  const lab = NetworkLab.create(3, 1234);
  try {
    assert.match(namespaces(), new RegExp(lab.namespace(3)));
    assert.match(links(), new RegExp(lab.bridge));
    lab.isolate(1);
    assert.match(rules(lab, 1), new RegExp(`-A INPUT -s ${lab.address(2)}/32 -j DROP`));
    assert.match(rules(lab, 2), new RegExp(`-A INPUT -s ${lab.address(1)}/32 -j DROP`));
    assert.doesNotMatch(rules(lab, 2), new RegExp(lab.address(3)));
    lab.heal();
    assert.doesNotMatch(rules(lab, 1), /DROP/);
    lab.oneWay(3, "out");
    assert.match(rules(lab, 1), new RegExp(`-s ${lab.address(3)}/32 -j DROP`));
    assert.doesNotMatch(rules(lab, 3), /DROP/);
    lab.heal();
    lab.split([1], [2, 3]);
    assert.equal((rules(lab, 1).match(/DROP/g) ?? []).length, 2);
    lab.heal();
    const how = lab.degrade(2, 20, 30, 5);
    assert.match(how, /loss (of )?20%/);
    if (!lab.netem) assert.match(rules(lab, 2), /statistic --mode random --probability 0\.2/);
    lab.heal();
    assert.doesNotMatch(rules(lab, 2), /DROP/);
  } finally {
    lab.cleanup();
  }
  assert.doesNotMatch(namespaces(), new RegExp(lab.namespace(1)));
  assert.doesNotMatch(links(), new RegExp(lab.bridge));
});

test("two labs at once get different names and subnets", {
  skip: availability.available ? false : `network namespaces unavailable: ${availability.reason}`,
}, () => {
  const a = NetworkLab.create(1, 5);
  try {
    const b = NetworkLab.create(1, 5);
    try {
      assert.notEqual(a.octet, b.octet);
      assert.notEqual(a.namespace(1), b.namespace(1));
    } finally {
      b.cleanup();
    }
  } finally {
    a.cleanup();
  }
});
