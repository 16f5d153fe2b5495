// Wire framing. Every frame is
//
//   [length: u32 big-endian][kind: u8][body: length - 1 bytes]
//
// `length` counts the kind byte and the body, not itself. Bodies are msgpack (see codec.ts) except
// for the empty bodies of `welcome`, `ping` and `pong`. The kind byte lets the transport tell its
// own control frames from payloads without wrapping every payload in an envelope object.

export const FRAME_HEADER_BYTES = 4;

/** Idle time before the OS starts TCP keepalive probes on peer connections. */
export const TCP_KEEPALIVE_DELAY_MS = 30_000;

export const FrameKind = {
  /** dialer -> acceptor: protocol version, node id, nonce. */
  hello: 1,
  /** acceptor -> dialer: version, node id, nonce, the acceptor's proof. */
  challenge: 2,
  /** dialer -> acceptor: the dialer's proof. */
  proof: 3,
  /** acceptor -> dialer: the dialer's proof verified; payload frames may follow. */
  welcome: 4,
  /** dialer -> acceptor: one application message. */
  message: 5,
  /** dialer -> acceptor: keepalive probe. */
  ping: 6,
  /** acceptor -> dialer: keepalive answer. */
  pong: 7,
} as const;

export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

const KIND_VALUES: ReadonlySet<number> = new Set(Object.values(FrameKind));

export interface Frame {
  readonly kind: FrameKindValue;
  readonly body: Uint8Array;
}

/** A stream that cannot be decoded further; the connection must be closed. */
export class FrameDecodeError extends Error {
  readonly reason: "frame-too-large" | "protocol-error";
  constructor(reason: "frame-too-large" | "protocol-error", message: string) {
    super(message);
    this.name = "FrameDecodeError";
    this.reason = reason;
  }
}

/** One frame as a single buffer ready for the socket. */
export function encodeFrame(kind: FrameKindValue, body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1 + body.length);
  frame.writeUInt32BE(1 + body.length, 0);
  frame[FRAME_HEADER_BYTES] = kind;
  frame.set(body, FRAME_HEADER_BYTES + 1);
  return frame;
}

/**
 * Reassembles frames from arbitrary TCP chunks. Pull-style (`push` then `next` until null) so the
 * caller can change `maxFrameBytes` between frames: the limit is small while a connection is
 * unauthenticated and large afterwards, and both kinds of frame can share one TCP chunk.
 *
 * Memory: the length is checked as soon as the 4-byte prefix is in, before any of the body is
 * buffered, so a peer can make us hold at most one allowed frame plus one socket chunk.
 */
export class FrameDecoder {
  maxFrameBytes: number;
  readonly #chunks: Uint8Array[] = [];
  /** Read offset into #chunks[0]. */
  #head = 0;
  #bufferedBytes = 0;
  /** Length of the frame whose prefix was read, or -1 while waiting for a prefix. */
  #pendingLength = -1;
  #failed = false;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet returned as frames (including a consumed length prefix's frame). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  push(chunk: Uint8Array): void {
    if (this.#failed) throw new Error("FrameDecoder used after a decode error");
    if (chunk.length === 0) return;
    // Keep plain Uint8Array views (not Buffers): their subarrays are cheaper to make, and the
    // msgpack decoder hands out binary fields with the type of its input (see codec.ts).
    this.#chunks.push(
      chunk.constructor === Uint8Array
        ? chunk
        : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    this.#bufferedBytes += chunk.length;
  }

  /** The next whole frame, or null when more bytes are needed. Throws FrameDecodeError. */
  next(): Frame | null {
    if (this.#failed) throw new Error("FrameDecoder used after a decode error");
    if (this.#pendingLength < 0) {
      if (this.#bufferedBytes < FRAME_HEADER_BYTES) return null;
      const prefix = this.#take(FRAME_HEADER_BYTES);
      const length =
        ((prefix[0]! << 24) >>> 0) + (prefix[1]! << 16) + (prefix[2]! << 8) + prefix[3]!;
      if (length < 1) return this.#fail("protocol-error", "frame of length 0 (no kind byte)");
      if (length > this.maxFrameBytes) {
        return this.#fail(
          "frame-too-large",
          `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes} bytes`,
        );
      }
      this.#pendingLength = length;
    }
    if (this.#bufferedBytes < this.#pendingLength) return null;
    const bytes = this.#take(this.#pendingLength);
    this.#pendingLength = -1;
    const kind = bytes[0]!;
    if (!KIND_VALUES.has(kind)) return this.#fail("protocol-error", `unknown frame kind ${kind}`);
    return { kind: kind as FrameKindValue, body: bytes.subarray(1) };
  }

  #fail(reason: "frame-too-large" | "protocol-error", message: string): never {
    this.#failed = true;
    this.#chunks.length = 0;
    this.#bufferedBytes = 0;
    throw new FrameDecodeError(reason, message);
  }

  /** Removes exactly `count` buffered bytes; a view when they sit in one chunk, else a copy. */
  #take(count: number): Uint8Array {
    if (count > this.#bufferedBytes) throw new Error("FrameDecoder take beyond buffered bytes");
    this.#bufferedBytes -= count;
    const first = this.#chunks[0]!;
    const available = first.length - this.#head;
    if (available >= count) {
      const view = first.subarray(this.#head, this.#head + count);
      this.#head += count;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return view;
    }
    const out = new Uint8Array(count);
    let written = 0;
    while (written < count) {
      const chunk = this.#chunks[0]!;
      const piece = Math.min(count - written, chunk.length - this.#head);
      out.set(chunk.subarray(this.#head, this.#head + piece), written);
      written += piece;
      this.#head += piece;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    return out;
  }
}
