// A cluster of node processes on this machine: what `hothot up` runs, and what the chaos
// harness and the end-to-end tests drive. It writes one configuration per node into a directory
// (reused on the next start, so the same cluster and data come back), starts `hothot node` for
// each, restarts a node that exits unexpectedly (with backoff), and can kill, pause and resume
// nodes on purpose.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify as stringifyYaml } from "yaml";
import { loadNodeConfig, type NodeConfig, type NodeConfigInput } from "./config.ts";

export interface LocalClusterOptions {
  /** Directory holding configurations, data and logs. Reused if it already holds a cluster. */
  readonly dir: string;
  readonly nodes: number;
  /** Node i's API listens on basePort + i, its peer transport on basePort + 100 + i. */
  readonly basePort: number;
  readonly host?: string;
  /**
   * Listen host of each node (index id - 1), overriding `host`: the chaos harness puts each node
   * in its own network namespace with its own address.
   */
  readonly hosts?: readonly string[];
  /**
   * Command words put before each node's command, e.g. `["ip", "netns", "exec", "ns1"]`. The
   * prefix must exec the node (as `ip netns exec` does) so that signals reach the node itself.
   */
  readonly commandPrefix?: (id: number) => readonly string[];
  /** Restart a node that exits without being asked to. */
  readonly autoRestart?: boolean;
  /** Extra configuration merged into every node's file when the cluster is created. */
  readonly nodeOverrides?: Partial<NodeConfigInput>;
  /** Extra environment for node processes. */
  readonly env?: NodeJS.ProcessEnv;
  readonly onEvent?: (event: LocalClusterEvent) => void;
}

export type LocalClusterEvent =
  | { type: "started"; id: number; pid: number }
  | {
      type: "exited";
      id: number;
      pid: number;
      code: number | null;
      signal: string | null;
      expected: boolean;
    }
  | { type: "restarting"; id: number; delayMs: number };

export interface LocalNode {
  readonly id: number;
  readonly api: string;
  readonly peer: string;
  readonly configPath: string;
  readonly logPath: string;
  pid: number | undefined;
}

interface Slot {
  node: LocalNode;
  child: ChildProcess | undefined;
  expectedExit: boolean;
  restartAttempts: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

const RESTART_DELAY_MIN_MS = 200;
const RESTART_DELAY_MAX_MS = 5000;
/** A node that ran this long is considered healthy again: its next restart starts at the minimum delay. */
const RESTART_RESET_AFTER_MS = 30_000;

/** The CLI entry, built or from source, so tests and `up` run the same code path. */
export function nodeCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) {
    const main = resolve(here, "../../cli/main.ts");
    return { command: process.execPath, args: ["--import", "tsx", main] };
  }
  return { command: process.execPath, args: [resolve(here, "../../cli/main.js")] };
}

export class LocalCluster {
  readonly dir: string;
  private readonly options: LocalClusterOptions;
  private readonly slots = new Map<number, Slot>();
  private stopping = false;

  constructor(options: LocalClusterOptions) {
    this.options = options;
    this.dir = resolve(options.dir);
  }

  get nodes(): LocalNode[] {
    return [...this.slots.values()].map((slot) => slot.node);
  }

  node(id: number): LocalNode {
    const slot = this.slots.get(id);
    if (!slot) throw new Error(`no node ${id} in this cluster`);
    return slot.node;
  }

  /** Write (or reuse) the configuration files and start every node. */
  async start(): Promise<void> {
    for (const config of this.prepare()) {
      const node: LocalNode = {
        id: config.id,
        api: `http://${config.listen.api}`,
        peer: config.listen.peer,
        configPath: join(this.dir, `node-${config.id}.yaml`),
        logPath: join(this.dir, "logs", `node-${config.id}.log`),
        pid: undefined,
      };
      this.addSlot(config.id, node);
    }
    for (const id of this.slots.keys()) this.spawnNode(id);
  }

  private prepare(): NodeConfig[] {
    const { nodes, basePort } = this.options;
    const hostOf = (id: number) => this.hostOf(id);
    mkdirSync(join(this.dir, "logs"), { recursive: true });
    const existing = [...Array(64).keys()]
      .map((index) => join(this.dir, `node-${index + 1}.yaml`))
      .filter((path) => existsSync(path));
    if (existing.length > 0) {
      if (existing.length !== nodes) {
        throw new Error(
          `${this.dir} holds a ${existing.length}-node cluster; run with --nodes ${existing.length}, or use another --dir`,
        );
      }
      return existing.map((path) => loadNodeConfig(path));
    }
    const secretPath = join(this.dir, "cluster-secret");
    if (!existsSync(secretPath)) {
      writeFileSync(secretPath, randomBytes(32).toString("hex"), { mode: 0o600 });
    }
    const members = Array.from({ length: nodes }, (_, index) => ({
      id: index + 1,
      peer: `${hostOf(index + 1)}:${basePort + 100 + index + 1}`,
      api: `http://${hostOf(index + 1)}:${basePort + index + 1}`,
    }));
    const configs: NodeConfig[] = [];
    for (const member of members) {
      const input: NodeConfigInput = {
        id: member.id,
        dataDir: join(this.dir, `node-${member.id}`),
        listen: { api: `${hostOf(member.id)}:${basePort + member.id}`, peer: member.peer },
        secretFile: secretPath,
        members,
        ...this.options.nodeOverrides,
      };
      const path = join(this.dir, `node-${member.id}.yaml`);
      writeFileSync(path, stringifyYaml(input));
      configs.push(loadNodeConfig(path));
    }
    return configs;
  }

