// Benchmark of the consensus core alone: proposals through an in-memory 3-node cluster. No I/O:
// storage is MemoryStorage, messages are handed from one RaftNode to another in-process.
// Proposals are batched (BATCH_ENTRIES per round, then every Ready is handled until the
// cluster is quiet), as the node layer batches client writes between Readies.
//
// Allocation is measured with v8's GC profiler: bytes allocated during the run = bytes freed
// by every GC in the run (used heap before minus after each GC) + growth of the used heap
// from start to end. Everything the run allocates counts: the core, MemoryStorage and this
// driver (whose own per-entry allocation is nil: one payload buffer is reused).
//
// Usage: npm run bench:raft [-- --seconds 12 --batch 1024 --payload 64]

import { GCProfiler, getHeapStatistics } from "node:v8";
import {
  type ConfState,
  type Entry,
  MemoryStorage,
  type Message,
  RaftNode,
} from "../src/raft/index.ts";

interface Options {
  seconds: number;
  warmupSeconds: number;
  batch: number;
  payloadBytes: number;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string, fallback: number): number => {
    const at = argv.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const value = Number(argv[at + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
    return value;
  };
  return {
    seconds: Math.min(get("seconds", 12), 60),
    warmupSeconds: Math.min(get("warmup", 2), 10),
    batch: Math.min(get("batch", 1024), 65536),
    payloadBytes: Math.min(get("payload", 64), 1 << 20),
  };
}

/** Deterministic PRNG (mulberry32): the core draws election timeouts from it. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CONF: ConfState = { voters: [1, 2, 3], learners: [] };
/** Compact each log once this many applied entries are past its snapshot (bounds memory). */
const COMPACT_EVERY_ENTRIES = 200_000;

class Cluster {
  readonly ids = [1, 2, 3];
  readonly nodes: RaftNode[] = [];
  readonly storages: MemoryStorage[] = [];
  readonly applied = [0, 0, 0];
  readonly inboxes: Message[][] = [[], [], []];
  messages = 0;

  constructor() {
    for (const id of this.ids) {
      const storage = new MemoryStorage(CONF);
      this.storages.push(storage);
      // 10 ms tick assumed: heartbeat 5 ticks, election 30 ticks, as the node layer runs it.
      this.nodes.push(
        new RaftNode({
          id,
          storage,
          random: seeded(id),
          heartbeatIntervalTicks: 5,
          electionTimeoutTicks: 30,
        }),
      );
    }
  }

  /** Handles every Ready and delivers every message until the cluster is quiet. */
  pump(): void {
    for (let rounds = 0; rounds < 1_000_000; rounds++) {
      let moved = false;
      for (let i = 0; i < 3; i++) {
        const node = this.nodes[i]!;
        if (!node.hasReady()) continue;
        moved = true;
        const rd = node.ready();
        const storage = this.storages[i]!;
        if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
        if (rd.entries.length > 0) storage.append(rd.entries);
        if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
        const msgs = rd.messages;
        for (let j = 0; j < msgs.length; j++) {
          const m = msgs[j]!;
          this.inboxes[m.to - 1]!.push(m);
        }
        this.messages += msgs.length;
        const committed: readonly Entry[] = rd.committedEntries;
        if (committed.length > 0) this.applied[i] = committed[committed.length - 1]!.index;
        node.advance();
      }
      for (let i = 0; i < 3; i++) {
        const inbox = this.inboxes[i]!;
        if (inbox.length === 0) continue;
        moved = true;
        this.inboxes[i] = [];
        const node = this.nodes[i]!;
        for (let j = 0; j < inbox.length; j++) node.step(inbox[j]!);
      }
      if (!moved) return;
    }
    throw new Error("the cluster did not quiesce");
  }

  maybeCompact(): void {
    for (let i = 0; i < 3; i++) {
      const storage = this.storages[i]!;
      const applied = this.applied[i]!;
      if (applied - storage.snapshot().metadata.index >= COMPACT_EVERY_ENTRIES) {
        storage.createSnapshot(applied, CONF, new Uint8Array(0));
        storage.compact(applied);
      }
    }
  }
}

interface Measurement {
  entries: number;
  seconds: number;
  messages: number;
  allocatedBytes: number;
  gcCount: number;
  gcPauseMs: number;
}

interface GcEntry {
  cost: number;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

function run(
  cluster: Cluster,
  leader: RaftNode,
  options: Options,
  seconds: number,
  measure: boolean,
): Measurement {
  const payload = new Uint8Array(options.payloadBytes).fill(42);
  const profiler = measure ? new GCProfiler() : undefined;
  const heapBefore = getHeapStatistics().used_heap_size;
  profiler?.start();
  const messagesBefore = cluster.messages;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let entries = 0;
  let rounds = 0;
  for (;;) {
    for (let i = 0; i < options.batch; i++) leader.propose(payload);
    entries += options.batch;
    cluster.pump();
    if ((++rounds & 63) === 0) {
      cluster.maybeCompact();
      if (process.hrtime.bigint() >= deadline) break;
    }
  }
  const elapsedNs = process.hrtime.bigint() - start;
  const heapAfter = getHeapStatistics().used_heap_size;
  const profile = profiler?.stop() as { statistics: GcEntry[] } | undefined;
  let freed = 0;
  let pauseUs = 0;
  for (const gc of profile?.statistics ?? []) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
    pauseUs += gc.cost;
  }
  return {
    entries,
    seconds: Number(elapsedNs) / 1e9,
    messages: cluster.messages - messagesBefore,
    allocatedBytes: freed + (heapAfter - heapBefore),
    gcCount: profile?.statistics.length ?? 0,
    gcPauseMs: pauseUs / 1000,
  };
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const cluster = new Cluster();
  const leader = cluster.nodes[0]!;
  leader.campaign();
  cluster.pump();
  if (leader.status().role !== "leader") throw new Error("node 1 did not become leader");

  process.stderr.write(`warming up for ${options.warmupSeconds} s...\n`);
  run(cluster, leader, options, options.warmupSeconds, false);
  process.stderr.write(
    `measuring for ${options.seconds} s (batch ${options.batch}, payload ${options.payloadBytes} B)...\n`,
  );
  const m = run(cluster, leader, options, options.seconds, true);

  const committed = leader.status().commit;
  for (let i = 1; i < 3; i++) {
    if (cluster.nodes[i]!.status().commit !== committed)
      throw new Error("followers did not converge");
  }
  const entriesPerSec = Math.round(m.entries / m.seconds);
  const bytesPerEntry = Math.round(m.allocatedBytes / m.entries);
  const result = {
    entriesPerSec,
    bytesPerEntry,
    entries: m.entries,
    seconds: Number(m.seconds.toFixed(3)),
    nodes: 3,
    batchEntries: options.batch,
    payloadBytes: options.payloadBytes,
    messagesPerEntry: Number((m.messages / m.entries).toFixed(4)),
    gcCount: m.gcCount,
    gcPauseMs: Number(m.gcPauseMs.toFixed(1)),
    allocationMethod:
      "v8 GCProfiler: sum over GCs of (used heap before - after) + used-heap growth over the run, divided by entries",
    node: process.version,
  };
  const rows: Array<[string, string]> = [
    ["cluster", "3 voters, in-process, MemoryStorage"],
    ["batch / payload", `${options.batch} entries / ${options.payloadBytes} B`],
    ["entries committed", String(m.entries)],
    ["duration", `${m.seconds.toFixed(2)} s`],
    ["entries/s", entriesPerSec.toLocaleString("en-US")],
    ["allocated bytes/entry", String(bytesPerEntry)],
    ["messages/entry", result.messagesPerEntry.toString()],
    ["GCs / pause", `${m.gcCount} / ${result.gcPauseMs} ms`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log("raft core benchmark (target >= 500,000 entries/s)");
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  console.log(`  allocation measured by: ${result.allocationMethod}`);
  console.log(JSON.stringify(result, null, 2));
  console.log(`RESULT ${JSON.stringify({ entriesPerSec, bytesPerEntry })}`);
}

main();
