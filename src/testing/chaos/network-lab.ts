// Linux network namespaces for partitions and packet faults. One namespace per node, each with a
// veth pair whose outer end is on a bridge private to this run; the bridge holds .1 of a /24 in
// 10.77.0.0/16 and node i is .(10 + i). The harness (in the root namespace) reaches every node
// over the bridge; faults only touch traffic between node addresses, so clients keep reaching an
// isolated node, as clients of a real partitioned server would.
//
// Partitions are iptables DROP rules in the INPUT chain inside the namespaces (silent loss, as a
// real partition is: an OUTPUT DROP would fail the sender's send() at once). Loss and delay use
// tc netem on the node's interface when the kernel has it, else loss alone through the iptables
// statistic match. Every name carries the subnet's third octet, which the bridge name claims
// atomically, so parallel runs never share a name or a subnet.
import { execFileSync } from "node:child_process";
import { DrillError } from "./errors.ts";

const NAME_PREFIX = "hhd";
const SUBNET_PREFIX = "10.77";
const COMMAND_TIMEOUT_MS = 10_000;

export interface NetworkLabAvailability {
  readonly available: boolean;
  readonly reason: string;
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, {
      encoding: "utf8",
      timeout: COMMAND_TIMEOUT_MS,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new DrillError(
      "NETNS_COMMAND_FAILED",
      `\`${command} ${args.join(" ")}\` failed: ${stderr || (error as Error).message}`,
    );
  }
}

