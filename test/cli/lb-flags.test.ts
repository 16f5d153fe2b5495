// `hothot lb` flags become the same validated configuration as a YAML file would.
import assert from "node:assert/strict";
import { test } from "node:test";
import { configFromFlags } from "../../src/cli/lb.ts";

const upstreams = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"];

test("--frontend selects how client connections are served; raw by default", () => {
  assert.equal(configFromFlags({ upstream: upstreams }).frontend, "raw");
  assert.equal(configFromFlags({ upstream: upstreams, frontend: "node" }).frontend, "node");
  assert.throws(
    () => configFromFlags({ upstream: upstreams, frontend: "nginx" }),
    (error: unknown) => error instanceof Error && /frontend/.test(error.message),
  );
});

test("--upstream and --policy flags map onto the configuration", () => {
  const config = configFromFlags({
    upstream: ["a=http://127.0.0.1:9001,weight=3", upstreams[1]!],
    policy: "least-outstanding",
  });
  assert.equal(config.upstreams.length, 2);
  assert.equal(config.upstreams[0]?.weight, 3);
  assert.equal(config.policy.type, "least-outstanding");
});
