// Runs one member as a process: opens its data, starts the peer transport and the client API,
// and stops cleanly on SIGTERM / SIGINT.
import pino, { type Logger } from "pino";
import { type CounterSeries, type HistogramSeries, MAX_SERIES } from "../metrics/index.ts";
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
  // The series are looked up once per label set; an update is then a plain addition.
  const requestCounters = new Map<string, CounterSeries>();
  const requestHistograms = new Map<string, HistogramSeries>();
  const server = createHttpApi({
    member,
    maxKeyBytes: config.limits.maxKeyBytes,
    maxValueBytes: config.limits.maxValueBytes,
    fastFront: config.api.fastFront,
    keepAliveMs: config.api.keepAliveMs,
    headersTimeoutMs: config.api.headersTimeoutMs,
    ...(config.token ? { token: config.token } : {}),
    onRequest: (route, method, status, durationMs) => {
      const key = `${route} ${method} ${status}`;
      let counter = requestCounters.get(key);
      if (counter === undefined) {
        counter = member.metrics.requests.labels({ route, method, status: String(status) });
        // The metric bounds its label sets (src/metrics MAX_SERIES); so does this cache.
        if (requestCounters.size < MAX_SERIES) requestCounters.set(key, counter);
      }
      counter.inc();
      let histogram = requestHistograms.get(route);
      if (histogram === undefined) {
        histogram = member.metrics.requestSeconds.labels({ route });
        if (requestHistograms.size < MAX_SERIES) requestHistograms.set(route, histogram);
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
