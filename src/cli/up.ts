// `hothot up`: a local hot-hot cluster on the embedded defaults; what `npm start` runs.

import { join } from "node:path";
import type { Command } from "commander";
import { HothotClient } from "../client/index.ts";
import { type LoadBalancer, parseLbConfig, startLoadBalancer } from "../lb/index.ts";
import { LocalCluster } from "../node/index.ts";
import { integerOption, type Output, output } from "./output.ts";

export interface UpOptions {
  nodes: number;
  dir: string;
  port: number;
  json: boolean;
  readyTimeoutMs: number;
  lb: boolean;
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("start a local cluster (one process per node) and keep it running")
    .option("-n, --nodes <count>", "number of nodes (1-9)", integerOption(1, 9), 3)
    .option("-d, --dir <path>", "directory for configuration, data and logs", "./.hothot")
    .option(
      "-p, --port <port>",
      "base port: node i serves its API on port+i, peers on port+100+i",
      integerOption(1024, 65000),
      7100,
    )
    .option(
      "--json",
      "print one JSON line with the endpoints once ready (logs go to stderr)",
      false,
    )
    .option("--no-lb", "do not start the load balancer in front of the cluster (on --port)")
    .option(
      "--ready-timeout-ms <ms>",
      "how long to wait for a leader",
      integerOption(1000, 600_000),
      30_000,
    )
    .action(async (options: UpOptions) => {
      process.exitCode = await up(options, output(options.json));
    });
}

async function up(options: UpOptions, out: Output): Promise<number> {
  const cluster = new LocalCluster({
    dir: options.dir,
    nodes: options.nodes,
    basePort: options.port,
    autoRestart: true,
    nodeOverrides: { log: { level: "info", pretty: false } },
    onEvent: (event) => {
      if (event.type === "started") out.info(`node ${event.id} started (pid ${event.pid})`);
      else if (event.type === "restarting")
        out.warn(`node ${event.id} will restart in ${event.delayMs} ms`);
      else if (!event.expected) {
        out.warn(
          `node ${event.id} (pid ${event.pid}) exited unexpectedly (${event.signal ?? `code ${event.code}`}); see ${cluster.node(event.id).logPath}`,
        );
      }
    },
  });
  try {
    await cluster.start();
  } catch (error) {
    out.error((error as Error).message);
    return 1;
  }
  let loadBalancer: LoadBalancer | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    out.info(`${signal}: stopping ${cluster.nodes.length} nodes`);
    await loadBalancer?.close();
    await cluster.stop();
    out.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const client = new HothotClient({ endpoints: cluster.nodes.map((node) => node.api) });
  const leader = await waitForLeader(client, options.readyTimeoutMs);
  await client.close();
  if (leader === undefined) {
    out.error(
      `no leader was elected within ${options.readyTimeoutMs} ms; see the logs in ${cluster.dir}/logs`,
    );
    await cluster.stop();
    return 1;
  }
  let lbUrl: string | undefined;
  if (options.lb) {
    try {
      loadBalancer = await startLoadBalancer(
        parseLbConfig({
          listen: `127.0.0.1:${options.port}`,
          workers: 1,
          cluster: { seeds: cluster.nodes.map((node) => node.api) },
          admin: {
            listen: `127.0.0.1:${options.port + 90}`,
            stateFile: join(cluster.dir, "lb-state.json"),
          },
        }),
      );
      lbUrl = `http://127.0.0.1:${loadBalancer.port}`;
    } catch (error) {
      out.error(
        `the load balancer could not start: ${(error as Error).message}; run with --no-lb to go without`,
      );
      await cluster.stop();
      return 1;
    }
  }
  const nodes = cluster.nodes.map((node) => ({ id: node.id, api: node.api, pid: node.pid }));
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ nodes, ...(lbUrl ? { lb: lbUrl } : {}) })}\n`);
  } else {
    out.info(`cluster ready in ${cluster.dir}: leader is node ${leader}`);
    for (const node of nodes) out.info(`  node ${node.id}  ${node.api}  pid ${node.pid}`);
    if (lbUrl) {
      out.info(
        `  load balancer  ${lbUrl}  (writes to the leader, reads to every node; admin http://127.0.0.1:${options.port + 90})`,
      );
    }
    const entry = lbUrl ?? nodes[0]!.api;
    out.info(`try: curl -X PUT ${entry}/v1/kv/hello -d world && curl ${entry}/v1/kv/hello`);
    out.info("Ctrl-C stops the cluster; running `hothot up` again on the same --dir resumes it");
  }
  // Keep running until a signal arrives.
  await new Promise<never>(() => {});
  return 0;
}

async function waitForLeader(client: HothotClient, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await client.statusAll();
    const up = statuses.filter((entry) => entry.status);
    const leader = up.find((entry) => entry.status!.role === "leader")?.status?.id;
    if (
      leader !== undefined &&
      up.length === statuses.length &&
      up.every((entry) => entry.status!.leaderId === leader)
    ) {
      return leader;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}
