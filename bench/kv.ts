// Key-value throughput: a local 3-node hothot cluster and a local 3-member etcd cluster (when
// installed), loaded the same way by wrk: 32 connections of durable writes of 100-byte values to
// the leader, then 32 connections of linearizable reads spread over all three nodes.
//
//   npm run bench:kv
//   KV_BENCH_DURATION_S=10 KV_BENCH_CONNECTIONS=32 npm run bench:kv
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HothotClient } from "../src/client/index.ts";
import { LocalCluster } from "../src/node/index.ts";
import { EtcdCluster, etcdAvailable, etcdPutBody, etcdRangeBody } from "./lib/etcd.ts";
import { combine, rssKiB, runWrk, type WrkFigures, wrkAvailable } from "./lib/wrk.ts";

const durationSeconds = Number(process.env.KV_BENCH_DURATION_S ?? 8);
const connections = Number(process.env.KV_BENCH_CONNECTIONS ?? 32);
const keys = 1000;
const value = "v".repeat(100);
const work = mkdtempSync(join(tmpdir(), "hothot-bench-kv-"));

function log(message: string): void {
  process.stderr.write(`[bench:kv] ${message}\n`);
}

interface SystemFigures {
  writesPerSec: number;
  writeP50Ms: number;
  writeP99Ms: number;
  readsPerSec: number;
  readP50Ms: number;
  readP99Ms: number;
  errors: number;
  rssIdleMiB: number[];
  rssLoadedMiB: number[];
}

const luaPrelude = (body: string) => `
local counter = 0
local keys = ${keys}
local value = "${value}"
${body}
`;

function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0),
  );
}

async function measure(
  name: string,
  pids: () => Array<number | undefined>,
  writeUrl: string,
  writeScript: string,
  readUrls: string[],
  readScript: string,
): Promise<SystemFigures> {
  const rssIdleMiB = pids().map((pid) => Math.round(rssKiB(pid) / 1024));
  log(`${name}: writes, ${connections} connections, ${durationSeconds} s`);
  let rssLoaded = pids().map(() => 0);
  const sampler = setInterval(() => {
    rssLoaded = pids().map((pid, index) =>
      Math.max(rssLoaded[index] ?? 0, Math.round(rssKiB(pid) / 1024)),
    );
  }, 500);
  const writes = await runWrk({
    url: writeUrl,
    connections,
    threads: 2,
    durationSeconds,
    script: writeScript,
    scriptDir: work,
    name: `${name}-put`,
  });
  log(`${name}: reads over ${readUrls.length} nodes`);
  const readRuns = await Promise.all(
    readUrls.map((url, index) =>
      runWrk({
        url,
        connections: split(connections, readUrls.length)[index]!,
        threads: 1,
        durationSeconds,
        script: readScript,
        scriptDir: work,
        name: `${name}-get-${index}`,
      }),
    ),
  );
  clearInterval(sampler);
  const reads = combine(readRuns);
  return {
    writesPerSec: Math.round(writes.requestsPerSec),
    writeP50Ms: round(writes.p50Ms),
    writeP99Ms: round(writes.p99Ms),
    readsPerSec: Math.round(reads.requestsPerSec),
    readP50Ms: round(reads.p50Ms),
    readP99Ms: round(reads.p99Ms),
    errors: errorsOf(writes) + errorsOf(reads),
    rssIdleMiB,
    rssLoadedMiB: rssLoaded,
  };
}

const errorsOf = (figures: WrkFigures) => figures.errors + figures.non2xx;
const round = (value: number) => Math.round(value * 100) / 100;

