// Assembles a running load balancer from a validated configuration: the controller (verdicts),
// one data plane in this process or N worker processes, and the admin endpoint.
import cluster, { type Worker } from "node:cluster";
import net from "node:net";
import { fileURLToPath } from "node:url";
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from "prom-client";
import { AdminServer } from "./admin-server.ts";
import type { Snapshot } from "./balancer.ts";
import type { LbConfig } from "./config.ts";
import { Controller, type ControllerStatus, type FailureKind } from "./controller.ts";
import { Dataplane } from "./dataplane.ts";
import { LbError } from "./errors.ts";
import type { Probe } from "./health-checker.ts";
import { listenOn } from "./listen.ts";
import type { RandomSource } from "./random.ts";

export interface StartOptions {
  /** Randomness for the policies (tests pass a seeded source). */
  random?: RandomSource;
  /** Health probe override (tests). */
  probe?: Probe;
}

export interface LoadBalancer {
  /** The port clients connect to (useful with listen port 0). */
  readonly port: number;
  /** The admin endpoint's port, or null when disabled. */
  readonly adminPort: number | null;
  readonly controller: Controller;
  /** PIDs of the processes that proxy traffic (this process, or the workers). */
  processIds(): number[];
  status(): ReturnType<AdminServerStatus>;
  metricsText(): Promise<string>;
  /** Graceful shutdown: stop accepting, drain in-flight requests, close. */
  close(): Promise<void>;
}

type AdminServerStatus = () => ControllerStatus & {
  panic: boolean;
  inflight: number;
  workers: number;
};

/** IPC between the primary and its workers. */
export type PrimaryMessage =
  | { type: "lb:snapshot"; snapshot: Snapshot }
  /** `withMetrics: false` asks only for the in-flight and panic figures (the status page's),
   * which cost a worker nothing to gather, unlike its serialised metrics. */
  | { type: "lb:metrics"; requestId: number; withMetrics: boolean }
  /** Carries a client connection's socket (the primary accepts for all workers). */
  | { type: "lb:connection" };
export type WorkerMessage =
  | { type: "lb:ready" }
  /** The worker has its first verdicts and serves the connections it is handed. */
  | { type: "lb:accepting" }
  | { type: "lb:failures"; name: string; kind: FailureKind }
  | {
      type: "lb:metrics";
      requestId: number;
      metrics: MetricObjectWithValues<MetricValue<string>>[];
      inflight: number;
      panic: boolean;
    };

export async function startLoadBalancer(
  config: LbConfig,
  options: StartOptions = {},
): Promise<LoadBalancer> {
  const controller = new Controller(config, options.probe ? { probe: options.probe } : {});
  try {
    const plane =
      config.workers > 1
        ? await startWorkers(config, controller)
        : await startLocal(config, controller, options);
    controller.start();
    let admin: AdminServer | null = null;
    let adminPort: number | null = null;
    if (config.admin.listen) {
      admin = new AdminServer({
        status: plane.status,
        metrics: async () => ({
          contentType: Registry.PROMETHEUS_CONTENT_TYPE,
          body: await plane.metricsText(),
        }),
        setAdminState: (name, state) => controller.setAdminState(name, state),
      });
      try {
        adminPort = await admin.listen(config.admin.listen.host, config.admin.listen.port);
      } catch (error) {
        await plane.close();
        throw new LbError(
          "LB_LISTEN_FAILED",
          `cannot listen on admin address ${config.admin.listen.host}:${config.admin.listen.port}: ${(error as Error).message}; choose another admin.listen or set it to null`,
        );
      }
    }
    let closing: Promise<void> | null = null;
    return {
      port: plane.port,
      adminPort,
      controller,
      status: plane.status,
      processIds: plane.processIds,
      metricsText: plane.metricsText,
      close() {
        closing ??= (async () => {
          await plane.close();
          await admin?.close();
          controller.stop();
        })();
        return closing;
      },
    };
  } catch (error) {
    controller.stop();
    throw error;
  }
}

