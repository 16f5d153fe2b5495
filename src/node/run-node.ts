// Runs one member as a process: opens its data, starts the peer transport and the client API,
// and stops cleanly on SIGTERM / SIGINT.
import pino, { type Logger } from "pino";
import { type ApiServer, createHttpApi } from "./api-server.ts";
import { hostOf, type NodeConfig, portOf, resolveSecret } from "./config.ts";
import { ClusterMember } from "./member.ts";

export interface RunningNode {
  readonly member: ClusterMember;
  readonly server: ApiServer;
  readonly logger: Logger;
  close(): Promise<void>;
}

export function createLogger(config: NodeConfig): Logger {
  const options = { level: config.log.level, base: { node: config.id, pid: process.pid } };
  if (config.log.pretty) {
    return pino(
      options,
      pino.transport({
        target: "pino-pretty",
        options: { colorize: false, translateTime: "HH:MM:ss.l" },
      }),
    );
  }
  return pino(options);
}

export async function startNode(
  config: NodeConfig,
  logger = createLogger(config),
): Promise<RunningNode> {
  const member = await ClusterMember.open({ config, secret: resolveSecret(config), logger });
  // Bounded anyway (routes are templates), but a cache must never grow without limit.
  const MAX_LABEL_SETS = 1024;
  const requestCounters = new Map<string, { inc(): void }>();
  const requestHistograms = new Map<string, { observe(value: number): void }>();
  const server = createHttpApi({
    member,
    maxKeyBytes: config.limits.maxKeyBytes,
    maxValueBytes: config.limits.maxValueBytes,
    fastFront: config.api.fastFront,
    keepAliveMs: config.api.keepAliveMs,
    headersTimeoutMs: config.api.headersTimeoutMs,
    ...(config.token ? { token: config.token } : {}),
    onRequest: (route, method, status, durationMs) => {
      // Labelled children are looked up once: prom-client hashes the label object on every
      // inc/observe, a measurable cost at tens of thousands of requests per second.
      const key = `${route} ${method} ${status}`;
      let counter = requestCounters.get(key);
      if (counter === undefined) {
        if (requestCounters.size >= MAX_LABEL_SETS) requestCounters.clear();
        counter = member.metrics.requests.labels({ route, method, status: String(status) });
        requestCounters.set(key, counter);
      }
      counter.inc();
      let histogram = requestHistograms.get(route);
      if (histogram === undefined) {
        if (requestHistograms.size >= MAX_LABEL_SETS) requestHistograms.clear();
        histogram = member.metrics.requestSeconds.labels({ route });
        requestHistograms.set(route, histogram);
      }
      histogram.observe(durationMs / 1000);
    },
  });
  await member.start();
  await server.listen(portOf(config.listen.api), hostOf(config.listen.api));
  logger.info(
    { api: config.listen.api, peer: config.listen.peer, dataDir: config.dataDir },
    "node started",
  );
  let closing: Promise<void> | undefined;
  return {
    member,
    server,
    logger,
    close() {
      closing ??= (async () => {
        server.close();
        await member.close();
        logger.info("node stopped");
      })();
      return closing;
    },
  };
}