  /**
   * Write the configuration of a new member that joins this cluster (it starts with no voters
   * and waits to be added by the leader) and start it. Add it with `member add`, then promote it.
   */
  addNode(): LocalNode {
    const { basePort } = this.options;
    const id = Math.max(0, ...this.slots.keys()) + 1;
    const host = this.hostOf(id);
    const existing = this.nodes.map((node) => ({ id: node.id, peer: node.peer, api: node.api }));
    const member = {
      id,
      peer: `${host}:${basePort + 100 + id}`,
      api: `http://${host}:${basePort + id}`,
    };
    const input: NodeConfigInput = {
      id,
      dataDir: join(this.dir, `node-${id}`),
      listen: { api: `${host}:${basePort + id}`, peer: member.peer },
      secretFile: join(this.dir, "cluster-secret"),
      members: [...existing, member],
      join: true,
      ...this.options.nodeOverrides,
    };
    const configPath = join(this.dir, `node-${id}.yaml`);
    writeFileSync(configPath, stringifyYaml(input));
    loadNodeConfig(configPath);
    const node: LocalNode = {
      id,
      api: member.api,
      peer: member.peer,
      configPath,
      logPath: join(this.dir, "logs", `node-${id}.log`),
      pid: undefined,
    };
    this.addSlot(id, node);
    this.spawnNode(id);
    return node;
  }

  /** A slot for a node that is not running yet. */
  private addSlot(id: number, node: Slot["node"]): void {
    this.slots.set(id, {
      node,
      child: undefined,
      expectedExit: false,
      restartAttempts: 0,
      startedAt: 0,
      restartTimer: undefined,
      exited: Promise.resolve(),
    });
  }

  private hostOf(id: number): string {
    return this.options.hosts?.[id - 1] ?? this.options.host ?? "127.0.0.1";
  }

  private spawnNode(id: number): void {
    const slot = this.slots.get(id)!;
    const { command, args } = nodeCommand();
    const prefix = this.options.commandPrefix?.(id) ?? [];
    const words = [...prefix, command, ...args, "node", "--config", slot.node.configPath];
    const log = createWriteStream(slot.node.logPath, { flags: "a" });
    const child = spawn(words[0]!, words.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.options.env },
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    slot.child = child;
    slot.expectedExit = false;
    slot.startedAt = Date.now();
    slot.node.pid = child.pid;
    slot.exited = new Promise<void>((resolveExit) => {
      child.on("exit", (code, signal) => {
        log.end();
        slot.node.pid = undefined;
        slot.child = undefined;
        const expected = slot.expectedExit || this.stopping;
        this.options.onEvent?.({ type: "exited", id, pid: child.pid ?? 0, code, signal, expected });
        if (!expected && this.options.autoRestart !== false) this.scheduleRestart(id);
        resolveExit();
      });
    });
    this.options.onEvent?.({ type: "started", id, pid: child.pid ?? 0 });
  }

  private scheduleRestart(id: number): void {
    const slot = this.slots.get(id)!;
    if (Date.now() - slot.startedAt > RESTART_RESET_AFTER_MS) slot.restartAttempts = 0;
    const delayMs = Math.min(
      RESTART_DELAY_MAX_MS,
      RESTART_DELAY_MIN_MS * 2 ** slot.restartAttempts,
    );
    slot.restartAttempts++;
    this.options.onEvent?.({ type: "restarting", id, delayMs });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping && !slot.child) this.spawnNode(id);
    }, delayMs);
  }

  /** Send a signal to a node. SIGKILL and SIGTERM count as unexpected exits unless `expected`. */
  signal(id: number, signal: NodeJS.Signals, options: { expected?: boolean } = {}): void {
    const slot = this.slots.get(id);
    if (!slot?.child?.pid) throw new Error(`node ${id} is not running`);
    if (options.expected) slot.expectedExit = true;
    process.kill(slot.child.pid, signal);
  }

  /** Kill -9 a node and wait until it is gone (it is not restarted automatically). */
  async kill(id: number): Promise<void> {
    const slot = this.slots.get(id)!;
    this.signal(id, "SIGKILL", { expected: true });
    await slot.exited;
  }

  /** Start a node that is not running. */
  restart(id: number): void {
    const slot = this.slots.get(id)!;
    if (slot.child) throw new Error(`node ${id} is already running`);
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    this.spawnNode(id);
  }

  isRunning(id: number): boolean {
    return this.slots.get(id)?.child !== undefined;
  }

  /** Stop every node with SIGTERM (SIGKILL after `graceMs`) and wait for them. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const waits: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      const child = slot.child;
      if (!child?.pid) continue;
      slot.expectedExit = true;
      // A paused node cannot act on SIGTERM.
      process.kill(child.pid, "SIGCONT");
      process.kill(child.pid, "SIGTERM");
      const force = setTimeout(() => {
        if (slot.child === child && child.pid) process.kill(child.pid, "SIGKILL");
      }, graceMs);
      waits.push(slot.exited.then(() => clearTimeout(force)));
    }
    await Promise.all(waits);
  }

  /** The node's log file, for diagnostics. */
  readLog(id: number): string {
    try {
      return readFileSync(this.node(id).logPath, "utf8");
    } catch {
      return "";
    }
  }
}
