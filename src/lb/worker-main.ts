// Entry point of a worker process (node:cluster). It proxies traffic and applies the primary's
// verdict snapshots; it never decides health or ejection itself.
import net from "node:net";
import type { LbConfig } from "./config.ts";
import { Dataplane } from "./dataplane.ts";
import type { PrimaryMessage, WorkerMessage } from "./load-balancer.ts";

function send(message: WorkerMessage): void {
  process.send?.(message);
}

const config = JSON.parse(process.env.HOTHOT_LB_CONFIG ?? "null") as LbConfig | null;
if (config === null || typeof process.send !== "function") {
  process.stderr.write("hothot lb worker: started without a primary; run `hothot lb` instead\n");
  process.exit(2);
}
const dataplane = new Dataplane(config, (name, kind) => send({ type: "lb:failures", name, kind }));
let firstSnapshot: () => void = () => undefined;
const configured = new Promise<void>((resolve) => {
  firstSnapshot = resolve;
});
process.on("message", (message: PrimaryMessage, handle: unknown) => {
  if (message.type === "lb:connection") {
    if (handle instanceof net.Socket) dataplane.adopt(handle);
  } else if (message.type === "lb:snapshot") {
    dataplane.apply(message.snapshot);
    firstSnapshot();
  } else if (message.type === "lb:metrics") {
    // Serialising every metric takes milliseconds, a stall that requests in flight feel: only
    // when the metrics are asked for, not for the status page's periodic refresh.
    const metrics = message.withMetrics
      ? dataplane.metrics.registry.getMetricsAsJSON()
      : Promise.resolve([]);
    void metrics.then((metrics) =>
      send({
        type: "lb:metrics",
        requestId: message.requestId,
        metrics,
        inflight: dataplane.balancer.totalOutstanding(),
        panic: dataplane.balancer.inPanic,
      }),
    );
  }
});
// The primary owns the terminal's signals (Ctrl-C reaches the whole process group); a worker
// stops when the primary sends SIGTERM or disappears (which closes the IPC channel).
process.on("SIGINT", () => undefined);
process.on("SIGTERM", () => void dataplane.close().finally(() => process.exit(0)));
process.on("disconnect", () => void dataplane.close().finally(() => process.exit(0)));
send({ type: "lb:ready" });
// Serving before the first verdicts arrive would answer every request with 503.
await configured;
// The primary listens and hands each new connection to the workers in turn: Node.js' own
// round robin skips a worker that has not yet acknowledged its last connection, which left
// one worker with up to half again as many connections as the other (and their clients with
// the longer waits).
dataplane.serveAdopted();
send({ type: "lb:accepting" });
