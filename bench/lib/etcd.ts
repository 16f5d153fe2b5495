// A local 3-member etcd cluster (Debian's etcd-server) for side-by-side benchmarks, and a tiny
// client for its JSON gateway (/v3/kv/put, /v3/kv/range).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export function etcdAvailable(): boolean {
  try {
    execFileSync("etcd", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  process: ChildProcess | undefined;
}

export interface EtcdOptions {
  readonly dir: string;
  readonly basePort: number;
  readonly members?: number;
  /** etcd's own defaults are 100 ms heartbeats and a 1000 ms election timeout. */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
}

const b64 = (text: string | Uint8Array) => Buffer.from(text).toString("base64");

export class EtcdCluster {
  readonly members: EtcdMember[];
  private readonly options: EtcdOptions;

  constructor(options: EtcdOptions) {
    this.options = options;
    const count = options.members ?? 3;
    this.members = Array.from({ length: count }, (_, index) => ({
      name: `e${index + 1}`,
      clientUrl: `http://127.0.0.1:${options.basePort + index + 1}`,
      peerUrl: `http://127.0.0.1:${options.basePort + 100 + index + 1}`,
      process: undefined,
    }));
  }

  start(): void {
    for (const member of this.members) this.startMember(member);
  }

  startMember(member: EtcdMember): void {
    const initialCluster = this.members.map((entry) => `${entry.name}=${entry.peerUrl}`).join(",");
    const dataDir = join(this.options.dir, member.name);
    mkdirSync(dataDir, { recursive: true });
    const args = [
      "--name",
      member.name,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      member.clientUrl,
      "--advertise-client-urls",
      member.clientUrl,
      "--listen-peer-urls",
      member.peerUrl,
      "--initial-advertise-peer-urls",
      member.peerUrl,
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-token",
      "hothot-bench",
      "--initial-cluster-state",
      "new",
      "--log-level",
      "error",
    ];
    if (this.options.heartbeatMs)
      args.push("--heartbeat-interval", String(this.options.heartbeatMs));
    if (this.options.electionMs) args.push("--election-timeout", String(this.options.electionMs));
    member.process = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
    member.process.stderr?.resume();
    member.process.on("exit", () => {
      member.process = undefined;
    });
  }

  /** The member that answers as leader, by its /v3/maintenance/status. */
  async leader(timeoutMs = 20_000): Promise<EtcdMember> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const member of this.members) {
        if (!member.process) continue;
        try {
          const response = await fetch(`${member.clientUrl}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
            signal: AbortSignal.timeout(500),
          });
          const status = (await response.json()) as {
            header?: { member_id?: string };
            leader?: string;
          };
          if (status.leader && status.header?.member_id === status.leader) return member;
        } catch {
          // not up yet
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("etcd elected no leader");
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(
        (member) =>
          new Promise<void>((resolve) => {
            const child = member.process;
            if (!child?.pid) return resolve();
            child.once("exit", () => resolve());
            process.kill(child.pid, "SIGCONT");
            process.kill(child.pid, "SIGKILL");
          }),
      ),
    );
  }
}

/** Put through the JSON gateway of `endpoint`. Throws on any failure. */
export async function etcdPut(
  endpoint: string,
  key: string,
  value: string,
  timeoutMs = 2000,
): Promise<void> {
  const response = await fetch(`${endpoint}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { error?: string; header?: unknown };
  if (!response.ok || body.error || !body.header)
    throw new Error(`etcd put failed: ${response.status} ${JSON.stringify(body)}`);
}

export function etcdPutBody(key: string, value: string): string {
  return JSON.stringify({ key: b64(key), value: b64(value) });
}

export function etcdRangeBody(key: string): string {
  return JSON.stringify({ key: b64(key) });
}
