// ReadIndex requests on the leader (readOnlyOption "safe"): each request records the commit
// index when it arrived and waits until a quorum has answered a heartbeat sent after it; then
// no other leader can have committed anything newer, and reading at that index is linearizable.
// Bounded by maxPendingReadIndex.

import { type NodeId, RaftError } from "./types.ts";

export interface ReadRequest {
  /** Who asked: this node (NO_NODE) or a follower that forwarded it. */
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** Contexts are bytes; a string key of the same bytes indexes them. */
export function contextKey(context: Uint8Array): string {
  let key = "";
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]!);
  return key;
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadRequest>();
  /** Keys in arrival order. */
  private queue: string[] = [];

  constructor(private readonly maxPending: number) {}

  get size(): number {
    return this.queue.length;
  }

  /** Adds a request at commit index `index`; a duplicate context is ignored (already pending). */
  add(index: number, from: NodeId, context: Uint8Array): void {
    const key = contextKey(context);
    if (this.pending.has(key)) return;
    if (this.queue.length >= this.maxPending) {
      throw new RaftError(
        "TOO_MANY_PENDING_READS",
        `${this.queue.length} read requests are pending (maxPendingReadIndex); retry later`,
      );
    }
    this.pending.set(key, { from, context, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records that `id` answered the heartbeat carrying `context`; returns the acks for it so far. */
  recvAck(id: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const req = this.pending.get(contextKey(context));
    if (req === undefined) return undefined;
    req.acks.add(id);
    return req.acks;
  }

  /**
   * Removes and returns every request up to and including the one for `context`: a quorum that
   * answered a later heartbeat also confirms the earlier requests.
   */
  advance(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done: ReadRequest[] = [];
    for (let i = 0; i <= at; i++) {
      const k = this.queue[i]!;
      const req = this.pending.get(k);
      if (req !== undefined) done.push(req);
      this.pending.delete(k);
    }
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  /** Context of the newest request (heartbeats carry it), if any. */
  lastContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.context;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}
