// Assembles a running load balancer from a validated configuration: the controller (verdicts),
// one data plane in this process or N worker processes, and the admin endpoint.
import cluster, { type Worker } from "node:cluster";
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
  | { type: "lb:metrics"; requestId: number };
export type WorkerMessage =
  | { type: "lb:ready" }
  | { type: "lb:listening"; port: number }
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

/** Forks `config.workers` processes that share the listening socket. The primary keeps the
 * controller, so every worker applies the same verdicts. */
async function startWorkers(config: LbConfig, controller: Controller): Promise<Plane> {
  if (!cluster.isPrimary) throw new Error("startWorkers must run in the primary process");
  cluster.setupPrimary({ exec: workerEntry(), execArgv: process.execArgv, silent: false });
  const workers: Worker[] = [];
  const pending = new Map<
    number,
    { responses: WorkerMessage[]; expected: number; resolve: () => void }
  >();
  let nextRequestId = 1;
  let exiting = false;
  const ports: Promise<number>[] = [];
  // Messages sent before a worker has installed its handler are lost, so a worker gets
  // snapshots only after it said it is ready (and then the latest one at once).
  const ready = new Set<Worker>();
  let latest: Snapshot | null = null;
  // A crashed worker is replaced, at most `maxRestartsPerMinute` times a minute, so that a
  // crash loop shows up as an error instead of burning CPU.
  const maxRestartsPerMinute = 10;
  const restarts: number[] = [];
  const fork = (index: number): Promise<number> => {
    const worker = cluster.fork({
      HOTHOT_LB_CONFIG: JSON.stringify(config),
      HOTHOT_LB_WORKER_INDEX: String(index),
    });
    workers[index] = worker;
    let listening = false;
    const port = new Promise<number>((resolve, reject) => {
      worker.once("exit", (code) => {
        ready.delete(worker);
        if (!listening) {
          reject(new Error(`worker ${index} exited with code ${code} before listening`));
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
        } else if (message.type === "lb:listening") {
          listening = true;
          resolve(message.port);
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
    return port;
  };
  for (let index = 0; index < config.workers; index++) ports.push(fork(index));
  const unsubscribe = controller.subscribe((snapshot) => {
    latest = snapshot;
    for (const worker of ready) {
      if (worker.isConnected())
        worker.send({ type: "lb:snapshot", snapshot } satisfies PrimaryMessage);
    }
  });
  let port: number;
  try {
    const all = await Promise.all(ports);
    port = all[0]!;
  } catch (error) {
    exiting = true;
    unsubscribe();
    for (const worker of workers) worker.process.kill("SIGKILL");
    throw listenError(config, error);
  }
  let lastGather: WorkerMessage[] = [];
  const gather = async (): Promise<WorkerMessage[]> => {
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
        worker.send({ type: "lb:metrics", requestId } satisfies PrimaryMessage);
      if (live.length === 0) resolve();
    });
    pending.delete(requestId);
    lastGather = responses;
    return responses;
  };
  // Keep the status page's in-flight and panic figures fresh without blocking it on IPC.
  const refresher = setInterval(() => void gather(), 2000);
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
      const responses = await gather();
      const lists = responses.flatMap((message) =>
        message.type === "lb:metrics" ? [message.metrics] : [],
      );
      lists.push(await controller.metrics.registry.getMetricsAsJSON());
      return AggregatorRegistry.aggregate(lists).metrics();
    },
    async close() {
      exiting = true;
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
    },
  };
}
