import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadNodeConfig, parseNodeConfig } from "../../src/node/config.ts";

const valid = {
  id: 1,
  dataDir: "/tmp/hothot-node-1",
  listen: { api: "127.0.0.1:7101", peer: "127.0.0.1:7201" },
  secret: "0123456789abcdef-secret",
  members: [{ id: 1, peer: "127.0.0.1:7201", api: "http://127.0.0.1:7101" }],
};

function problems(input: unknown): string {
  try {
    parseNodeConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail("expected the configuration to be refused");
}

test("a minimal configuration gets the documented defaults", () => {
  const config = parseNodeConfig(valid);
  assert.equal(config.raft.tickMs, 10);
  assert.equal(config.raft.heartbeatIntervalTicks, 5);
  assert.equal(config.raft.electionTimeoutTicks, 30);
  assert.equal(config.raft.earlyFailover, true);
  assert.equal(config.limits.maxKeyBytes, 1024);
  assert.equal(config.limits.maxValueBytes, 1024 * 1024);
  assert.deepEqual(config.api, { fastFront: true, keepAliveMs: 65_000, headersTimeoutMs: 60_000 });
  assert.deepEqual(config.stateMachine, { commitIntervalMs: 100 });
});

test("every bad field is named by its path", () => {
  const message = problems({
    ...valid,
    raft: { tickMs: 0, colour: "red" },
    listen: { api: "x", peer: "127.0.0.1:1" },
    api: { fastFront: "yes", keepAliveMs: 10 },
    stateMachine: { commitIntervalMs: -1 },
  });
  assert.match(message, /stateMachine\.commitIntervalMs/);
  assert.match(message, /api\.fastFront/);
  assert.match(message, /api\.keepAliveMs/);
  assert.match(message, /raft\.tickMs/);
  assert.match(message, /raft: Unrecognized key: "colour"/);
  assert.match(message, /listen\.api: expected HOST:PORT/);
});

test("a node missing from its own members list is refused", () => {
  assert.match(
    problems({ ...valid, id: 2 }),
    /members: the members list must include this node \(id 2\)/,
  );
});

test("a cluster secret is required", () => {
  const { secret: _secret, ...withoutSecret } = valid;
  assert.match(problems(withoutSecret), /secret: a cluster secret is required/);
});

test("a client API beyond loopback needs a token or an explicit insecure flag", () => {
  const exposed = { ...valid, listen: { api: "0.0.0.0:7101", peer: "127.0.0.1:7201" } };
  assert.match(problems(exposed), /token: the client API listens beyond loopback/);
  assert.equal(parseNodeConfig({ ...exposed, insecure: true }).insecure, true);
  assert.equal(
    parseNodeConfig({ ...exposed, token: "a-long-enough-token" }).token,
    "a-long-enough-token",
  );
});

test("YAML files load, and unreadable or invalid files say which file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hothot-config-"));
  try {
    const good = join(dir, "node.yaml");
    writeFileSync(
      good,
      "id: 1\ndataDir: /tmp/x\nlisten: {api: 127.0.0.1:7101, peer: 127.0.0.1:7201}\nsecret: 0123456789abcdef0\nmembers:\n  - {id: 1, peer: 127.0.0.1:7201, api: http://127.0.0.1:7101}\n",
    );
    assert.equal(loadNodeConfig(good).id, 1);
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "id: [1\n");
    assert.throws(() => loadNodeConfig(broken), /broken\.yaml is not valid YAML/);
    assert.throws(() => loadNodeConfig(join(dir, "missing.yaml")), /cannot read .*missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
