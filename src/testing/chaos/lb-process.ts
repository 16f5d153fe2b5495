// A `hothot lb --cluster` process in front of the drill's nodes, so that some clients go through
// the load balancer as production clients would. It listens on an ephemeral loopback port and
// reports the port on its first stdout line.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { nodeCommand } from "../../node/index.ts";
import { DrillError } from "./errors.ts";

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5000;

export class LbProcess {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  private constructor(url: string, child: ChildProcess, exited: Promise<void>) {
    this.url = url;
    this.child = child;
    this.exited = exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(endpoints: readonly string[], logPath: string): Promise<LbProcess> {
    const { command, args } = nodeCommand();
    const child = spawn(
      command,
      [
        ...args,
        "lb",
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        endpoints.join(","),
        "--workers",
        "1",
        "--no-admin",
        "--state-file",
        "none",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const log = createWriteStream(logPath, { flags: "a" });
    child.stderr!.pipe(log, { end: false });
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    const url = await new Promise<string>((resolveUrl, reject) => {
      let buffer = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new DrillError(
            "CLUSTER_NOT_READY",
            `the load balancer did not start within ${START_TIMEOUT_MS} ms; see ${logPath}`,
          ),
        );
      }, START_TIMEOUT_MS);
      child.stdout!.on("data", (chunk: Buffer) => {
        log.write(chunk);
        buffer += chunk.toString("utf8");
        const newline = buffer.indexOf("\n");
        if (newline < 0) return;
        clearTimeout(timer);
        try {
          resolveUrl((JSON.parse(buffer.slice(0, newline)) as { listen: string }).listen);
        } catch {
          reject(
            new DrillError(
              "CLUSTER_NOT_READY",
              `the load balancer printed ${buffer.slice(0, 200)}`,
            ),
          );
        }
        buffer = "";
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(
          new DrillError(
            "CLUSTER_NOT_READY",
            `the load balancer exited with code ${code}; see ${logPath}`,
          ),
        );
      });
    });
    void exited.then(() => log.end());
    return new LbProcess(url, child, exited);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const force = setTimeout(() => this.child.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(force);
  }

  /** For exit handlers: no waiting. */
  killNow(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
