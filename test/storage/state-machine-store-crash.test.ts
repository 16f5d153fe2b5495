// kill -9 a process that applies batches in a loop; after every restart the data must be exactly
// what the deterministic batch sequence produces up to the stored applied index: no batch torn,
// none half-applied, none lost from before the applied index.
//
// The same file is the child process when HOTHOT_SMS_CRASH_CHILD is set (keeps the fixture
// next to the test that needs it).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { StateMachineStore, type SyncMode } from "../../src/storage/state-machine-store.ts";

const CHILD_ENV = "HOTHOT_SMS_CRASH_CHILD";
const KILLS = 20;
const KEY_SPACE = 400;
const OPS_PER_BATCH = 120;

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = { kind: "put"; key: string; value: string } | { kind: "delete"; key: string };

/** The operations of batch number `batch` (which is also its applied index). */
function batchOps(batch: number): Op[] {
  const random = mulberry32(batch * 7919);
  const ops: Op[] = [];
  for (let i = 0; i < OPS_PER_BATCH; i++) {
    const key = `key-${Math.floor(random() * KEY_SPACE)}`;
    if (random() < 0.2) ops.push({ kind: "delete", key });
    else ops.push({ kind: "put", key, value: `${batch}:${i}:${"v".repeat(100 + (i % 100))}` });
  }
  return ops;
}

function expectedState(appliedIndex: number): Map<string, string> {
  const state = new Map<string, string>();
  for (let batch = 1; batch <= appliedIndex; batch++) {
    for (const op of batchOps(batch)) {
      if (op.kind === "put") state.set(op.key, op.value);
      else state.delete(op.key);
    }
  }
  return state;
}

async function runChild(spec: string): Promise<void> {
  const [dir, syncMode, sourceA, sourceB] = spec.split("|") as [string, SyncMode, string, string];
  if (syncMode === ("restore" as SyncMode)) return runRestoreChild(dir, sourceA, sourceB);
  const store = StateMachineStore.open({ dir, syncMode });
  let batch = store.appliedIndex();
  let announced = false;
  // Bounded: the parent kills it long before; the cap only stops a runaway child.
  while (batch < 1_000_000) {
    batch++;
    store.applyBatch(batch, (txn) => {
      for (const op of batchOps(batch)) {
        if (op.kind === "put") txn.put(Buffer.from(op.key), Buffer.from(op.value));
        else txn.delete(Buffer.from(op.key));
      }
    });
    if (!announced) {
      announced = true;
      // "async" commits in the background: announce only once this run's first batch is in.
      if (syncMode === "async") await store.committed();
      process.stdout.write("ready\n");
    }
    // Yield now and then so the parent's kill lands at varied points, in and between txns.
    if (batch % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Restores the target from whichever source it does not already match, forever. */
async function runRestoreChild(dir: string, sourceA: string, sourceB: string): Promise<void> {
  const target = StateMachineStore.open({ dir, restoreBatchSizeBytes: 32 * 1024 });
  const sources = [sourceA, sourceB].map((path) => StateMachineStore.open({ dir: path }));
  for (let round = 0; round < 10_000; round++) {
    const source = sources.find((s) => s.appliedIndex() !== target.appliedIndex()) ?? sources[0]!;
    await target.restoreFromSnapshot(source.openSnapshot());
    // After the first whole restore the parent may kill; restores follow back to back, so the
    // kill almost always lands inside one.
    if (round === 0) process.stdout.write("ready\n");
  }
}

function fillSource(dir: string, appliedIndex: number, entries: number): Map<string, string> {
  const store = StateMachineStore.open({ dir, syncMode: "deferred" });
  const content = new Map<string, string>();
  store.applyBatch(appliedIndex, (txn) => {
    for (let i = 0; i < entries; i++) {
      const key = `key-${String(i).padStart(6, "0")}`;
      const value = `${appliedIndex}:${i}:${"s".repeat(150)}`;
      txn.put(Buffer.from(key), Buffer.from(value));
      content.set(key, value);
    }
  });
  store.flush();
  void store.close();
  return content;
}

function readAll(store: StateMachineStore): Map<string, string> {
  const out = new Map<string, string>();
  let after: Uint8Array | undefined;
  for (;;) {
    const page = store.range({ after, limit: 1000 });
    for (const entry of page) {
      out.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString());
    }
    const last = page[page.length - 1];
    if (last === undefined) return out;
    after = last.key;
  }
}

/** mode: a SyncMode for the apply loop, or "restore|<source a>|<source b>". */
function runUntilKilled(dir: string, mode: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: `${dir}|${mode}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
    });
    child.stdout.on("data", (data: Buffer) => {
      if (!killed && data.toString().includes("ready")) {
        killed = true;
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
  test(`${KILLS} kill -9 restarts: data always matches exactly the applied index`, {
    timeout: 240_000,
  }, async () => {
    const root = mkdtempSync(join(tmpdir(), "hothot-sms-crash-"));
    try {
      const dir = join(root, "store");
      const random = mulberry32(20261127);
      let previousIndex = 0;
      let progressed = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const syncMode: SyncMode = (["fsync", "deferred", "async"] as const)[kill % 3]!;
        await runUntilKilled(dir, syncMode, 5 + Math.floor(random() * 150));
        const store = StateMachineStore.open({ dir });
        try {
          const appliedIndex = store.appliedIndex();
          // A process crash keeps every committed batch (the page cache survives), and the
          // child announced only after its first batch of this run committed.
          assert.ok(
            appliedIndex > previousIndex,
            `run ${kill}: applied index ${appliedIndex} did not pass ${previousIndex}`,
          );
          if (appliedIndex > previousIndex + 1) progressed++;
          assert.deepEqual(readAll(store), expectedState(appliedIndex), `run ${kill}`);
          previousIndex = appliedIndex;
        } finally {
          await store.close();
        }
      }
      assert.ok(progressed >= KILLS / 2, "most runs applied several batches before the kill");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("kill -9 during snapshot restores: the store holds either the old or the new image, whole", {
    timeout: 240_000,
  }, async () => {
    const root = mkdtempSync(join(tmpdir(), "hothot-sms-restore-crash-"));
    try {
      const sourceA = join(root, "source-a");
      const sourceB = join(root, "source-b");
      // Different key counts, so an image mixing the two would show.
      const images = new Map([
        [1000, fillSource(sourceA, 1000, 12_000)],
        [2000, fillSource(sourceB, 2000, 9_000)],
      ]);
      const dir = join(root, "target");
      const random = mulberry32(7);
      const seen = new Set<number>();
      for (let kill = 0; kill < 6; kill++) {
        const mode = `restore|${sourceA}|${sourceB}`;
        await runUntilKilled(dir, mode, Math.floor(random() * 200));
        const store = StateMachineStore.open({ dir });
        try {
          const appliedIndex = store.appliedIndex();
          seen.add(appliedIndex);
          const expected = images.get(appliedIndex);
          assert.ok(
            expected !== undefined,
            `run ${kill}: unexpected applied index ${appliedIndex}`,
          );
          assert.deepEqual(readAll(store), expected, `run ${kill}`);
        } finally {
          await store.close();
        }
      }
      assert.equal(seen.size, 2, `both images were current after some kill (saw ${[...seen]})`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
