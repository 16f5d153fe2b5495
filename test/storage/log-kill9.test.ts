import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { LogStore } from "../../src/storage/index.ts";
import { payloadFor, temporaryDirectory } from "./helpers.ts";

const CHILD = join(import.meta.dirname, "fixtures", "log-writer-child.ts");
const KILLS = 50;

interface RunResult {
  maxAcked: number;
  sawReady: boolean;
  /** Milliseconds from spawn to READY (the end of recovery), when it was reached. */
  readyAfterMs: number | undefined;
}

/**
 * Starts the writer and kills it with SIGKILL `delayMs` after its first acknowledgement (when
 * `whileWriting`; so the kill lands among appends however slow the machine is) or after spawning
 * (so it may land during open and recovery).
 */
function runAndKill(
  directory: string,
  term: number,
  delayMs: number,
  whileWriting: boolean,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, directory, String(term)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let maxAcked = 0;
    let sawReady = false;
    let readyAfterMs: number | undefined;
    const spawnedAt = performance.now();
    let pending = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill("SIGKILL");
    if (!whileWriting) timer = setTimeout(kill, delayMs);
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.startsWith("READY")) {
          sawReady = true;
          readyAfterMs = performance.now() - spawnedAt;
        } else if (line.startsWith("ACK ")) {
          if (whileWriting && timer === undefined) timer = setTimeout(kill, delayMs);
          maxAcked = Math.max(maxAcked, Number(line.slice(4)));
        }
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    // A safety net: a child that never becomes ready is killed after a generous bound.
    const guard = setTimeout(kill, 30_000);
    child.on("exit", (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== "SIGKILL")
        reject(new Error(`writer exited with ${code ?? signal} before the kill: ${stderr}`));
      else resolve({ maxAcked, sawReady, readyAfterMs });
    });
  });
}

test(`kill -9 at random moments (${KILLS} times): every acknowledged entry survives, contiguous and verified`, {
  timeout: 600_000,
}, async () => {
  const dir = temporaryDirectory("kill9");
  try {
    // A fixed seed keeps the schedule reproducible; the kill instants still vary with timing.
    let seed = 20261127;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    let everAcked = 0;
    let killsWhileWriting = 0;
    let startupMs = 500;
    for (let run = 1; run <= KILLS; run++) {
      // Most kills land while appends are in flight; every fifth may land during open/recovery.
      const whileWriting = run % 5 !== 0;
      // The others are spread over the whole start-up (process start, open, recovery, first
      // appends), scaled by how long the previous start-up took on this machine.
      const delayMs = whileWriting
        ? Math.floor(random() * 250)
        : Math.floor(random() * 1.3 * startupMs);
      const result = await runAndKill(dir.path, run, delayMs, whileWriting);
      const { maxAcked, sawReady } = result;
      if (result.readyAfterMs !== undefined) startupMs = result.readyAfterMs;
      if (whileWriting) {
        assert.ok(
          sawReady && maxAcked > everAcked,
          `run ${run}: the writer acknowledged nothing new`,
        );
        killsWhileWriting++;
      }
      everAcked = Math.max(everAcked, maxAcked);

      const log = await LogStore.open({ directory: dir.path, maxSegmentBytes: 16 * 1024 });
      const last = log.lastIndex();
      assert.equal(log.firstIndex(), 1);
      assert.ok(
        last >= everAcked,
        `run ${run}: acknowledged ${everAcked} but the log ends at ${last}`,
      );
      // Reading verifies every record's CRC32C; check contiguity, terms and content too.
      let previousTerm = 0;
      for (let lo = 1; lo <= last; ) {
        const batch = log.entries(lo, last + 1, 256 * 1024);
        for (const [k, entry] of batch.entries()) {
          assert.equal(entry.index, lo + k, `run ${run}: gap at ${lo + k}`);
          assert.ok(
            entry.term >= previousTerm && entry.term <= run,
            `run ${run}: term ${entry.term} at ${entry.index}`,
          );
          assert.deepEqual(
            entry.data,
            payloadFor(entry.index, 1 + (entry.index % 300)),
            `run ${run}: payload of ${entry.index}`,
          );
          previousTerm = entry.term;
        }
        lo += batch.length;
      }
      await log.close();
    }
    assert.ok(everAcked > 0, "the writer acknowledged entries");
    assert.equal(killsWhileWriting, KILLS - KILLS / 5);
  } finally {
    dir.remove();
  }
});
