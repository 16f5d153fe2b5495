// The outbound side of one peer: a persistent connection this node dials and uses for sending.
// Each node sends only on connections it dialled and receives only on connections it accepted,
// so two nodes hold two TCP connections between them and never have to agree which one wins.
//
// States: connecting (TCP/TLS + authentication) -> up -> (lost) -> waiting -> connecting ...
// The link is "up" only after the acceptor's welcome; `onDown` fires on the first sign of
// loss of an up link (end, error or close), not after a timeout, because the node layer uses it
// as the early failover hint.

import net from "node:net";
import tls from "node:tls";
import { Backoff } from "./backoff.ts";
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
  encodeHello,
  encodeProof,
  HANDSHAKE_MAX_FRAME_BYTES,
  type PeerId,
  PROTOCOL_VERSION,
  parseChallenge,
  proofMatches,
} from "./handshake.ts";
import type { TransportLogger } from "./logger.ts";
import type { PeerAddress, ResolvedOptions } from "./options.ts";
import { SendQueue } from "./send-queue.ts";
import type { LoadedTls } from "./tls-files.ts";

const EMPTY = new Uint8Array(0);
const PING_FRAME = encodeFrame(FrameKind.ping, EMPTY);

export interface LinkHooks {
  onUp(peer: PeerId): void;
  onDown(peer: PeerId, reason: CloseReason): void;
  /** A connection refused for a security or protocol reason (counted in stats). */
  onRefused(reason: CloseReason): void;
}

export interface LinkCounters {
  sentMessages: number;
  sentBytes: number;
  droppedMessages: number;
  connects: number;
  disconnects: number;
  lastCloseReason: CloseReason | null;
}

type Phase = "await-challenge" | "await-welcome" | "up";

const REFUSAL_REASONS: ReadonlySet<CloseReason> = new Set<CloseReason>([
  "auth-failed",
  "wrong-peer-id",
  "protocol-error",
  "frame-too-large",
  "handshake-timeout",
  "tls-failed",
]);

/** Errors that mean "the network or the peer process", not "the peer's credentials". */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

export class PeerLink {
  readonly peerId: PeerId;
  #address: PeerAddress;
  readonly #options: ResolvedOptions<unknown>;
  readonly #tls: LoadedTls | null;
  readonly #hooks: LinkHooks;
  readonly #logger: TransportLogger;
  readonly #queue: SendQueue;
  readonly #backoff: Backoff;
  readonly counters: LinkCounters = {
    sentMessages: 0,
    sentBytes: 0,
    droppedMessages: 0,
    connects: 0,
    disconnects: 0,
    lastCloseReason: null,
  };

  #closed = false;
  #socket: net.Socket | null = null;
  #phase: Phase = "await-challenge";
  #up = false;
  /** The socket refused more data; wait for 'drain' before writing again. */
  #blocked = false;
  #flushScheduled = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #keepaliveTimer: NodeJS.Timeout | null = null;
  #lastHeardAtMs = 0;

  constructor(
    peerId: PeerId,
    address: PeerAddress,
    options: ResolvedOptions<unknown>,
    tlsFiles: LoadedTls | null,
    hooks: LinkHooks,
  ) {
    this.peerId = peerId;
    this.#address = address;
    this.#options = options;
    this.#tls = tlsFiles;
    this.#hooks = hooks;
    this.#logger = options.logger;
    this.#queue = new SendQueue(options.maxQueueMessages, options.maxQueueBytes);
    this.#backoff = new Backoff(options.reconnect, options.random);
  }

  get address(): PeerAddress {
    return this.#address;
  }

  get isUp(): boolean {
    return this.#up;
  }

