// The bounded per-peer queue of encoded frames waiting for the socket. Both the count and the
// byte total are capped: a peer that is down or slow costs at most these limits, and a message
// that does not fit is refused (the caller counts it as dropped; consensus retransmits).

export interface Batch {
  readonly frames: Buffer[];
  readonly bytes: number;
}

export class SendQueue {
  readonly maxMessages: number;
  readonly maxBytes: number;
  #items: Buffer[] = [];
  /** Index of the oldest item; items before it were taken and are garbage. */
  #head = 0;
  #bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends `frame` if both limits allow it; false (and the queue unchanged) otherwise. */
  tryPush(frame: Buffer): boolean {
    if (this.length + 1 > this.maxMessages || this.#bytes + frame.length > this.maxBytes) {
      return false;
    }
    this.#items.push(frame);
    this.#bytes += frame.length;
    return true;
  }

  /**
   * Removes the oldest frames up to `maxBytes` in total; always at least one frame when the
   * queue is not empty, so a frame bigger than `maxBytes` still leaves.
   */
  takeBatch(maxBytes: number): Batch {
    const frames: Buffer[] = [];
    let bytes = 0;
    while (this.#head < this.#items.length) {
      const frame = this.#items[this.#head]!;
      if (frames.length > 0 && bytes + frame.length > maxBytes) break;
      frames.push(frame);
      bytes += frame.length;
      this.#head += 1;
    }
    this.#bytes -= bytes;
    this.#compact();
    if (this.#bytes < 0 || (this.length === 0 && this.#bytes !== 0)) {
      throw new Error(
        `SendQueue byte count out of step: ${this.#bytes} bytes, ${this.length} items`,
      );
    }
    return { frames, bytes };
  }

  /** Empties the queue; returns how many frames were discarded. */
  clear(): number {
    const discarded = this.length;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    return discarded;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
