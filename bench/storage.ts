// Storage benchmark: durable log appends of 100-byte and 4 KiB entries by 1, 8 and 64 concurrent
// writers, for the segment-file log (the engine in use) and for an LMDB-backed log (the
// alternative), side by side with the raw limit of the same disk measured in the same run: a
// write + fdatasync loop of the same sizes, batched the same way (one fdatasync per `writers`
// entries, which is the best any group commit can do with that many writers in flight).
//
// The engines of a cell run in interleaved slices (raw, raw-dsync, segments, lmdb, then the reverse
// order, ...) after an uncounted warm-up slice each, so all see the same disk conditions; each
// engine's ratio to the raw limit is the median over the rounds of its throughput divided by the
// limit measured in the same round, which stays meaningful when the shared disk's speed drifts.
//
// Usage: npm run bench:storage   (BENCH_CELL_MS=<ms> sets each engine's measured time per cell,
// default 4000, in BENCH_ROUNDS=<n> slices, default 20; a cell takes four times that plus warm-up)

import {
  closeSync,
  constants,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open as openLmdb } from "lmdb";
import { LogStore } from "../src/storage/index.ts";
import { envInteger } from "./lib/settings.ts";

const CELL_MS = envInteger("BENCH_CELL_MS", 4000, 100, 600_000);
const ROUNDS = envInteger("BENCH_ROUNDS", 20, 1, 999);
/** Uncounted first slice of every engine in a cell: JIT, file creation, first allocations. */
const WARMUP_MS = 200;
const ENTRY_SIZES_BYTES = [100, 4096] as const;
const WRITER_COUNTS = [1, 8, 64] as const;
/** BENCH_CELLS=100x64,4096x64 runs only those cells (for quick comparisons; RESULT needs both). */
const ONLY = process.env.BENCH_CELLS?.split(",");
/** Latency samples kept per cell: bounds memory whatever the disk's speed. */
const MAX_SAMPLES = 4_000_000;

interface CellResult {
  engine: "raw" | "raw-dsync" | "segments" | "lmdb";
  entrySizeBytes: number;
  writers: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  mbPerSec: number;
  p99Ms: number;
  fsyncs: number;
  /** MB/s of payload in each measured slice, in round order. */
  sliceMbPerSec: number[];
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

class Latencies {
  private readonly samples: Float64Array;
  private count = 0;
  constructor(capacity: number) {
    this.samples = new Float64Array(capacity);
  }
  add(ms: number): void {
    if (this.count < this.samples.length) this.samples[this.count++] = ms;
  }
  p99(): number {
    if (this.count === 0) return Number.NaN;
    const sorted = this.samples.subarray(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.floor(this.count * 0.99))] as number;
  }
}

function result(
  engine: CellResult["engine"],
  entrySizeBytes: number,
  writers: number,
  entries: number,
  seconds: number,
  p99Ms: number,
  fsyncs: number,
  sliceMbPerSec: number[],
): CellResult {
  return {
    engine,
    entrySizeBytes,
    writers,
    entries,
    seconds,
    entriesPerSec: Math.round(entries / seconds),
    mbPerSec: Number(((entries * entrySizeBytes) / seconds / 1e6).toFixed(2)),
    p99Ms: Number(p99Ms.toFixed(3)),
    fsyncs,
    sliceMbPerSec: sliceMbPerSec.map((mb) => Number(mb.toFixed(2))),
  };
}

/**
 * One engine in one cell. Cells interleave their engines in short slices (raw, segments, lmdb,
 * raw, ...) so that all three see the same disk conditions: on a shared machine the disk's speed
 * drifts by several times within a minute, and back-to-back runs would compare different disks.
 */
interface Runner {
  readonly engine: CellResult["engine"];
  /** Runs for about `ms`; a slice that is not `measured` (the warm-up) is left out of every figure. */
  runSlice(ms: number, measured: boolean): Promise<void>;
  finish(): Promise<CellResult>;
}

/** Counts one engine's measured slices. */
class Tally {
  entries = 0;
  busyMs = 0;
  readonly sliceMbPerSec: number[] = [];
  constructor(private readonly entrySizeBytes: number) {}
  add(measured: boolean, entries: number, ms: number): void {
    if (!measured) return;
    this.entries += entries;
    this.busyMs += ms;
    this.sliceMbPerSec.push((entries * this.entrySizeBytes) / (ms / 1000) / 1e6);
  }
}

/**
 * The disk's limit: one write of `writers` entries' bytes and one fdatasync per round ("raw"),
 * or one write to a file opened with O_DSYNC per round ("raw-dsync", which is how the segment
 * log writes). The better of the two is the limit the engines are compared with.
 */
