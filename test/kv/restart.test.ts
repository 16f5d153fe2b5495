// Restart: the state machine resumes from its applied index, never re-applying or skipping an
// entry, after a clean close and after kill -9 in the middle of applying.
//
// The same file is the child process when HOTHOT_KV_RESTART_CHILD is set.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { encodeCommand, type KvCommand, type KvError, KvStateMachine } from "../../src/kv/index.ts";
import { defaultLimits, tempRoot } from "./helpers.ts";

const CHILD_ENV = "HOTHOT_KV_RESTART_CHILD";
const ENTRIES_PER_BATCH = 25;

/** The deterministic log: entry i is always the same command. */
function entryAt(index: number): Uint8Array {
  const key = `k/${(index * 7919) % 97}`;
  let command: KvCommand;
  switch (index % 5) {
    case 0:
      command = { type: "delete", key };
      break;
    case 1:
      command = {
        type: "txn",
        compare: [{ key, target: "version", op: "<", value: 3 }],
        success: [{ type: "put", key, value: Buffer.from(`txn-${index}`) }],
        failure: [{ type: "delete", key }],
      };
      break;
    case 2:
      return new Uint8Array(0);
    default:
      command = {
        type: "put",
        key,
        value: Buffer.from(`value-${index}-${"x".repeat(index % 300)}`),
      };
  }
  return encodeCommand(command, defaultLimits);
}

function applyRange(kv: KvStateMachine, from: number, to: number): void {
  const entries = [];
  for (let index = from; index <= to; index++) entries.push({ index, data: entryAt(index) });
  kv.apply(entries);
}

async function runChild(dir: string): Promise<void> {
  const kv = KvStateMachine.open({ dir });
  let announced = false;
  for (let round = 0; round < 100_000; round++) {
    const from = kv.appliedIndex() + 1;
    applyRange(kv, from, from + ENTRIES_PER_BATCH - 1);
    if (!announced) {
      announced = true;
      process.stdout.write("ready\n");
    }
    if (round % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

function runUntilKilled(dir: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let killing = false;
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.stdout.on("data", (data: Buffer) => {
      if (!killing && data.toString().includes("ready")) {
        killing = true;
        setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`child exited with code ${code} before the kill: ${stderr}`));
    });
  });
}

if (process.env[CHILD_ENV] !== undefined) {
  await runChild(process.env[CHILD_ENV]);
} else {
  const root = tempRoot("kv-restart");
  after(root.cleanup);

  test("after a clean restart the store resumes at its applied index and refuses old entries", async () => {
    const dir = root.dir();
    const first = KvStateMachine.open({ dir });
    applyRange(first, 1, 40);
    const before = first.digest();
    await first.close();

    const reopened = KvStateMachine.open({ dir });
    assert.equal(reopened.appliedIndex(), 40);
    assert.deepEqual(reopened.digest(), before);
    assert.throws(
      () => reopened.apply([{ index: 40, data: entryAt(40) }]),
      (error: unknown) => (error as KvError).code === "APPLY_OUT_OF_ORDER",
    );
    applyRange(reopened, 41, 60);

    const straight = KvStateMachine.open({ dir: root.dir() });
    applyRange(straight, 1, 60);
    assert.deepEqual(reopened.digest(), straight.digest());
    await reopened.close();
    await straight.close();
  });

  test("after kill -9 mid-apply the state equals a straight replay up to the applied index", {
    timeout: 180_000,
  }, async () => {
    const dir = root.dir();
    const reference = KvStateMachine.open({ dir: root.dir(), syncMode: "deferred" });
    let previous = 0;
    for (let kill = 0; kill < 8; kill++) {
      await runUntilKilled(dir, 10 + kill * 17);
      const kv = KvStateMachine.open({ dir });
      try {
        const applied = kv.appliedIndex();
        assert.ok(
          applied > previous,
          `run ${kill}: applied index ${applied} did not pass ${previous}`,
        );
        assert.equal(applied % ENTRIES_PER_BATCH, 0, "whole batches only");
        applyRange(reference, reference.appliedIndex() + 1, applied);
        assert.deepEqual(kv.digest(), reference.digest(), `run ${kill}`);
        previous = applied;
      } finally {
        await kv.close();
      }
    }
    await reference.close();
  });
}
