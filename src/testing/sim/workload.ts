// Clients. Each client runs one operation at a time, like a real client with a connection to
// one node: a write (proposed through any node; followers forward it) or a linearizable read
// (ReadIndex through any node, served once that node has applied the read index). A client
// treats the core's typed refusals as a real client would: back off and retry, possibly via
// another node. A write keeps its id across retries, so a write committed twice takes effect
// once; a write is acknowledged only when the node the client talked to has applied it.

import { type Entry, RaftError, type RaftErrorCode, type ReadState } from "../../raft/index.ts";
import type { Cluster, SimNode } from "./cluster.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimEvent } from "./events.ts";
import type { Prng } from "./prng.ts";
import { type Scenario, UNITS_PER_TICK } from "./scenario.ts";
import { encodeWrite } from "./state-machine.ts";
import type { Trace } from "./trace.ts";

/** Refusals a client answers by retrying later; anything else from the core is a bug. */
export const RETRYABLE_CODES: ReadonlySet<RaftErrorCode> = new Set<RaftErrorCode>([
  "PROPOSAL_DROPPED",
  "TOO_MANY_UNCOMMITTED",
  "NOT_LEADER",
  "TOO_MANY_PENDING_READS",
]);

export function isRetryable(error: unknown): error is RaftError {
  return error instanceof RaftError && RETRYABLE_CODES.has(error.code);
}

interface Operation {
  readonly kind: "write" | "read";
  /** writeId for writes, readId for reads. */
  readonly id: number;
  readonly invokedAt: number;
  attempt: number;
  target: number;
  refusals: number;
}

interface Client {
  readonly id: number;
  op: Operation | undefined;
  /** Only the event carrying the current token is live; older ones were superseded. */
  token: number;
  completed: number;
}

export interface WorkloadStats {
  writesAcknowledged: number;
  readsCompleted: number;
  retries: number;
  refusals: number;
}

const READ_CONTEXT_BYTES = 8;

export class Workload {
  readonly stats: WorkloadStats = {
    writesAcknowledged: 0,
    readsCompleted: 0,
    retries: 0,
    refusals: 0,
  };
  private readonly clients: Client[] = [];
  private readonly writeOwner = new Map<number, Client>();
  private readonly readOwner = new Map<number, Client>();
  private nextWriteId = 1;
  private nextReadId = 1;
  private issuing = true;
  private readonly cluster: Cluster;
  private readonly queue: EventQueue<SimEvent>;
  private readonly prng: Prng;
  private readonly trace: Trace;
  private readonly scenario: Scenario;
  private readonly timeoutUnits: number;

  constructor(options: {
    cluster: Cluster;
    queue: EventQueue<SimEvent>;
    prng: Prng;
    trace: Trace;
    scenario: Scenario;
  }) {
    this.cluster = options.cluster;
    this.queue = options.queue;
    this.prng = options.prng;
    this.trace = options.trace;
    this.scenario = options.scenario;
    // Long enough for a forwarded proposal to commit on a healthy cluster, short enough that
    // a lost one is retried well within the liveness bound.
    this.timeoutUnits = 4 * this.scenario.core.electionTimeoutTicks * UNITS_PER_TICK;
    for (let id = 1; id <= this.scenario.clients; id++) {
      const client: Client = { id, op: undefined, token: 0, completed: 0 };
      this.clients.push(client);
      this.schedule(client, this.prng.range(1, 3 * UNITS_PER_TICK));
    }
  }

  /** Stop starting new operations; pending ones continue until they complete. */
  stopIssuing(): void {
    this.issuing = false;
  }

  pendingDescriptions(): string[] {
    const pending: string[] = [];
    for (const client of this.clients) {
      const op = client.op;
      if (op !== undefined) {
        pending.push(
          `client${client.id} ${op.kind} ${op.kind === "write" ? "w" : "r"}${op.id} (attempt ${op.attempt}, via n${op.target})`,
        );
      }
    }
    return pending;
  }

  onEvent(clientId: number, token: number): void {
    const client = this.clients[clientId - 1];
    if (client === undefined || client.token !== token) return;
    if (client.op !== undefined) {
      this.stats.retries++;
      this.attempt(client, client.op);
      return;
    }
    if (!this.issuing) return;
    const read = this.prng.chance(this.scenario.readFraction);
    const op: Operation = {
      kind: read ? "read" : "write",
      id: read ? this.nextReadId++ : this.nextWriteId++,
      invokedAt: this.cluster.now,
      attempt: 0,
      target: 0,
      refusals: 0,
    };
    client.op = op;
    if (read) {
      this.readOwner.set(op.id, client);
      this.cluster.checkers.reads.onReadInvoke(op.id);
    } else {
      this.writeOwner.set(op.id, client);
    }
    this.attempt(client, op);
  }