  get queuedMessages(): number {
    return this.#queue.length;
  }

  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  start(): void {
    if (this.#closed || this.#socket !== null || this.#reconnectTimer !== null) return;
    this.#connect();
  }

  /**
   * The peer just proved it is reachable again (it dialled us and authenticated), typically
   * after a restart: dial now instead of at the end of a reconnect delay of up to
   * `reconnect.maxDelayMs`. Until then nothing this node sends reaches the peer, which after a
   * restart would hold up the votes of the next election. Only a link waiting to redial is
   * affected; the backoff is not reset (a failed attempt still grows it), so a peer that can
   * dial us but that we cannot reach costs one extra attempt per connection it makes.
   */
  redialNow(): void {
    if (this.#closed || this.#socket !== null || this.#reconnectTimer === null) return;
    clearTimeout(this.#reconnectTimer);
    this.#connect();
  }

  /** Queues one encoded frame; false when the queue is full (the frame is dropped and counted). */
  enqueue(frame: Buffer): boolean {
    if (this.#closed || !this.#queue.tryPush(frame)) {
      this.counters.droppedMessages += 1;
      return false;
    }
    this.#scheduleFlush();
    return true;
  }

  /** Points the link at a new address: the current connection is dropped and redialled. */
  setAddress(address: PeerAddress): void {
    if (address.host === this.#address.host && address.port === this.#address.port) return;
    this.#address = address;
    if (this.#socket !== null) this.#drop(this.#socket, "local-close");
  }

  /** Permanently closes the link; queued frames are discarded (counted as dropped). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    if (this.#socket !== null) this.#drop(this.#socket, "local-close");
    this.counters.droppedMessages += this.#queue.clear();
  }

  #connect(): void {
    this.#reconnectTimer = null;
    const { host, port } = this.#address;
    const socket: net.Socket =
      this.#tls === null
        ? net.connect({ host, port })
        : tls.connect({
            host,
            port,
            key: this.#tls.key,
            cert: this.#tls.cert,
            ca: this.#tls.ca,
            rejectUnauthorized: true,
            ...(this.#tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
          });
    this.#socket = socket;
    this.#phase = "await-challenge";
    this.#blocked = false;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
    const nonceDialer = createNonce();

    this.#handshakeTimer = setTimeout(
      () => this.#drop(socket, "handshake-timeout"),
      this.#options.handshakeTimeoutMs,
    );
    socket.once(this.#tls === null ? "connect" : "secureConnect", () => {
      const hello = encodeHello({
        version: PROTOCOL_VERSION,
        id: this.#options.id,
        nonce: nonceDialer,
      });
      socket.write(encodeFrame(FrameKind.hello, hello));
    });
    socket.on("data", (chunk: Buffer) => {
      if (socket !== this.#socket) return;
      try {
        decoder.push(chunk);
        for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
          this.#onFrame(socket, frame, nonceDialer);
          if (socket !== this.#socket) return;
        }
      } catch (error) {
        if (!(error instanceof FrameDecodeError)) throw error;
        this.#drop(socket, error.reason, error);
      }
    });
    socket.on("drain", () => {
      if (socket !== this.#socket) return;
      this.#blocked = false;
      this.#scheduleFlush();
    });
    let secured = this.#tls === null;
    socket.once("secureConnect", () => {
      secured = true;
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const networkError = error.code !== undefined && NETWORK_ERROR_CODES.has(error.code);
      this.#drop(socket, secured || networkError ? "connection-lost" : "tls-failed", error);
    });
    socket.on("end", () => this.#drop(socket, "connection-lost"));
    socket.on("close", () => this.#drop(socket, "connection-lost"));
  }

  #onFrame(socket: net.Socket, frame: Frame, nonceDialer: Uint8Array): void {
    this.#lastHeardAtMs = performance.now();
    switch (this.#phase) {
      case "await-challenge": {
        if (frame.kind !== FrameKind.challenge) {
          this.#drop(socket, "protocol-error");
          return;
        }
        const challenge = parseChallenge(frame.body);
        if (challenge === null) {
          this.#drop(socket, "protocol-error");
          return;
        }
        if (challenge.id !== this.peerId) {
          this.#logger.warn(
            { peer: this.peerId, answeredAs: challenge.id, address: this.#address },
            "the node at this peer address has another id; fix the peer list",
          );
          this.#drop(socket, "wrong-peer-id");
          return;
        }
        const selfId = this.#options.id;
        const secret = this.#options.secret;
        const expected = computeProof(
          secret,
          "acceptor",
          nonceDialer,
          challenge.nonce,
          selfId,
          this.peerId,
        );
        if (!proofMatches(expected, challenge.proof)) {
          this.#drop(socket, "auth-failed");
          return;
        }
        const proof = computeProof(
          secret,
          "dialer",
          nonceDialer,
          challenge.nonce,
          selfId,
          this.peerId,
        );
        socket.write(encodeFrame(FrameKind.proof, encodeProof({ proof })));
        this.#phase = "await-welcome";
        return;
      }
      case "await-welcome": {
        if (frame.kind !== FrameKind.welcome || frame.body.length !== 0) {
          this.#drop(socket, "protocol-error");
          return;
        }
        this.#phase = "up";
        this.#becomeUp(socket);
        return;
      }
      case "up": {
        // The acceptor only ever answers pings; anything else means the peer is confused.
        if (frame.kind !== FrameKind.pong) {
          this.#drop(socket, "protocol-error");
          return;
        }
        return;
      }
    }
  }

  #becomeUp(socket: net.Socket): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#up = true;
    this.counters.connects += 1;
    this.#backoff.reset();
    this.#logger.info({ peer: this.peerId, address: this.#address }, "connected to peer");
    const keepalive = this.#options.keepalive;
    if (keepalive !== null) {
      this.#lastHeardAtMs = performance.now();
      let lastTickAtMs = this.#lastHeardAtMs;
      this.#keepaliveTimer = setInterval(() => {
        if (socket !== this.#socket) return;
        const nowMs = performance.now();
        // A tick that comes very late means this process was stalled (GC, CPU starvation):
        // the peer's answers may be sitting unread in the socket, since timers run before I/O
        // in the event loop. Judge the peer on the next tick instead of blaming it for our stall.
        const stalled = nowMs - lastTickAtMs > keepalive.intervalMs + keepalive.timeoutMs / 2;
        lastTickAtMs = nowMs;
        if (!stalled && nowMs - this.#lastHeardAtMs > keepalive.timeoutMs) {
          this.#drop(socket, "keepalive-timeout");
          return;
        }
        socket.write(PING_FRAME);
      }, keepalive.intervalMs);
    }
    this.#hooks.onUp(this.peerId);
    this.#scheduleFlush();
  }

  /** Ends one connection attempt or connection; later events of that socket are ignored. */
  #drop(socket: net.Socket, reason: CloseReason, error?: Error): void {
    if (socket !== this.#socket) return;
    this.#socket = null;
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    if (this.#keepaliveTimer !== null) clearInterval(this.#keepaliveTimer);
    this.#handshakeTimer = null;
    this.#keepaliveTimer = null;
    socket.destroy();
    const wasUp = this.#up;
    this.#up = false;
    this.#blocked = false;
    this.counters.lastCloseReason = reason;
    const fields = {
      peer: this.peerId,
      address: this.#address,
      reason,
      ...(error === undefined ? {} : { error: error.message }),
    };
    if (REFUSAL_REASONS.has(reason)) {
      this.#hooks.onRefused(reason);
      this.#logger.warn(fields, "refused the connection to peer");
    } else if (wasUp) {
      this.#logger.info(fields, "lost the connection to peer");
    } else {
      // A peer that is down fails every attempt; keep that out of the default log level.
      this.#logger.debug(fields, "could not connect to peer");
    }
    if (wasUp) {
      this.counters.disconnects += 1;
      this.#hooks.onDown(this.peerId, reason);
    }
    if (!this.#closed && this.#reconnectTimer === null) {
      const delayMs = this.#backoff.nextDelayMs();
      this.#reconnectTimer = setTimeout(() => this.#connect(), delayMs);
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || !this.#up || this.#blocked || this.#queue.length === 0) return;
    this.#flushScheduled = true;
    // One write per event-loop turn: every send() of this turn lands in one batch.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const socket = this.#socket;
    if (!this.#up || socket === null) return;
    while (!this.#blocked && this.#queue.length > 0) {
      const batch = this.#queue.takeBatch(this.#options.maxBatchBytes);
      const data =
        batch.frames.length === 1 ? batch.frames[0]! : Buffer.concat(batch.frames, batch.bytes);
      this.counters.sentMessages += batch.frames.length;
      this.counters.sentBytes += batch.bytes;
      if (!socket.write(data)) this.#blocked = true;
    }
  }
}
