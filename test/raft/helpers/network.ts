// A small in-test network of RaftNodes over MemoryStorage: handles each Ready in the documented
// order (persist snapshot, entries, hard state; send; apply), and delivers, drops or partitions
// messages. The randomized simulator lives in src/testing; this is for scenario tests.

import {
  type ConfState,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  type RaftConfig,
  RaftNode,
  type ReadState,
} from "../../../src/raft/index.ts";

/** Deterministic PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type NodeOptions = Partial<Omit<RaftConfig, "id" | "storage">>;

export interface Member {
  readonly id: NodeId;
  node: RaftNode;
  readonly storage: MemoryStorage;
  /** Every committed entry applied, in order (a snapshot resets it to the snapshot index). */
  applied: Entry[];
  appliedIndex: number;
  readStates: ReadState[];
  options: NodeOptions;
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export class Network {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered, in order. */
  queue: Message[] = [];
  /** Every message ever sent (for assertions). */
  readonly sent: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly down = new Set<NodeId>();
  /** Drop a message when this returns true. */
  dropIf: (m: Message) => boolean = () => false;
  private seed: number;

  constructor(
    voters: readonly NodeId[],
    readonly options: NodeOptions = {},
    seed = 1,
    learners: readonly NodeId[] = [],
  ) {
    this.seed = seed;
    const conf: ConfState = { voters: [...voters], learners: [...learners] };
    for (const id of [...voters, ...learners]) this.addMember(id, new MemoryStorage(conf), options);
  }

  /** Adds a node (e.g. one joining with an empty storage). */
  addMember(id: NodeId, storage: MemoryStorage, options: NodeOptions = this.options): Member {
    const random = seededRandom(this.seed * 1000 + id);
    const node = new RaftNode({ random, ...options, id, storage });
    const m: Member = { id, node, storage, applied: [], appliedIndex: 0, readStates: [], options };
    this.members.set(id, m);
    return m;
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RaftNode {
    return this.member(id).node;
  }

  /** Simulated crash and restart: a new RaftNode over what was persisted. */
  restart(id: NodeId, options: NodeOptions = this.member(id).options): void {
    const m = this.member(id);
    this.seed++;
    m.node = new RaftNode({
      random: seededRandom(this.seed * 7919 + id),
      ...options,
      id,
      storage: m.storage,
      appliedIndex: m.appliedIndex,
    });
    m.options = options;
    this.queue = this.queue.filter((msg) => msg.to !== id);
  }

  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  /** Partition into groups: links inside a group work, links between groups are cut. */
  partition(...groups: NodeId[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]!) for (const b of groups[j]!) this.cutLink(a, b);
      }
    }
  }

  heal(): void {
    this.cut.clear();
    this.down.clear();
  }

  /** A crashed node: its messages are lost and it does not tick until restart()+up(). */
  crash(id: NodeId): void {
    this.down.add(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  up(id: NodeId): void {
    this.down.delete(id);
  }

  isDown(id: NodeId): boolean {
    return this.down.has(id);
  }

  /** Handles one node's Ready in the documented order. Returns whether there was one. */
  handleReady(id: NodeId): boolean {
    const m = this.member(id);
    if (this.down.has(id) || !m.node.hasReady()) return false;
    const rd = m.node.ready();
    if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
    m.storage.append(rd.entries);
    if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) {
      this.sent.push(msg);
      this.queue.push(msg);
    }
    if (rd.snapshot !== undefined) {
      m.applied = [];
      m.appliedIndex = rd.snapshot.metadata.index;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== m.appliedIndex + 1) {
        throw new Error(`node ${id} applies ${e.index} after ${m.appliedIndex}`);
      }
      m.applied.push(e);
      m.appliedIndex = e.index;
    }
    m.readStates.push(...rd.readStates);
    m.node.advance();
    return true;
  }

  private blocked(msg: Message): boolean {
    return (
      this.down.has(msg.to) ||
      this.down.has(msg.from) ||
      this.cut.has(`${msg.from}-${msg.to}`) ||
      !this.members.has(msg.to) ||
      this.dropIf(msg)
    );
  }

  /** Delivers one queued message (the oldest). Returns it, or undefined if none. */
  deliverOne(): Message | undefined {
    const msg = this.queue.shift();
    if (msg === undefined) return undefined;
    if (!this.blocked(msg)) this.member(msg.to).node.step(msg);
    return msg;
  }

  /** Handles Readies and delivers messages until nothing moves. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.members.keys()) if (this.handleReady(id)) moved = true;
      const batch = this.queue;
      this.queue = [];
      for (const msg of batch) {
        moved = true;
        if (!this.blocked(msg)) this.member(msg.to).node.step(msg);
      }
      if (!moved) return;
    }
    throw new Error("network did not stabilize");
  }

  /** Ticks every live node once, then stabilizes. */
  tick(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const [id, m] of this.members) if (!this.down.has(id)) m.node.tick();
      this.stabilize();
    }
  }

  tickNode(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
  }

  /** Makes `id` campaign and settles the election. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, m] of this.members) {
      if (!this.down.has(id) && m.node.status().role === "leader") out.push(id);
    }
    return out;
  }

  /** Application data of the applied normal entries (no-ops skipped). */
  appliedData(id: NodeId): string[] {
    return this.member(id)
      .applied.filter((e) => e.type === "normal" && e.data.length > 0)
      .map((e) => text(e.data));
  }
}
