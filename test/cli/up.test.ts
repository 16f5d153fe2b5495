// `hothot up --json`: starts a local cluster and a load balancer in front of it, prints one JSON
// line once a leader is elected, serves writes through the load balancer, resumes the same data
// on a second run, and stops every process on SIGTERM.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { freeBasePort } from "../node/helpers/cluster.ts";

const main = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "hothot-up-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Ready {
  nodes: Array<{ id: number; api: string; pid: number }>;
  lb: string;
}

function startUp(port: number): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", main, "up", "--dir", dir, "--port", String(port), "--json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(
      () => reject(new Error(`no JSON line within 60 s; stderr:\n${stderr}`)),
      60_000,
    );
    child.stdout!.on("data", (chunk) => {
      stdout += chunk;
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        try {
          resolve({ child, ready: JSON.parse(stdout.trim()) as Ready });
        } catch (error) {
          reject(error);
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`up exited with ${code}; stderr:\n${stderr}`));
    });
  });
}

async function stopUp(child: ChildProcess, pids: number[]): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  child.kill("SIGTERM");
  const code = await exited;
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), `node process ${pid} still runs after up stopped`);
  }
  return code;
}

test("up --json prints the endpoints and the load balancer, serves writes, resumes its data", async () => {
  const port = await freeBasePort(3);
  const first = await startUp(port);
  assert.equal(first.ready.nodes.length, 3);
  assert.equal(first.ready.lb, `http://127.0.0.1:${port}`);
  const put = await fetch(`${first.ready.lb}/v1/kv/greeting`, { method: "PUT", body: "hello" });
  assert.equal(put.status, 200);
  assert.equal(
    await stopUp(
      first.child,
      first.ready.nodes.map((node) => node.pid),
    ),
    0,
  );

  const second = await startUp(port);
  const get = await fetch(`${second.ready.nodes[2]!.api}/v1/kv/greeting`);
  assert.equal(get.status, 200);
  assert.equal(((await get.json()) as { value: string }).value, "hello");
  assert.equal(
    await stopUp(
      second.child,
      second.ready.nodes.map((node) => node.pid),
    ),
    0,
  );
});
