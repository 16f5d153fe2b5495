// Real node processes on 127.0.0.1 for end-to-end tests.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HothotClient, type NodeStatus } from "../../../src/client/index.ts";
import { LocalCluster, type LocalClusterOptions } from "../../../src/node/index.ts";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port whose API (base+1..) and peer (base+101..) ports are all free right now. */
export async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 400) * 100;
    const ports = Array.from({ length: nodes + 2 }, (_, index) => [
      base + index + 1,
      base + 101 + index,
    ]).flat();
    const free = await Promise.all(ports.map(portFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no free port range found");
}

export interface TestCluster {
  readonly cluster: LocalCluster;
  readonly client: HothotClient;
  readonly dir: string;
  readonly basePort: number;
  clientFor(ids: number[]): HothotClient;
  status(id: number): Promise<NodeStatus | undefined>;
  waitForLeader(options?: { timeoutMs?: number; among?: number[] }): Promise<number>;
  stop(): Promise<void>;
}

export async function startCluster(
  options: {
    nodes?: number;
    overrides?: LocalClusterOptions["nodeOverrides"];
    autoRestart?: boolean;
  } = {},
): Promise<TestCluster> {
  const nodes = options.nodes ?? 3;
  const dir = mkdtempSync(join(tmpdir(), "hothot-e2e-"));
  const basePort = await freeBasePort(nodes);
  const cluster = new LocalCluster({
    dir,
    nodes,
    basePort,
    autoRestart: options.autoRestart ?? false,
    nodeOverrides: { log: { level: "info", pretty: false }, ...options.overrides },
  });
  await cluster.start();
  const clients: HothotClient[] = [];
  const clientFor = (ids: number[]) => {
    const client = new HothotClient({
      endpoints: ids.map((id) => cluster.node(id).api),
      requestTimeoutMs: 5000,
      maxAttempts: 20,
      retryDelayMs: 20,
      retryDelayMaxMs: 200,
    });
    clients.push(client);
    return client;
  };
  const client = clientFor(cluster.nodes.map((node) => node.id));
  const probe = new HothotClient({
    endpoints: [cluster.nodes[0]!.api],
    maxAttempts: 1,
    requestTimeoutMs: 1000,
  });
  clients.push(probe);
  const status = async (id: number) => {
    try {
      return await probe.status(cluster.node(id).api);
    } catch {
      return undefined;
    }
  };
  return {
    cluster,
    client,
    dir,
    basePort,
    clientFor,
    status,
    async waitForLeader({ timeoutMs = 30_000, among } = {}) {
      const ids =
        among ?? cluster.nodes.map((node) => node.id).filter((id) => cluster.isRunning(id));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const statuses = await Promise.all(ids.map(status));
        const leader = statuses.find((entry) => entry?.role === "leader");
        if (
          leader &&
          statuses.every((entry) => entry?.leaderId === leader.id && entry.term === leader.term)
        ) {
          return leader.id;
        }
        await sleep(50);
      }
      const logs = ids
        .map((id) => `--- node ${id}\n${cluster.readLog(id).split("\n").slice(-15).join("\n")}`)
        .join("\n");
      throw new Error(`no leader among ${ids.join(",")} within ${timeoutMs} ms\n${logs}`);
    },
    async stop() {
      await Promise.all(clients.map((instance) => instance.close()));
      await cluster.stop();
      // HH_KEEP_E2E=1 keeps the data and the nodes' logs for a look after a failure.
      if (process.env.HH_KEEP_E2E) console.error(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}