  private attempt(client: Client, op: Operation): void {
    const running = this.cluster.runningNodes();
    if (running.length === 0) {
      this.schedule(client, this.backoffUnits());
      return;
    }
    const node = this.prng.pick(running);
    op.attempt++;
    op.target = node.id;
    const raft = node.raft!;
    // The timeout is scheduled first: if the node crashes while handling the request, the
    // crash hook supersedes it with a prompt retry.
    this.schedule(client, this.timeoutUnits);
    // A paused node does not answer: the request times out and is retried.
    if (node.isPaused(this.cluster.now)) return;
    try {
      if (op.kind === "write") {
        const result = raft.propose(encodeWrite(op.id, client.id));
        this.trace.record(
          this.cluster.now,
          "propose",
          node.id,
          op.id,
          op.attempt,
          client.id,
          result.forwarded ? 1 : 0,
        );
      } else if (this.cluster.mutation === "local-reads") {
        // Deliberate bug (checker self-test): a local read without ReadIndex.
        this.onReadServed(node, {
          index: node.machine.appliedIndex,
          context: encodeReadContext(op.id, op.attempt),
        });
        return;
      } else {
        raft.readIndex(encodeReadContext(op.id, op.attempt));
        this.trace.record(this.cluster.now, "read", node.id, op.id, op.attempt, client.id, 0);
      }
    } catch (error) {
      if (!isRetryable(error)) throw error;
      this.stats.refusals++;
      op.refusals++;
      this.trace.record(
        this.cluster.now,
        op.kind === "write" ? "propose" : "read",
        node.id,
        op.id,
        op.attempt,
        client.id,
        2,
        0,
        0,
        error.code,
      );
      // Exponential backoff on refusals, as a real client does while there is no leader.
      this.schedule(client, this.backoffUnits() * Math.min(8, 2 ** Math.min(op.refusals, 3)));
      return;
    }
    this.cluster.drain(node);
  }

  /** Cluster hook: a node applied an entry. */
  onApplied(node: SimNode, _entry: Entry, writeId: number | undefined): void {
    if (writeId === undefined) return;
    const client = this.writeOwner.get(writeId);
    const op = client?.op;
    if (client === undefined || op === undefined || op.kind !== "write" || op.id !== writeId)
      return;
    if (op.target !== node.id) return; // the client is waiting on another node now
    const index = node.machine.effectIndexOf(writeId);
    if (index === undefined)
      throw new Error(`write ${writeId} applied on node ${node.id} without effect`);
    this.cluster.checkers.acknowledged.onAck(writeId, index);
    this.cluster.checkers.reads.onWriteAck(index);
    this.stats.writesAcknowledged++;
    this.trace.record(this.cluster.now, "ack", node.id, writeId, index, client.id);
    this.writeOwner.delete(writeId);
    this.complete(client);
  }

  /** Cluster hook: a node's state machine reached a read state's index. */
  onReadServed(node: SimNode, readState: ReadState): void {
    const readId = decodeReadContext(readState.context);
    const client = this.readOwner.get(readId);
    const op = client?.op;
    if (client === undefined || op === undefined || op.kind !== "read" || op.id !== readId) return;
    const { completeness, reads } = this.cluster.checkers;
    reads.onReadResult(readId, node.machine.appliedIndex, node.machine.digest, (index) =>
      completeness.committedDigestAt(index),
    );
    this.stats.readsCompleted++;
    this.trace.record(
      this.cluster.now,
      "read-done",
      node.id,
      readId,
      node.machine.appliedIndex,
      readState.index,
      client.id,
    );
    this.readOwner.delete(readId);
    this.complete(client);
  }

  /** Cluster hook: the node a client was talking to crashed; the client retries elsewhere. */
  onCrash(node: SimNode): void {
    for (const client of this.clients) {
      if (client.op !== undefined && client.op.target === node.id)
        this.schedule(client, this.backoffUnits());
    }
  }

  private complete(client: Client): void {
    client.op = undefined;
    client.completed++;
    this.schedule(client, this.prng.range(1, this.scenario.thinkTicksMax * UNITS_PER_TICK));
  }

  private backoffUnits(): number {
    return this.prng.range(UNITS_PER_TICK, 5 * UNITS_PER_TICK);
  }

  private schedule(client: Client, delayUnits: number): void {
    client.token++;
    this.queue.push(this.cluster.now + delayUnits, {
      kind: "client",
      client: client.id,
      token: client.token,
    });
  }
}

export function encodeReadContext(readId: number, attempt: number): Uint8Array {
  const bytes = new Uint8Array(READ_CONTEXT_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, readId);
  view.setUint32(4, attempt);
  return bytes;
}

export function decodeReadContext(context: Uint8Array): number {
  if (context.byteLength !== READ_CONTEXT_BYTES) {
    throw new Error(`read state context of ${context.byteLength} bytes is not a simulator read`);
  }
  return new DataView(context.buffer, context.byteOffset, context.byteLength).getUint32(0);
}
