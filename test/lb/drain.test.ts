import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { countBy, get, sleep, startTestLb, startUpstream, type TestUpstream } from "./helpers.ts";

const run = promisify(execFile);
const cli = new URL("../../src/cli/main.ts", import.meta.url).pathname;

let upstreams: TestUpstream[] = [];
let directory = "";

before(async () => {
  directory = mkdtempSync(join(tmpdir(), "hothot-lb-drain-"));
  upstreams = await Promise.all(
    ["a", "b"].map((name) =>
      startUpstream(name, (request, response) => {
        request.resume();
        const delayMs = request.url === "/slow" ? 700 : 0;
        setTimeout(() => {
          response.writeHead(200, { "content-type": "text/plain" });
          response.end(name);
        }, delayMs);
      }),
    ),
  );
});

after(async () => {
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  rmSync(directory, { recursive: true, force: true });
});

function lbConfig(stateFile: string) {
  return {
    policy: { type: "round-robin" as const },
    healthCheck: { enabled: false },
    upstreams: upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url })),
    admin: { listen: "127.0.0.1:0", stateFile },
  };
}

test("drain through the CLI: the in-flight request finishes, new ones avoid the upstream, and the state survives a restart", async () => {
  const stateFile = join(directory, "state.json");
  const lb = await startTestLb(lbConfig(stateFile));
  let second: Awaited<ReturnType<typeof startTestLb>> | null = null;
  try {
    const slow = get(lb.port, "/slow"); // round robin: the first request goes to a
    await sleep(100);
    const { stdout } = await run(process.execPath, [
      "--import",
      "tsx",
      cli,
      "lb",
      "drain",
      "a",
      "--admin",
      `http://127.0.0.1:${lb.adminPort}`,
    ]);
    assert.equal(stdout.trim(), "a: drain");
    const names: string[] = [];
    for (let index = 0; index < 10; index++) names.push((await get(lb.port)).body);
    assert.deepEqual(countBy(names), { b: 10 });
    const slowReply = await slow;
    assert.equal(slowReply.status, 200);
    assert.equal(slowReply.body, "a");
    assert.deepEqual(JSON.parse(readFileSync(stateFile, "utf8")), {
      version: 1,
      upstreams: { a: "drain" },
    });
    await lb.close();

    second = await startTestLb(lbConfig(stateFile));
    assert.equal(
      second.status().upstreams.find((upstream) => upstream.name === "a")!.admin,
      "drain",
    );
    const afterRestart: string[] = [];
    for (let index = 0; index < 6; index++) afterRestart.push((await get(second.port)).body);
    assert.deepEqual(countBy(afterRestart), { b: 6 });

    const ready = await fetch(`http://127.0.0.1:${second.adminPort}/upstreams/a/ready`, {
      method: "POST",
    });
    assert.equal(ready.status, 200);
    await sleep(20);
    const back: string[] = [];
    for (let index = 0; index < 6; index++) back.push((await get(second.port)).body);
    assert.deepEqual(countBy(back), { a: 3, b: 3 });
    const unknown = await fetch(`http://127.0.0.1:${second.adminPort}/upstreams/zz/drain`, {
      method: "POST",
    });
    assert.equal(unknown.status, 404);
  } finally {
    await lb.close();
    await second?.close();
  }
});

test("maintenance takes an upstream out and the status page and metrics show it", async () => {
  const lb = await startTestLb(lbConfig(join(directory, "maintenance.json")));
  try {
    await fetch(`http://127.0.0.1:${lb.adminPort}/upstreams/b/maintenance`, { method: "POST" });
    await sleep(20);
    const names: string[] = [];
    for (let index = 0; index < 4; index++) names.push((await get(lb.port)).body);
    assert.deepEqual(countBy(names), { a: 4 });
    const page = await (await fetch(`http://127.0.0.1:${lb.adminPort}/`)).text();
    assert.match(page, /<td>b<\/td>.*maintenance/s);
    const metrics = await (await fetch(`http://127.0.0.1:${lb.adminPort}/metrics`)).text();
    assert.match(metrics, /hothot_lb_upstream_admin_state\{upstream="b",state="maintenance"\} 1/);
    assert.match(metrics, /hothot_lb_requests_total\{upstream="a",code_class="2xx"\} 4/);
    assert.match(metrics, /hothot_lb_request_duration_seconds_count\{upstream="a"\} 4/);
    assert.match(metrics, /hothot_lb_upstream_healthy\{upstream="a"\} 1/);
  } finally {
    await lb.close();
  }
});

test("graceful shutdown lets in-flight requests finish and refuses new connections", async () => {
  const lb = await startTestLb({
    ...lbConfig(join(directory, "shutdown.json")),
    admin: { listen: null, stateFile: null },
  });
  const inflight = [get(lb.port, "/slow"), get(lb.port, "/slow")];
  await sleep(100);
  const closing = lb.close();
  let closed = false;
  void closing.then(() => {
    closed = true;
  });
  await sleep(50);
  assert.equal(closed, false, "close must wait for in-flight requests");
  await assert.rejects(fetch(`http://127.0.0.1:${lb.port}/`));
  const replies = await Promise.all(inflight);
  assert.deepEqual(
    replies.map((reply) => reply.status),
    [200, 200],
  );
  assert.deepEqual(replies.map((reply) => reply.body).sort(), ["a", "b"]);
  await closing;
});
