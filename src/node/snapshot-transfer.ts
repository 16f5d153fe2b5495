// Chunked snapshot transfer between members. The consensus core only says "send the snapshot to
// node N" (a message of type "snapshot" whose data names the snapshot); the bytes move here, in
// chunks with a small window of unacknowledged chunks, so a snapshot of any size costs bounded
// memory on both sides. The receiver verifies size and checksum (the snapshot store does) before
// the snapshot becomes visible, and only then hands the core's message to its core.
import type { Message } from "../raft/index.ts";
import type { SnapshotOffer, SnapshotStore, SnapshotWriter } from "../storage/index.ts";
import { decodeDescriptor } from "./durable-raft-storage.ts";

export type SnapshotEnvelope =
  | {
      readonly k: "snap-offer";
      readonly id: number;
      readonly offer: SnapshotOffer;
      readonly m: Message;
    }
  | {
      readonly k: "snap-chunk";
      readonly id: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  | { readonly k: "snap-done"; readonly id: number }
  | {
      readonly k: "snap-ack";
      readonly id: number;
      readonly offset: number;
      readonly ok: boolean;
      readonly error?: string;
    };

export interface SnapshotTransferOptions {
  readonly store: SnapshotStore;
  /** Sends an envelope to a peer; false when the peer's queue is full or it is unknown. */
  readonly send: (to: number, envelope: SnapshotEnvelope) => boolean;
  /** The transfer to `to` finished (true) or failed (false): report it to the core. */
  readonly onSent: (to: number, succeeded: boolean) => void;
  /** A received snapshot is durable: step its message into the core. */
  readonly onReceived: (message: Message) => void;
  readonly chunkBytes: number;
  /** Unacknowledged chunks in flight per transfer. */
  readonly window?: number;
  /** A transfer with no acknowledgement for this long fails. */
  readonly stallTimeoutMs?: number;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface Outgoing {
  readonly id: number;
  readonly to: number;
  /** Chunks the receiver has acknowledged. */
  acknowledged: number;
  timer: NodeJS.Timeout | undefined;
  wake: (() => void) | undefined;
  failed: string | undefined;
  done: boolean;
}

interface Incoming {
  readonly id: number;
  readonly from: number;
  readonly offer: SnapshotOffer;
  readonly message: Message;
  writer: Promise<SnapshotWriter>;
  /** Chunks are written one after another, in the order they arrive. */
  chain: Promise<void>;
}

export class SnapshotTransfer {
  private readonly options: Required<Omit<SnapshotTransferOptions, "log">> &
    Pick<SnapshotTransferOptions, "log">;
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly incoming = new Map<number, Incoming>();
  private nextId = 1;
  private closed = false;

  constructor(options: SnapshotTransferOptions) {
    this.options = { window: 4, stallTimeoutMs: 10_000, ...options };
    this.nextId = Math.floor(Math.random() * 2 ** 30);
  }

  /** Start sending the snapshot a core message names, unless one is already on its way to that peer. */
  send(message: Message): void {
    if (this.closed || this.outgoing.has(message.to)) return;
    const transfer: Outgoing = {
      id: this.nextId++,
      to: message.to,
      acknowledged: 0,
      timer: undefined,
      wake: undefined,
      failed: undefined,
      done: false,
    };
    this.outgoing.set(message.to, transfer);
    this.run(transfer, message).then(
      () => this.finish(transfer, true),
      (error: unknown) => {
        this.options.log?.("snapshot transfer failed", { to: message.to, error: String(error) });
        this.finish(transfer, false);
      },
    );
  }

  private finish(transfer: Outgoing, succeeded: boolean): void {
    clearTimeout(transfer.timer);
    this.outgoing.delete(transfer.to);
    if (!this.closed) this.options.onSent(transfer.to, succeeded);
  }

  private async run(transfer: Outgoing, message: Message): Promise<void> {
    const descriptor = decodeDescriptor(message.snapshot!.data);
    const reader = await this.options.store.openReader(descriptor.index);
    try {
      const offer = reader.offer();
      this.post(transfer, { k: "snap-offer", id: transfer.id, offer, m: message });
      let offset = 0;
      let chunkNumber = 0;
      while (offset < offer.dataBytes) {
        while (chunkNumber - transfer.acknowledged >= this.options.window)
          await this.waitForAck(transfer);
        const chunk = await reader.readChunk(offset, this.options.chunkBytes);
        if (chunk.length === 0)
          throw new Error(`snapshot ${descriptor.index} ended early at ${offset}`);
        this.post(transfer, { k: "snap-chunk", id: transfer.id, offset, data: chunk });
        offset += chunk.length;
        chunkNumber++;
      }
      this.post(transfer, { k: "snap-done", id: transfer.id });
      while (!transfer.done) await this.waitForAck(transfer);
    } finally {
      await reader.close();
    }
  }

  private post(transfer: Outgoing, envelope: SnapshotEnvelope): void {
    if (transfer.failed) throw new Error(transfer.failed);
    if (!this.options.send(transfer.to, envelope)) {
      throw new Error(`cannot send to node ${transfer.to}: not connected or its queue is full`);
    }
  }

  private waitForAck(transfer: Outgoing): Promise<void> {
    if (transfer.failed) return Promise.reject(new Error(transfer.failed));
    return new Promise<void>((resolve, reject) => {
      transfer.timer = setTimeout(() => {
        transfer.failed = `no acknowledgement from node ${transfer.to} for ${this.options.stallTimeoutMs} ms`;
        reject(new Error(transfer.failed));
      }, this.options.stallTimeoutMs);
      transfer.wake = () => {
        clearTimeout(transfer.timer);
        transfer.wake = undefined;
        if (transfer.failed) reject(new Error(transfer.failed));
        else resolve();
      };
    });
  }

  /** Handle an envelope from a peer. */
  receive(from: number, envelope: SnapshotEnvelope): void {
    if (this.closed) return;
    switch (envelope.k) {
      case "snap-ack": {
        const transfer = this.outgoing.get(from);
        if (!transfer || transfer.id !== envelope.id) return;
        if (!envelope.ok) transfer.failed = envelope.error ?? "the receiver refused the snapshot";
        else if (envelope.offset === -1) transfer.done = true;
        else transfer.acknowledged++;
        transfer.wake?.();
        return;
      }
      case "snap-offer": {
        const previous = this.incoming.get(from);
        if (previous) void previous.writer.then((writer) => writer.abort()).catch(() => {});
        const incoming: Incoming = {
          id: envelope.id,
          from,
          offer: envelope.offer,
          message: envelope.m,
          writer: this.options.store.beginInstall(envelope.offer),
          chain: Promise.resolve(),
        };
        incoming.writer.catch(() => {});
        this.incoming.set(from, incoming);
        return;
      }
      case "snap-chunk": {
        const incoming = this.incoming.get(from);
        if (!incoming || incoming.id !== envelope.id) return;
        incoming.chain = incoming.chain
          .then(async () => (await incoming.writer).writeChunk(envelope.offset, envelope.data))
          .then(
            () => this.ack(from, envelope.id, envelope.offset, true),
            (error: unknown) => this.refuse(incoming, error),
          );
        return;
      }
      case "snap-done": {
        const incoming = this.incoming.get(from);
        if (!incoming || incoming.id !== envelope.id) return;
        incoming.chain = incoming.chain
          .then(async () => (await incoming.writer).commit())
          .then(
            () => {
              this.incoming.delete(from);
              this.options.onReceived(incoming.message);
              this.ack(from, envelope.id, -1, true);
            },
            (error: unknown) => this.refuse(incoming, error),
          );
        return;
      }
    }
  }

  private ack(to: number, id: number, offset: number, ok: boolean, error?: string): void {
    this.options.send(to, { k: "snap-ack", id, offset, ok, ...(error ? { error } : {}) });
  }

  private refuse(incoming: Incoming, error: unknown): void {
    if (this.incoming.get(incoming.from) === incoming) this.incoming.delete(incoming.from);
    void incoming.writer.then((writer) => writer.abort()).catch(() => {});
    this.options.log?.("refused a snapshot", { from: incoming.from, error: String(error) });
    this.ack(incoming.from, incoming.id, 0, false, String(error));
  }

  close(): void {
    this.closed = true;
    for (const transfer of this.outgoing.values()) {
      transfer.failed = "closing";
      transfer.wake?.();
    }
    for (const incoming of this.incoming.values()) {
      void incoming.writer.then((writer) => writer.abort()).catch(() => {});
    }
    this.incoming.clear();
  }
}