function rawRunner(
  dir: string,
  entrySizeBytes: number,
  writers: number,
  mode: "fdatasync" | "dsync",
): Runner {
  const path = join(dir, `raw-${mode}-${entrySizeBytes}-${writers}.dat`);
  const fd =
    mode === "dsync"
      ? openSync(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC,
        )
      : openSync(path, "w");
  const engine = mode === "dsync" ? "raw-dsync" : "raw";
  const batch = Buffer.alloc(entrySizeBytes * writers, 0x5a);
  const latencies = new Latencies(MAX_SAMPLES);
  const tally = new Tally(entrySizeBytes);
  let position = 0;
  return {
    engine,
    async runSlice(ms, measured) {
      const start = performance.now();
      let rounds = 0;
      while (performance.now() - start < ms) {
        const t0 = performance.now();
        writeSync(fd, batch, 0, batch.length, position);
        if (mode === "fdatasync") fdatasyncSync(fd);
        position += batch.length;
        rounds++;
        if (measured) latencies.add(performance.now() - t0);
      }
      tally.add(measured, rounds * writers, performance.now() - start);
    },
    async finish() {
      closeSync(fd);
      rmSync(path);
      return result(
        engine,
        entrySizeBytes,
        writers,
        tally.entries,
        tally.busyMs / 1000,
        latencies.p99(),
        tally.entries / writers,
        tally.sliceMbPerSec,
      );
    },
  };
}

async function segmentsRunner(
  dir: string,
  entrySizeBytes: number,
  writers: number,
): Promise<Runner> {
  const directory = join(dir, `segments-${entrySizeBytes}-${writers}`);
  const log = await LogStore.open({ directory });
  const data = new Uint8Array(entrySizeBytes).fill(0x5a);
  const latencies = new Latencies(MAX_SAMPLES);
  const tally = new Tally(entrySizeBytes);
  let appended = 0;
  let fsyncs = 0;
  return {
    engine: "segments",
    async runSlice(ms, measured) {
      const start = performance.now();
      const deadline = start + ms;
      const syncsBefore = log.stats().syncCount;
      let entries = 0;
      async function writer(): Promise<void> {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await log.append([{ index: log.nextIndex(), term: 1, type: 0, data }]);
          if (measured) latencies.add(performance.now() - t0);
          entries++;
        }
      }
      await Promise.all(Array.from({ length: writers }, writer));
      appended += entries;
      tally.add(measured, entries, performance.now() - start);
      if (measured) fsyncs += log.stats().syncCount - syncsBefore;
    },
    async finish() {
      // Spot-check that what was measured is really there.
      const last = log.lastIndex();
      if (last !== appended || log.entries(last, last + 1)[0]?.data.length !== entrySizeBytes) {
        throw new Error(`segment log holds ${last} entries, expected ${appended}`);
      }
      await log.close();
      rmSync(directory, { recursive: true, force: true });
      return result(
        "segments",
        entrySizeBytes,
        writers,
        tally.entries,
        tally.busyMs / 1000,
        latencies.p99(),
        fsyncs,
        tally.sliceMbPerSec,
      );
    },
  };
}

/**
 * The alternative engine: entries as values keyed by index in LMDB. lmdb-js batches concurrent
 * puts into one transaction on its write thread. With `overlappingSync: false` a put's promise
 * resolves once its transaction is durable, which is what an append must wait for. (The default,
 * overlapping sync with `separateFlushed` and awaiting `flushed`, measured the same or slightly
 * slower here.)
 */
function lmdbRunner(dir: string, entrySizeBytes: number, writers: number): Runner {
  const path = join(dir, `lmdb-${entrySizeBytes}-${writers}`);
  const db = openLmdb<Buffer, number>({
    path,
    encoding: "binary",
    keyEncoding: "uint32",
    compression: false,
    overlappingSync: false,
  });
  const latencies = new Latencies(MAX_SAMPLES);
  const tally = new Tally(entrySizeBytes);
  let nextIndex = 1;
  return {
    engine: "lmdb",
    async runSlice(ms, measured) {
      const start = performance.now();
      const deadline = start + ms;
      let entries = 0;
      async function writer(): Promise<void> {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          // Same framing as a segment record: 17 header bytes (index, term, type) + payload.
          const value = Buffer.alloc(17 + entrySizeBytes, 0x5a);
          const index = nextIndex++;
          value.writeUInt32LE(index, 0);
          value[16] = 0;
          await db.put(index, value);
          if (measured) latencies.add(performance.now() - t0);
          entries++;
        }
      }
      await Promise.all(Array.from({ length: writers }, writer));
      tally.add(measured, entries, performance.now() - start);
    },
    async finish() {
      if (db.get(nextIndex - 1)?.length !== 17 + entrySizeBytes)
        throw new Error(`lmdb log lacks entry ${nextIndex - 1}`);
      await db.close();
      rmSync(path, { recursive: true, force: true });
      return result(
        "lmdb",
        entrySizeBytes,
        writers,
        tally.entries,
        tally.busyMs / 1000,
        latencies.p99(),
        Number.NaN,
        tally.sliceMbPerSec,
      );
    },
  };
}

