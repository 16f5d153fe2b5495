// The accepting side of one connection: authenticate the dialer, then receive its payload
// frames and answer its pings. Nothing but handshake frames is accepted before the dialer's
// proof has been verified, and until then frames are limited to HANDSHAKE_MAX_FRAME_BYTES, so an
// unauthenticated client can make this node hold only a few hundred bytes.

import type net from "node:net";
import type { CloseReason } from "./errors.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameDecoder,
  FrameKind,
  TCP_KEEPALIVE_DELAY_MS,
} from "./frame.ts";
import {
  computeProof,
  createNonce,
  encodeChallenge,
  HANDSHAKE_MAX_FRAME_BYTES,
  type PeerId,
  PROTOCOL_VERSION,
  parseHello,
  parseProof,
  proofMatches,
} from "./handshake.ts";

const EMPTY = new Uint8Array(0);
const WELCOME_FRAME = encodeFrame(FrameKind.welcome, EMPTY);
const PONG_FRAME = encodeFrame(FrameKind.pong, EMPTY);

export interface InboundHooks {
  readonly selfId: PeerId;
  readonly secret: Uint8Array;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** The dialer proved the secret; the transport registers the connection under `peerId`. */
  onAuthenticated(connection: InboundConnection): void;
  /** One payload frame from an authenticated peer. */
  onMessage(connection: InboundConnection, body: Uint8Array): void;
  /** The connection is gone; `authenticated` tells whether it had been registered. */
  onClosed(connection: InboundConnection, reason: CloseReason, error: Error | undefined): void;
}

type Phase = "await-hello" | "await-proof" | "authenticated" | "closed";

export class InboundConnection {
  readonly socket: net.Socket;
  readonly remoteAddress: string;
  #hooks: InboundHooks;
  #phase: Phase = "await-hello";
  #challenged = false;
  #peerId: PeerId | null = null;
  #handshakeTimer: NodeJS.Timeout | null;
  #expectedDialerProof: Uint8Array | null = null;
  readonly #decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);

  constructor(socket: net.Socket, hooks: InboundHooks) {
    this.socket = socket;
    this.remoteAddress = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    this.#hooks = hooks;
    socket.setNoDelay(true);
    // The OS probes idle connections, so one from a machine that vanished is eventually closed
    // even when that peer never redials.
    socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    this.#handshakeTimer = setTimeout(
      () => this.close("handshake-timeout"),
      hooks.handshakeTimeoutMs,
    );
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", (error) => this.close("connection-lost", error));
    socket.on("end", () => this.close("connection-lost"));
    socket.on("close", () => this.close("connection-lost"));
  }

  /** The authenticated peer id, or null while the handshake runs. */
  get peerId(): PeerId | null {
    return this.#peerId;
  }

  get authenticated(): boolean {
    return this.#phase === "authenticated";
  }

  /** The challenge was sent: the dialer spoke the protocol and now has to prove the secret. */
  get challenged(): boolean {
    return this.#challenged;
  }

  get closed(): boolean {
    return this.#phase === "closed";
  }

  close(reason: CloseReason, error?: Error): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.socket.destroy();
    this.#hooks.onClosed(this, reason, error);
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === "closed") return;
    try {
      this.#decoder.push(chunk);
      for (let frame = this.#decoder.next(); frame !== null; frame = this.#decoder.next()) {
        this.#onFrame(frame);
        if (this.closed) return;
      }
    } catch (error) {
      if (!(error instanceof FrameDecodeError)) throw error;
      this.close(error.reason, error);
    }
  }

  #onFrame(frame: Frame): void {
    switch (this.#phase) {
      case "await-hello": {
        if (frame.kind !== FrameKind.hello) {
          this.close("protocol-error");
          return;
        }
        const hello = parseHello(frame.body);
        if (hello === null) {
          this.close("protocol-error");
          return;
        }
        // A node never dials itself on purpose; refusing it also stops a self-loop in a bad
        // peer list from looking like a healthy peer.
        if (hello.id === this.#hooks.selfId) {
          this.close("auth-failed");
          return;
        }
        this.#peerId = hello.id;
        const nonceAcceptor = createNonce();
        const { secret, selfId } = this.#hooks;
        const proof = computeProof(
          secret,
          "acceptor",
          hello.nonce,
          nonceAcceptor,
          hello.id,
          selfId,
        );
        this.#expectedDialerProof = computeProof(
          secret,
          "dialer",
          hello.nonce,
          nonceAcceptor,
          hello.id,
          selfId,
        );
        const challenge = encodeChallenge({
          version: PROTOCOL_VERSION,
          id: selfId,
          nonce: nonceAcceptor,
          proof,
        });
        this.socket.write(encodeFrame(FrameKind.challenge, challenge));
        this.#phase = "await-proof";
        this.#challenged = true;
        return;
      }
      case "await-proof": {
        if (frame.kind !== FrameKind.proof) {
          this.close("protocol-error");
          return;
        }
        const received = parseProof(frame.body);
        if (received === null) {
          this.close("protocol-error");
          return;
        }
        const expected = this.#expectedDialerProof;
        if (expected === null)
          throw new Error("inbound handshake: proof phase without expectation");
        if (!proofMatches(expected, received.proof)) {
          this.close("auth-failed");
          return;
        }
        if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = null;
        this.#expectedDialerProof = null;
        this.#phase = "authenticated";
        this.#decoder.maxFrameBytes = this.#hooks.maxFrameBytes;
        this.socket.write(WELCOME_FRAME);
        this.#hooks.onAuthenticated(this);
        return;
      }
      case "authenticated": {
        if (frame.kind === FrameKind.message) {
          this.#hooks.onMessage(this, frame.body);
          return;
        }
        if (frame.kind === FrameKind.ping) {
          this.socket.write(PONG_FRAME);
          return;
        }
        this.close("protocol-error");
        return;
      }
      case "closed":
        return;
    }
  }
}