interface Plane {
  port: number;
  processIds(): number[];
  status: AdminServerStatus;
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

async function startLocal(
  config: LbConfig,
  controller: Controller,
  options: StartOptions,
): Promise<Plane> {
  const dataplane = new Dataplane(
    config,
    (name, kind) => controller.reportFailures(name, kind),
    options.random,
  );
  const unsubscribe = controller.subscribe((snapshot) => dataplane.apply(snapshot));
  let port: number;
  try {
    port = await dataplane.listen(config.listen.host, config.listen.port);
  } catch (error) {
    unsubscribe();
    throw listenError(config, error);
  }
  const merged = () => Registry.merge([dataplane.metrics.registry, controller.metrics.registry]);
  return {
    port,
    processIds: () => [process.pid],
    status: () => ({
      ...controller.status(),
      panic: dataplane.balancer.inPanic,
      inflight: dataplane.balancer.totalOutstanding(),
      workers: 1,
    }),
    metricsText: () => merged().metrics(),
    async close() {
      await dataplane.close();
      unsubscribe();
    },
  };
}

function listenError(config: LbConfig, error: unknown): LbError {
  return new LbError(
    "LB_LISTEN_FAILED",
    `cannot listen on ${config.listen.host}:${config.listen.port}: ${(error as Error).message}; choose another --listen address`,
  );
}

function workerEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/load-balancer\.(ts|js)$/, "worker-main.$1");
}

/** The primary's Node.js flags, plus single-threaded garbage collection unless a flag about it
 * was given. A worker's heap is small and its young generation almost all garbage, so a
 * scavenge has little to do; with helper threads it waited for threads that compete for the
 * same cores as the proxy itself. Measured on 2 cores under full load: 0.53 ms per scavenge on
 * average (up to 2.5 ms) with the parallel collector, 0.20 ms (up to 0.6 ms) without, one
 * every ~80 ms, which put the parallel one's pauses right into the slowest percent of requests. */
function workerExecArgv(argv: readonly string[]): string[] {
  const gcFlag = /^--(?:no-)?(?:single-threaded-gc|single-threaded|parallel-scavenge)$/;
  return argv.some((flag) => gcFlag.test(flag)) ? [...argv] : [...argv, "--single-threaded-gc"];
}

/** Forks `config.workers` processes. The primary listens and hands each new connection to the
 * next worker in turn; it keeps the controller, so every worker applies the same verdicts. */