async function runCell(
  dir: string,
  entrySizeBytes: number,
  writers: number,
): Promise<CellResult[]> {
  const runners = [
    rawRunner(dir, entrySizeBytes, writers, "fdatasync"),
    rawRunner(dir, entrySizeBytes, writers, "dsync"),
    await segmentsRunner(dir, entrySizeBytes, writers),
    lmdbRunner(dir, entrySizeBytes, writers),
  ];
  for (const runner of runners) await runner.runSlice(WARMUP_MS, false);
  const sliceMs = CELL_MS / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating the order cancels a bias from always following the same engine.
    const order = round % 2 === 0 ? runners : [...runners].reverse();
    for (const runner of order) await runner.runSlice(sliceMs, true);
  }
  const results: CellResult[] = [];
  for (const runner of runners) results.push(await runner.finish());
  return results;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hothot-bench-storage-"));
  const sameDisk = statSync(dir).dev === statSync(process.cwd()).dev;
  progress(
    `benchmark directory ${dir} (${sameDisk ? "same device as the working directory" : "a different device from the working directory"}), ${CELL_MS} ms per engine and cell in ${ROUNDS} rounds`,
  );
  const cells: CellResult[] = [];
  try {
    for (const entrySizeBytes of ENTRY_SIZES_BYTES) {
      for (const writers of WRITER_COUNTS) {
        if (ONLY !== undefined && !ONLY.includes(`${entrySizeBytes}x${writers}`)) continue;
        progress(
          `entry ${entrySizeBytes} B, ${writers} writer(s): raw loops, segments and lmdb in interleaved slices`,
        );
        cells.push(...(await runCell(dir, entrySizeBytes, writers)));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const find = (engine: CellResult["engine"], size: number, writers: number): CellResult => {
    const cell = cells.find(
      (c) => c.engine === engine && c.entrySizeBytes === size && c.writers === writers,
    );
    if (cell === undefined) throw new Error(`missing cell ${engine} ${size} ${writers}`);
    return cell;
  };
  /** The disk's limit for a cell: the faster of the two raw loops. */
  const rawLimitMbPerSec = (size: number, writers: number): number =>
    Math.max(find("raw", size, writers).mbPerSec, find("raw-dsync", size, writers).mbPerSec);
  /**
   * An engine's throughput relative to the disk's limit: the median over the rounds of its MB/s
   * divided by the faster raw loop's MB/s in the same round (slices a few hundred milliseconds
   * apart), robust against the drift of a shared disk's speed between rounds.
   */
  const ratioToRaw = (engine: CellResult["engine"], size: number, writers: number): number => {
    const slices = find(engine, size, writers).sliceMbPerSec;
    const raw = find("raw", size, writers).sliceMbPerSec;
    const dsync = find("raw-dsync", size, writers).sliceMbPerSec;
    const ratios = slices
      .map((mb, round) => mb / Math.max(raw[round] as number, dsync[round] as number))
      .sort((a, b) => a - b);
    const mid = ratios.length >> 1;
    return ratios.length % 2 === 1
      ? (ratios[mid] as number)
      : ((ratios[mid - 1] as number) + (ratios[mid] as number)) / 2;
  };
  const header = [
    "entry",
    "writers",
    "engine",
    "entries/s",
    "MB/s",
    "p99 ms",
    "fsyncs",
    "vs limit, cell",
    "vs limit, median of rounds",
  ];
  const rows = cells.map((c) => [
    `${c.entrySizeBytes} B`,
    String(c.writers),
    c.engine,
    String(c.entriesPerSec),
    c.mbPerSec.toFixed(2),
    c.p99Ms.toFixed(3),
    Number.isNaN(c.fsyncs) ? "-" : String(c.fsyncs),
    `${((c.mbPerSec / rawLimitMbPerSec(c.entrySizeBytes, c.writers)) * 100).toFixed(0)}%`,
    `${(ratioToRaw(c.engine, c.entrySizeBytes, c.writers) * 100).toFixed(0)}%`,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const line = (cols: string[]) =>
    cols.map((col, i) => col.padStart(widths[i] as number)).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));

  const small64 = find("segments", 100, 64);
  const large64 = find("segments", 4096, 64);
  const summary = {
    engine: "segments",
    cellMs: CELL_MS,
    rounds: ROUNDS,
    small64EntriesPerSec: small64.entriesPerSec,
    large64RatioToRaw: Number(ratioToRaw("segments", 4096, 64).toFixed(3)),
    large64RatioToRawWholeCell: Number((large64.mbPerSec / rawLimitMbPerSec(4096, 64)).toFixed(3)),
    small64RawLimitEntriesPerSec: Math.round((rawLimitMbPerSec(100, 64) * 1e6) / 100),
    large64RawLimitMBPerSec: rawLimitMbPerSec(4096, 64),
    p99AppendMs: small64.p99Ms,
    large64P99AppendMs: large64.p99Ms,
    lmdbSmall64EntriesPerSec: find("lmdb", 100, 64).entriesPerSec,
    lmdbLarge64RatioToRaw: Number(ratioToRaw("lmdb", 4096, 64).toFixed(3)),
  };
  // One line per cell keeps the per-round figures readable.
  console.log(
    `{\n  "cells": [\n${cells.map((c) => `    ${JSON.stringify(c)}`).join(",\n")}\n  ],\n  "summary": ${JSON.stringify(summary)}\n}`,
  );
  console.log(`RESULT ${JSON.stringify(summary)}`);
}

await main();