function tryRun(command: string, args: readonly string[]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

/** Whether this process may create namespaces; the reason says what to do when it may not. */
export function networkLabAvailability(): NetworkLabAvailability {
  if (process.platform !== "linux") {
    return { available: false, reason: "network namespaces exist only on Linux" };
  }
  if (process.getuid?.() !== 0) {
    return {
      available: false,
      reason:
        "network namespaces need root: run the drill as root, or leave partition and loss out of --faults",
    };
  }
  for (const tool of ["ip", "iptables"]) {
    if (!tryRun(tool, ["-V"]) && !tryRun(tool, ["--version"])) {
      return {
        available: false,
        reason: `\`${tool}\` is not installed (package iproute2 / iptables)`,
      };
    }
  }
  return { available: true, reason: "" };
}

export class NetworkLab {
  readonly octet: number;
  readonly nodes: number;
  private netemWorks = false;
  private readonly namespaces: string[] = [];
  private bridgeCreated = false;
  private cleaned = false;

  private constructor(octet: number, nodes: number) {
    this.octet = octet;
    this.nodes = nodes;
  }

  /** Whether tc netem works here; without it loss uses iptables and delay is not injected. */
  get netem(): boolean {
    return this.netemWorks;
  }

  get bridge(): string {
    return `${NAME_PREFIX}${this.octet}br`;
  }

  namespace(id: number): string {
    return `${NAME_PREFIX}${this.octet}n${id}`;
  }

  /** The node's address inside its namespace. */
  address(id: number): string {
    return `${SUBNET_PREFIX}.${this.octet}.${10 + id}`;
  }

  /** The harness's address on the bridge. */
  get hostAddress(): string {
    return `${SUBNET_PREFIX}.${this.octet}.1`;
  }

  /** Command words that run a program inside node `id`'s namespace (exec'ing it). */
  prefix(id: number): string[] {
    return ["ip", "netns", "exec", this.namespace(id)];
  }

  /** Create the bridge, one namespace per node and their links. Cleans up what it made on failure. */
  static create(nodes: number, seedHint: number): NetworkLab {
    const availability = networkLabAvailability();
    if (!availability.available) throw new DrillError("NETNS_UNAVAILABLE", availability.reason);
    let lab: NetworkLab | undefined;
    // Claim a free octet by creating the bridge: creation fails if another run holds the name.
    for (let attempt = 0; attempt < 254 && !lab; attempt++) {
      const octet = 1 + ((seedHint + process.pid + attempt * 37) % 254);
      const candidate = new NetworkLab(octet, nodes);
      if (subnetInUse(octet)) continue;
      if (tryRun("ip", ["link", "add", candidate.bridge, "type", "bridge"])) {
        candidate.bridgeCreated = true;
        lab = candidate;
      }
    }
    if (!lab)
      throw new DrillError(
        "NETNS_COMMAND_FAILED",
        "no free 10.77.X.0/24 subnet or bridge name left",
      );
    try {
      lab.build();
      lab.netemWorks = lab.probeNetem();
      return lab;
    } catch (error) {
      lab.cleanup();
      throw error;
    }
  }

  private build(): void {
    run("ip", ["addr", "add", `${this.hostAddress}/24`, "dev", this.bridge]);
    run("ip", ["link", "set", this.bridge, "up"]);
    for (let id = 1; id <= this.nodes; id++) {
      const ns = this.namespace(id);
      const veth = `${NAME_PREFIX}${this.octet}v${id}`;
      run("ip", ["netns", "add", ns]);
      this.namespaces.push(ns);
      run("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      run("ip", ["link", "set", veth, "master", this.bridge]);
      run("ip", ["link", "set", veth, "up"]);
      this.inNamespace(id, "ip", ["link", "set", "lo", "up"]);
      this.inNamespace(id, "ip", ["addr", "add", `${this.address(id)}/24`, "dev", "eth0"]);
      this.inNamespace(id, "ip", ["link", "set", "eth0", "up"]);
    }
  }

  private probeNetem(): boolean {
    const ns = this.namespace(1);
    const works = tryRun("ip", [
      "netns",
      "exec",
      ns,
      "tc",
      "qdisc",
      "add",
      "dev",
      "lo",
      "root",
      "netem",
      "delay",
      "1ms",
    ]);
    if (works) tryRun("ip", ["netns", "exec", ns, "tc", "qdisc", "del", "dev", "lo", "root"]);
    return works;
  }

  private inNamespace(id: number, command: string, args: readonly string[]): string {
    return run("ip", ["netns", "exec", this.namespace(id), command, ...args]);
  }

  private peers(id: number): number[] {
    return Array.from({ length: this.nodes }, (_, index) => index + 1).filter(
      (peer) => peer !== id,
    );
  }

  /** Drop every packet node `to` receives from node `from` (one direction). */
  dropFrom(to: number, from: number): void {
    this.inNamespace(to, "iptables", ["-A", "INPUT", "-s", this.address(from), "-j", "DROP"]);
  }

  /** No traffic between the two sides, in either direction. */
  split(sideA: readonly number[], sideB: readonly number[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.dropFrom(a, b);
        this.dropFrom(b, a);
      }
    }
  }

  isolate(id: number): void {
    this.split([id], this.peers(id));
  }

  /** "in": the node hears nothing from its peers; "out": its peers hear nothing from it. */
  oneWay(id: number, direction: "in" | "out"): void {
    for (const peer of this.peers(id)) {
      if (direction === "in") this.dropFrom(id, peer);
      else this.dropFrom(peer, id);
    }
  }

  /** Loss (and delay, with netem) on what the node sends; without netem, loss of what it receives from peers. */
  degrade(id: number, lossPercent: number, delayMs: number, jitterMs: number): string {
    if (this.netem) {
      this.inNamespace(id, "tc", [
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "netem",
        "delay",
        `${delayMs}ms`,
        `${jitterMs}ms`,
        "loss",
        `${lossPercent}%`,
      ]);
      return `netem loss ${lossPercent}% delay ${delayMs}±${jitterMs} ms`;
    }
    for (const peer of this.peers(id)) {
      this.inNamespace(id, "iptables", [
        "-A",
        "INPUT",
        "-s",
        this.address(peer),
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        (lossPercent / 100).toFixed(3),
        "-j",
        "DROP",
      ]);
    }
    return `done as iptables loss of ${lossPercent}% from peers: no netem here, so no delay`;
  }

  /** Remove every rule and qdisc: the network is whole again. */
  heal(): void {
    for (let id = 1; id <= this.nodes; id++) {
      this.inNamespace(id, "iptables", ["-F", "INPUT"]);
      if (this.netem)
        tryRun("ip", [
          "netns",
          "exec",
          this.namespace(id),
          "tc",
          "qdisc",
          "del",
          "dev",
          "eth0",
          "root",
        ]);
    }
  }

  /** Delete the namespaces (with their links) and the bridge. Idempotent, synchronous (safe in exit handlers). */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const ns of this.namespaces) tryRun("ip", ["netns", "del", ns]);
    if (this.bridgeCreated) tryRun("ip", ["link", "del", this.bridge]);
  }
}

function subnetInUse(octet: number): boolean {
  try {
    return run("ip", ["-o", "-4", "addr", "show"]).includes(`${SUBNET_PREFIX}.${octet}.`);
  } catch {
    return false;
  }
}