async function startWorkers(config: LbConfig, controller: Controller): Promise<Plane> {
  if (!cluster.isPrimary) throw new Error("startWorkers must run in the primary process");
  // Strict turns rather than node:cluster's round robin, which gives a connection to whichever
  // worker acknowledged its previous one first: under load that left one worker with up to
  // 1.5 times the connections of the other, and the clients on it with the longer waits.
  const accepting: Worker[] = [];
  let turn = 0;
  const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.on("error", () => socket.destroy());
    if (accepting.length === 0) {
      socket.destroy();
      return;
    }
    turn = (turn + 1) % accepting.length;
    let worker = accepting[turn]!;
    // A worker whose IPC channel closed is about to exit: pass it over.
    for (let step = 1; step < accepting.length && !worker.isConnected(); step++) {
      worker = accepting[(turn + step) % accepting.length]!;
    }
    // The socket is closed in this process once sent; a send that failed (the worker is gone)
    // leaves it to be closed here.
    worker.send({ type: "lb:connection" } satisfies PrimaryMessage, socket, (error) => {
      if (error) socket.destroy();
    });
  });
  acceptor.maxConnections = config.limits.maxClientConnections * config.workers;
  let port: number;
  try {
    port = await listenOn(acceptor, config.listen.host, config.listen.port);
  } catch (error) {
    throw listenError(config, error);
  }
  cluster.setupPrimary({
    exec: workerEntry(),
    execArgv: workerExecArgv(process.execArgv),
    silent: false,
  });
  const workers: Worker[] = [];
  const pending = new Map<
    number,
    { responses: WorkerMessage[]; expected: number; resolve: () => void }
  >();
  let nextRequestId = 1;
  let exiting = false;
  const started: Promise<void>[] = [];
  // Messages sent before a worker has installed its handler are lost, so a worker gets
  // snapshots only after it said it is ready (and then the latest one at once).
  const ready = new Set<Worker>();
  let latest: Snapshot | null = null;
  // A crashed worker is replaced, at most `maxRestartsPerMinute` times a minute, so that a
  // crash loop shows up as an error instead of burning CPU.
  const maxRestartsPerMinute = 10;
  const restarts: number[] = [];
  const fork = (index: number): Promise<void> => {
    const worker = cluster.fork({
      HOTHOT_LB_CONFIG: JSON.stringify(config),
      HOTHOT_LB_WORKER_INDEX: String(index),
    });
    workers[index] = worker;
    let serving = false;
    const start = new Promise<void>((resolve, reject) => {
      worker.once("exit", (code) => {
        ready.delete(worker);
        const at = accepting.indexOf(worker);
        if (at >= 0) accepting.splice(at, 1);
        if (!serving) {
          reject(new Error(`worker ${index} exited with code ${code} before serving`));
          return;
        }
        if (exiting) return;
        const now = Date.now();
        while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
        if (restarts.length >= maxRestartsPerMinute) {
          process.stderr.write(
            `hothot lb: worker ${index} exited (code ${code}) and workers restarted ${maxRestartsPerMinute} times within a minute; not restarting it\n`,
          );
          return;
        }
        restarts.push(now);
        process.stderr.write(
          `hothot lb: worker ${index} exited (code ${code}); starting a new one\n`,
        );
        fork(index).catch((error: Error) => {
          if (!exiting) process.stderr.write(`hothot lb: ${error.message}\n`);
        });
      });
      worker.on("message", (message: WorkerMessage) => {
        if (message.type === "lb:ready") {
          ready.add(worker);
          if (latest)
            worker.send({ type: "lb:snapshot", snapshot: latest } satisfies PrimaryMessage);
        } else if (message.type === "lb:accepting") {
          serving = true;
          if (!exiting && worker.isConnected()) accepting.push(worker);
          resolve();
        } else if (message.type === "lb:failures") {
          controller.reportFailures(message.name, message.kind);
        } else if (message.type === "lb:metrics") {
          const request = pending.get(message.requestId);
          if (request) {
            request.responses.push(message);
            if (request.responses.length >= request.expected) request.resolve();
          }
        }
      });
    });
    return start;
  };
  for (let index = 0; index < config.workers; index++) started.push(fork(index));
  const unsubscribe = controller.subscribe((snapshot) => {
    latest = snapshot;
    for (const worker of ready) {
      if (worker.isConnected())
        worker.send({ type: "lb:snapshot", snapshot } satisfies PrimaryMessage);
    }
  });
  try {
    await Promise.all(started);
  } catch (error) {
    exiting = true;
    unsubscribe();
    acceptor.close();
    for (const worker of workers) worker.process.kill("SIGKILL");
    throw new LbError(
      "LB_WORKER_FAILED",
      `a worker process failed to start: ${(error as Error).message}; see its output above`,
    );
  }
  let lastGather: WorkerMessage[] = [];
  const gather = async (withMetrics: boolean): Promise<WorkerMessage[]> => {
    const requestId = nextRequestId++;
    const live = workers.filter((worker) => worker.isConnected());
    const responses: WorkerMessage[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      pending.set(requestId, {
        responses,
        expected: live.length,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const worker of live)
        worker.send({ type: "lb:metrics", requestId, withMetrics } satisfies PrimaryMessage);
      if (live.length === 0) resolve();
    });
    pending.delete(requestId);
    lastGather = responses;
    return responses;
  };
  // Keep the status page's in-flight and panic figures fresh without blocking it on IPC.
  const refresher = setInterval(() => void gather(false), 2000);
  refresher.unref();
  return {
    port,
    processIds: () =>
      workers.filter((worker) => !worker.isDead()).map((worker) => worker.process.pid!),
    status: () => {
      let inflight = 0;
      let panic = false;
      for (const message of lastGather) {
        if (message.type === "lb:metrics") {
          inflight += message.inflight;
          panic ||= message.panic;
        }
      }
      return { ...controller.status(), panic, inflight, workers: workers.length };
    },
    async metricsText() {
      const responses = await gather(true);
      const lists = responses.flatMap((message) =>
        message.type === "lb:metrics" ? [message.metrics] : [],
      );
      lists.push(await controller.metrics.registry.getMetricsAsJSON());
      return AggregatorRegistry.aggregate(lists).metrics();
    },
    async close() {
      exiting = true;
      accepting.length = 0;
      const stopped = new Promise<void>((resolve) => acceptor.close(() => resolve()));
      clearInterval(refresher);
      unsubscribe();
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) {
                resolve();
                return;
              }
              const timer = setTimeout(
                () => worker.process.kill("SIGKILL"),
                config.timeouts.drainMs + 2000,
              );
              worker.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              // A signal, not an IPC message: a worker still starting up has no message
              // handler yet and would lose the message, while SIGTERM always arrives.
              worker.process.kill("SIGTERM");
            }),
        ),
      );
      await stopped;
    },
  };
}
