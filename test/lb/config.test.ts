import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { LbConfigError, parseLbConfig } from "../../src/lb/index.ts";

const run = promisify(execFile);
const cli = new URL("../../src/cli/main.ts", import.meta.url).pathname;

function fieldOf(input: unknown): string {
  try {
    parseLbConfig(input);
  } catch (error) {
    assert.ok(error instanceof LbConfigError, String(error));
    assert.equal(error.code, "LB_CONFIG_INVALID");
    assert.ok(error.message.includes(error.field), error.message);
    return error.field;
  }
  assert.fail("configuration was accepted");
}

const upstreams = [{ url: "http://127.0.0.1:3000" }];

test("defaults are resolved in one place", () => {
  const config = parseLbConfig({ upstreams });
  assert.equal(config.policy.type, "p2c");
  assert.equal(config.healthCheck.type, "http");
  assert.equal(config.frontend, "raw");
  assert.equal(config.upstreamClient, "native");
  assert.equal(config.timeouts.upstreamKeepAliveMs, 4000);
  assert.ok(
    config.timeouts.upstreamKeepAliveMs < 5000,
    "shorter than Node's default upstream keep-alive",
  );
  assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(config.upstreams[0], {
    name: "127.0.0.1:3000",
    url: "http://127.0.0.1:3000",
    host: "127.0.0.1",
    port: 3000,
    tls: false,
    weight: 1,
  });
  const tcp = parseLbConfig({ mode: "tcp", upstreams: [{ url: "10.0.0.1:5432" }] });
  assert.equal(tcp.healthCheck.type, "tcp");
  assert.equal(tcp.upstreams[0]!.url, "tcp://10.0.0.1:5432");
  const cluster = parseLbConfig({ cluster: { seeds: ["http://127.0.0.1:7101"] } });
  assert.equal(cluster.healthCheck.path, "/v1/health");
});

test("invalid configuration names the bad field", () => {
  assert.equal(fieldOf({ upstreams, policy: { type: "fastest" } }), "policy.type");
  assert.equal(fieldOf({ upstreams, frontend: "uws" }), "frontend");
  assert.equal(fieldOf({ upstreams, healthCheck: { rise: 0 } }), "healthCheck.rise");
  assert.equal(fieldOf({ upstreams, healthCheck: { intervall: 5 } }), "healthCheck.intervall");
  assert.equal(fieldOf({ upstreams: [{ url: "ftp://x:1" }] }), "upstreams.0.url");
  assert.equal(fieldOf({ upstreams: [{ url: "http://a:1", weight: -1 }] }), "upstreams.0.weight");
  assert.equal(
    fieldOf({ upstreams: [{ url: "http://a:1" }, { url: "http://a:1" }] }),
    "upstreams.1.name",
  );
  assert.equal(fieldOf({ upstreams, listen: "nowhere" }), "listen");
  assert.equal(fieldOf({ upstreams: [] }), "upstreams");
  assert.equal(
    fieldOf({ upstreams, outlier: { maxEjectionPercent: 101 } }),
    "outlier.maxEjectionPercent",
  );
  assert.equal(
    fieldOf({ upstreams, policy: { type: "consistent-hash", hashKey: "body" } }),
    "policy.hashKey",
  );
  assert.equal(fieldOf({ upstreams, cluster: { seeds: ["http://a:1"] } }), "upstreams");
  assert.equal(fieldOf({ mode: "tcp", cluster: { seeds: ["http://a:1"] } }), "cluster");
  assert.equal(fieldOf({ mode: "tcp", upstreams: [{ url: "db.internal" }] }), "upstreams.0.url");
  assert.equal(
    fieldOf({ upstreams, timeouts: { clientHeadersMs: 5000, clientRequestMs: 1000 } }),
    "timeouts.clientHeadersMs",
  );
  assert.equal(
    fieldOf({ upstreams, outlier: { baseEjectionMs: 5000, maxEjectionMs: 1000 } }),
    "outlier.maxEjectionMs",
  );
  assert.equal(fieldOf({ upstreams, upstreamClient: "curl" }), "upstreamClient");
});

test("hothot lb with a bad YAML file or flag exits non-zero and names the field", async () => {
  const directory = mkdtempSync(join(tmpdir(), "hothot-lb-config-"));
  try {
    const file = join(directory, "lb.yaml");
    writeFileSync(
      file,
      "listen: 127.0.0.1:0\nupstreams:\n  - url: http://127.0.0.1:3000\ntimeouts:\n  connectMs: soon\n",
    );
    await assert.rejects(
      run(process.execPath, ["--import", "tsx", cli, "lb", "--config", file]),
      (error: { code: number; stderr: string }) =>
        error.code === 2 && /"timeouts\.connectMs"/.test(error.stderr),
    );
    await assert.rejects(
      run(process.execPath, [
        "--import",
        "tsx",
        cli,
        "lb",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "http://127.0.0.1:3000",
        "--policy",
        "fastest",
      ]),
      (error: { code: number; stderr: string }) =>
        error.code === 2 && /"policy\.type"/.test(error.stderr),
    );
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test("the YAML examples in docs/lb.md are valid configurations", async () => {
  const { parse } = await import("yaml");
  const { readFileSync } = await import("node:fs");
  const markdown = readFileSync(new URL("../../docs/lb.md", import.meta.url), "utf8");
  const blocks = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.ok(blocks.length >= 2, "docs/lb.md has YAML examples");
  for (const block of blocks) {
    const config = parseLbConfig(parse(block));
    assert.ok(config.upstreams.length > 0);
  }
  // The reference block spells out every default: parsing it equals parsing the bare minimum.
  const reference = parseLbConfig(parse(blocks[0]!));
  const minimal = parseLbConfig({ upstreams: [{ name: "app1", url: "http://10.0.0.11:3000" }] });
  assert.deepEqual(reference, minimal);
});