async function benchHothot(): Promise<SystemFigures> {
  const cluster = new LocalCluster({
    dir: join(work, "hothot"),
    nodes: 3,
    basePort: 27100,
    autoRestart: false,
  });
  await cluster.start();
  try {
    const client = new HothotClient({
      endpoints: cluster.nodes.map((node) => node.api),
      maxAttempts: 50,
    });
    let leaderApi: string | undefined;
    for (let attempt = 0; attempt < 300 && !leaderApi; attempt++) {
      await client.put("warmup", "x").catch(() => undefined);
      leaderApi = await client.refreshLeader();
    }
    if (!leaderApi) throw new Error("hothot elected no leader");
    for (let index = 0; index < keys; index += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, offset) => client.put(`key-${index + offset}`, value)),
      );
    }
    await client.close();
    const writeScript = luaPrelude(`
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/kv/key-" .. (counter % keys), nil, value)
end`);
    const readScript = luaPrelude(`
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/kv/key-" .. (counter % keys))
end`);
    return await measure(
      "hothot",
      () => cluster.nodes.map((node) => node.pid),
      leaderApi,
      writeScript,
      cluster.nodes.map((node) => node.api),
      readScript,
    );
  } finally {
    await cluster.stop();
  }
}

async function benchEtcd(): Promise<SystemFigures> {
  const cluster = new EtcdCluster({ dir: join(work, "etcd"), basePort: 28100 });
  cluster.start();
  try {
    const leader = await cluster.leader();
    for (let index = 0; index < keys; index += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, offset) =>
          fetch(`${leader.clientUrl}/v3/kv/put`, {
            method: "POST",
            body: etcdPutBody(`key-${index + offset}`, value),
          }).then((response) => response.text()),
        ),
      );
    }
    // The gateway takes JSON with base64 keys and values: precompute the bodies.
    const bodies = (make: (key: string) => string) =>
      `local bodies = {}\n${Array.from({ length: keys }, (_, index) => `bodies[${index}] = '${make(`key-${index}`)}'`).join("\n")}`;
    const writeScript = luaPrelude(`
${bodies((key) => etcdPutBody(key, value))}
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v3/kv/put", nil, bodies[counter % keys])
end`);
    const readScript = luaPrelude(`
${bodies((key) => etcdRangeBody(key))}
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v3/kv/range", nil, bodies[counter % keys])
end`);
    return await measure(
      "etcd",
      () => cluster.members.map((member) => member.process?.pid),
      leader.clientUrl,
      writeScript,
      cluster.members.map((member) => member.clientUrl),
      readScript,
    );
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (!wrkAvailable()) {
    log("wrk is not installed (apt-get install wrk): cannot run");
    process.exitCode = 1;
    return;
  }
  const hothot = await benchHothot();
  let etcd: SystemFigures | undefined;
  if (etcdAvailable()) etcd = await benchEtcd();
  else log("etcd is not installed (apt-get install etcd-server): comparing against nothing");

  const rows = [
    [
      "system",
      "writes/s",
      "write p50",
      "write p99",
      "reads/s",
      "read p50",
      "read p99",
      "errors",
      "RSS idle MiB",
      "RSS loaded MiB",
    ],
  ];
  for (const [name, figures] of [
    ["hothot", hothot],
    ["etcd", etcd],
  ] as const) {
    if (!figures) continue;
    rows.push([
      name,
      String(figures.writesPerSec),
      `${figures.writeP50Ms} ms`,
      `${figures.writeP99Ms} ms`,
      String(figures.readsPerSec),
      `${figures.readP50Ms} ms`,
      `${figures.readP99Ms} ms`,
      String(figures.errors),
      figures.rssIdleMiB.join("/"),
      figures.rssLoadedMiB.join("/"),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
  const result = {
    writesPerSec: hothot.writesPerSec,
    readsPerSec: hothot.readsPerSec,
    writeP99Ms: hothot.writeP99Ms,
    readP99Ms: hothot.readP99Ms,
    rssIdleMiB: hothot.rssIdleMiB,
    rssLoadedMiB: hothot.rssLoadedMiB,
    errors: hothot.errors,
    etcd: etcd ?? null,
    writeRatio: etcd ? round(hothot.writesPerSec / etcd.writesPerSec) : null,
    readRatio: etcd ? round(hothot.readsPerSec / etcd.readsPerSec) : null,
    connections,
    durationSeconds,
    valueBytes: value.length,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`RESULT ${JSON.stringify(result)}`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
