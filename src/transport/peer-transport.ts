// PeerTransport: the node's messaging to its peers. Owns the listener, one PeerLink (outbound,
// for sending) per configured peer and the authenticated inbound connections (for receiving).
// See docs/transport.md for the protocol and the guarantees.

import type { AddressInfo } from "node:net";
import net from "node:net";
import tls from "node:tls";
import { decodeBody, encodeBody, type MessageCodec } from "./codec.ts";
import { type CloseReason, TransportError } from "./errors.ts";
import { encodeFrame, FrameKind } from "./frame.ts";
import type { PeerId } from "./handshake.ts";
import { InboundConnection, type InboundHooks } from "./inbound-connection.ts";
import type { TransportLogger } from "./logger.ts";
import {
  type PeerAddress,
  type PeerTransportOptions,
  type ResolvedOptions,
  resolveOptions,
  validatePeerAddress,
  validatePeerId,
} from "./options.ts";
import { type LinkHooks, PeerLink } from "./peer-link.ts";
import { type LoadedTls, loadTlsFiles } from "./tls-files.ts";

export interface TransportEvents<Msg> {
  /** A payload from an authenticated peer, in the order that peer sent it. */
  message: (from: PeerId, message: Msg) => void;
  /** The outbound connection to `peer` is authenticated; `send` now reaches it. */
  peerUp: (peer: PeerId) => void;
  /** The outbound connection to `peer`, which was up, closed or failed (fired at once). */
  peerDown: (peer: PeerId, reason: CloseReason) => void;
}

export type TransportEventName = keyof TransportEvents<unknown>;

/** Reasons for which a connection is refused; each has a counter in `stats().refused`. */
export type RefusalReason = Extract<
  CloseReason,
  | "auth-failed"
  | "wrong-peer-id"
  | "protocol-error"
  | "frame-too-large"
  | "handshake-timeout"
  | "tls-failed"
  | "too-many-handshakes"
>;

const REFUSAL_REASONS: readonly RefusalReason[] = [
  "auth-failed",
  "wrong-peer-id",
  "protocol-error",
  "frame-too-large",
  "handshake-timeout",
  "tls-failed",
  "too-many-handshakes",
];

function isRefusal(reason: CloseReason): reason is RefusalReason {
  return (REFUSAL_REASONS as readonly CloseReason[]).includes(reason);
}

export interface PeerStats {
  readonly id: PeerId;
  /** In the peer list: this node dials it and can send to it. */
  readonly configured: boolean;
  readonly address: PeerAddress | null;
  /** The outbound connection is up (authenticated). */
  readonly connected: boolean;
  /** An authenticated inbound connection from this peer is open. */
  readonly inboundConnected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Refused by `send` because the queue was full, or discarded by `removePeer`/`close`. */
  readonly droppedMessages: number;
  /** Handed to the socket (not a delivery guarantee). Bytes include frame headers. */
  readonly sentMessages: number;
  readonly sentBytes: number;
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  /** Inbound payloads rejected by `isMessage`. */
  readonly invalidMessages: number;
  /** Outbound connections that came up / went down. */
  readonly connects: number;
  readonly disconnects: number;
  readonly lastCloseReason: CloseReason | null;
}

export interface TransportStats {
  readonly id: PeerId;
  /** The bound listen address (with the real port when `listen.port` was 0), null before start. */
  readonly listening: PeerAddress | null;
  readonly peers: readonly PeerStats[];
  /** Connections refused (inbound or outbound) by reason. */
  readonly refused: Readonly<Record<RefusalReason, number>>;
  readonly inboundConnections: number;
  readonly pendingHandshakes: number;
}

interface ReceiveCounters {
  messages: number;
  bytes: number;
  invalid: number;
}

type State = "new" | "starting" | "running" | "closed";

export class PeerTransport<Msg> {
  readonly id: PeerId;
  readonly #options: ResolvedOptions<Msg>;
  readonly #logger: TransportLogger;
  #state: State = "new";
  #server: net.Server | null = null;
  #tls: LoadedTls | null = null;
  #listening: PeerAddress | null = null;
  readonly #addresses = new Map<PeerId, PeerAddress>();
  readonly #links = new Map<PeerId, PeerLink>();
  /** Every open inbound connection, authenticating or authenticated. */
  readonly #inbound = new Set<InboundConnection>();
  /** The one authenticated inbound connection per peer (a newer one replaces an older one). */
  readonly #inboundByPeer = new Map<PeerId, InboundConnection>();
  readonly #received = new Map<PeerId, ReceiveCounters>();
  readonly #refused: Record<RefusalReason, number> = {
    "auth-failed": 0,
    "wrong-peer-id": 0,
    "protocol-error": 0,
    "frame-too-large": 0,
    "handshake-timeout": 0,
    "tls-failed": 0,
    "too-many-handshakes": 0,
  };
  readonly #listeners: { [E in TransportEventName]: Set<TransportEvents<Msg>[E]> } = {
    message: new Set(),
    peerUp: new Set(),
    peerDown: new Set(),
  };
  readonly #linkHooks: LinkHooks;
  readonly #inboundHooks: InboundHooks;

  constructor(options: PeerTransportOptions<Msg>) {
    this.#options = resolveOptions(options);
    this.id = this.#options.id;
    this.#logger = this.#options.logger;
    for (const [peerId, address] of this.#options.peers) this.#addresses.set(peerId, address);
    this.#linkHooks = {
      onUp: (peer) => {
        if (this.#state !== "running") return;
        for (const listener of this.#listeners.peerUp) listener(peer);
      },
      onDown: (peer, reason) => {
        if (this.#state !== "running") return;
        for (const listener of this.#listeners.peerDown) listener(peer, reason);
      },
      onRefused: (reason) => this.#countRefusal(reason),
    };
    this.#inboundHooks = {
      selfId: this.id,
      secret: this.#options.secret,
      maxFrameBytes: this.#options.maxFrameBytes,
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
      onAuthenticated: (connection) => this.#onInboundAuthenticated(connection),
      onMessage: (connection, body) => this.#onInboundMessage(connection, body),
      onClosed: (connection, reason, error) => this.#onInboundClosed(connection, reason, error),
    };
  }

  /** Binds the listener and starts dialling every peer. Resolves to the bound address. */
  async start(): Promise<PeerAddress> {
    if (this.#state !== "new") {
      throw new TransportError(
        this.#state === "closed" ? "TRANSPORT_NOT_RUNNING" : "TRANSPORT_ALREADY_STARTED",
        "start() can be called once per PeerTransport; create a new one to start again",
      );
    }
    this.#state = "starting";
    try {
      this.#tls = this.#options.tls === null ? null : await loadTlsFiles(this.#options.tls);
      const server = this.#createServer();
      this.#server = server;
      const { host, port } = this.#options.listen;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host, port }, () => {
          server.off("error", reject);
          resolve();
        });
      }).catch((error: Error) => {
        throw new TransportError(
          "TRANSPORT_LISTEN_FAILED",
          `cannot listen on ${host}:${port}: ${error.message}; choose a free port and a local address`,
          { cause: error },
        );
      });
      server.on("error", (error) => this.#logger.error({ error: error.message }, "listener error"));
      const bound = server.address() as AddressInfo;
      this.#listening = { host, port: bound.port };
    } catch (error) {
      this.#state = "closed";
      this.#server?.close();
      throw error;
    }
    if (this.#state !== "starting") {
      // close() ran while the listener was binding.
      this.#server.close();
      throw new TransportError("TRANSPORT_NOT_RUNNING", "the transport was closed while starting");
    }
    this.#state = "running";
    this.#logger.info({ id: this.id, listen: this.#listening }, "peer transport listening");
    for (const [peerId, address] of this.#addresses) this.#startLink(peerId, address);
    return this.#listening;
  }

  /** The bound listen address, or null before `start()` resolved. */
  get listening(): PeerAddress | null {
    return this.#listening;
  }

  /**
   * Queues `message` for `to`. Returns false when the peer's queue is full (the message is
   * dropped and counted). Delivery is best effort: messages queued or in flight when a connection
   * drops may be lost; those that arrive, arrive in order. Throws TransportError for an unknown
   * peer, a message that cannot be encoded or exceeds maxFrameBytes, and when not running.
   */
  send(to: PeerId, message: Msg): boolean {
    if (this.#state !== "running") {
      throw new TransportError(
        "TRANSPORT_NOT_RUNNING",
        "send() needs a started, not closed transport; await start() first",
      );
    }
    const link = this.#links.get(to);
    if (link === undefined) {
      throw new TransportError(
        "TRANSPORT_UNKNOWN_PEER",
        `peer ${to} is not in the peer list; call addPeer(${to}, address) first`,
      );
    }
    let body: Uint8Array;
    try {
      body = this.#options.codec?.encode(message) ?? encodeBody(message);
    } catch (error) {
      throw new TransportError(
        "TRANSPORT_ENCODE_FAILED",
        `message to peer ${to} cannot be encoded as msgpack (${(error as Error).message}); send plain objects, numbers, strings and Uint8Array`,
        { cause: error },
      );
    }
    if (1 + body.length > this.#options.maxFrameBytes) {
      throw new TransportError(
        "TRANSPORT_FRAME_TOO_LARGE",
        `message to peer ${to} encodes to ${1 + body.length} bytes, over maxFrameBytes ${this.#options.maxFrameBytes}; split it into smaller messages`,
      );
    }
    return link.enqueue(encodeFrame(FrameKind.message, body));
  }

  /** Adds a peer to dial (or moves an existing one to a new address). */
  addPeer(id: PeerId, address: PeerAddress): void {
    validatePeerId("addPeer id", id);
    const checked = validatePeerAddress(`addPeer(${id})`, address, false);
    if (id === this.id) {
      throw new TransportError("TRANSPORT_CONFIG_INVALID", `addPeer(${id}) names this node itself`);
    }
    if (this.#state === "closed") {
      throw new TransportError("TRANSPORT_NOT_RUNNING", "addPeer() after close()");
    }
    this.#addresses.set(id, checked);
    const link = this.#links.get(id);
    if (link !== undefined) link.setAddress(checked);
    else if (this.#state === "running") this.#startLink(id, checked);
  }

  /**
   * Stops dialling `id` and discards its queue. Inbound connections from it stay open: whether a
   * node may still talk to this one is the consensus layer's decision, not the transport's.
   */
  removePeer(id: PeerId): void {
    this.#addresses.delete(id);
    const link = this.#links.get(id);
    if (link === undefined) return;
    this.#links.delete(id);
    link.close();
  }

  /** Ids of the peers this node dials. */
  peers(): PeerId[] {
    return [...this.#addresses.keys()];
  }

  /** True while the outbound connection to `id` is up. */
  isConnected(id: PeerId): boolean {
    return this.#links.get(id)?.isUp ?? false;
  }

  on<E extends TransportEventName>(event: E, listener: TransportEvents<Msg>[E]): this {
    this.#listeners[event].add(listener);
    return this;
  }

  off<E extends TransportEventName>(event: E, listener: TransportEvents<Msg>[E]): this {
    this.#listeners[event].delete(listener);
    return this;
  }

  stats(): TransportStats {
    const ids = new Set<PeerId>([
      ...this.#addresses.keys(),
      ...this.#inboundByPeer.keys(),
      ...this.#received.keys(),
    ]);
    const peers: PeerStats[] = [];
    for (const id of [...ids].sort((a, b) => a - b)) {
      const link = this.#links.get(id);
      const received = this.#received.get(id);
      peers.push({
        id,
        configured: this.#addresses.has(id),
        address: this.#addresses.get(id) ?? null,
        connected: link?.isUp ?? false,
        inboundConnected: this.#inboundByPeer.has(id),
        queuedMessages: link?.queuedMessages ?? 0,
        queuedBytes: link?.queuedBytes ?? 0,
        droppedMessages: link?.counters.droppedMessages ?? 0,
        sentMessages: link?.counters.sentMessages ?? 0,
        sentBytes: link?.counters.sentBytes ?? 0,
        receivedMessages: received?.messages ?? 0,
        receivedBytes: received?.bytes ?? 0,
        invalidMessages: received?.invalid ?? 0,
        connects: link?.counters.connects ?? 0,
        disconnects: link?.counters.disconnects ?? 0,
        lastCloseReason: link?.counters.lastCloseReason ?? null,
      });
    }
    return {
      id: this.id,
      listening: this.#listening,
      peers,
      refused: { ...this.#refused },
      inboundConnections: this.#inbound.size,
      pendingHandshakes: this.#inbound.size - this.#inboundByPeer.size,
    };
  }

  /** Closes the listener and every connection; no events fire afterwards. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    const server = this.#server;
    this.#state = "closed";
    for (const link of this.#links.values()) link.close();
    for (const connection of [...this.#inbound]) connection.close("local-close");
    if (server?.listening) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.#logger.info({ id: this.id }, "peer transport closed");
  }

  #startLink(peerId: PeerId, address: PeerAddress): void {
    const link = new PeerLink(
      peerId,
      address,
      this.#options as ResolvedOptions<unknown>,
      this.#tls,
      this.#linkHooks,
    );
    this.#links.set(peerId, link);
    link.start();
  }

  #createServer(): net.Server {
    const accept = (socket: net.Socket) => this.#accept(socket);
    const maxConnections = this.#options.maxInboundConnections;
    if (this.#tls === null) {
      const server = net.createServer(accept);
      server.maxConnections = maxConnections;
      return server;
    }
    const server = tls.createServer(
      {
        key: this.#tls.key,
        cert: this.#tls.cert,
        ca: this.#tls.ca,
        requestCert: true,
        rejectUnauthorized: true,
        handshakeTimeout: this.#options.handshakeTimeoutMs,
      },
      accept,
    );
    server.maxConnections = maxConnections;
    server.on("tlsClientError", (error, socket) => {
      this.#countRefusal("tls-failed");
      this.#logger.warn(
        {
          remote: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`,
          error: error.message,
        },
        "refused a peer connection: TLS handshake failed",
      );
    });
    return server;
  }

  #accept(socket: net.Socket): void {
    if (this.#state !== "running") {
      socket.destroy();
      return;
    }
    const pending = this.#inbound.size - this.#inboundByPeer.size;
    if (pending >= this.#options.maxPendingHandshakes) {
      socket.destroy();
      this.#countRefusal("too-many-handshakes");
      this.#logger.warn(
        { remote: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`, pending },
        "refused a peer connection: too many connections are authenticating",
      );
      return;
    }
    this.#inbound.add(new InboundConnection(socket, this.#inboundHooks));
  }

  #onInboundAuthenticated(connection: InboundConnection): void {
    const peer = connection.peerId;
    if (peer === null) throw new Error("inbound connection authenticated without a peer id");
    const previous = this.#inboundByPeer.get(peer);
    this.#inboundByPeer.set(peer, connection);
    // The peer redialled (e.g. after it restarted, or its old connection is half-open): the
    // newest connection is the live one.
    if (previous !== undefined) previous.close("replaced");
    this.#logger.info({ peer, remote: connection.remoteAddress }, "accepted peer connection");
    // A peer that dials us is up: our own link to it need not wait out its reconnect delay.
    this.#links.get(peer)?.redialNow();
  }

  #onInboundMessage(connection: InboundConnection, body: Uint8Array): void {
    const peer = connection.peerId;
    if (peer === null || this.#state !== "running") return;
    let counters = this.#received.get(peer);
    if (counters === undefined) {
      counters = { messages: 0, bytes: 0, invalid: 0 };
      this.#received.set(peer, counters);
    }
    let value: unknown;
    try {
      value = decodeBody(body, this.#options.codec as MessageCodec<unknown> | null);
    } catch (error) {
      connection.close("protocol-error", error as Error);
      return;
    }
    const isMessage = this.#options.isMessage;
    if (isMessage !== null && !isMessage(value)) {
      counters.invalid += 1;
      if (counters.invalid === 1 || counters.invalid % 1000 === 0) {
        this.#logger.warn(
          { peer, invalidMessages: counters.invalid },
          "dropped a peer message that failed validation; are all nodes on the same version?",
        );
      }
      return;
    }
    counters.messages += 1;
    counters.bytes += body.length + 5;
    for (const listener of this.#listeners.message) listener(peer, value as Msg);
  }

  #onInboundClosed(connection: InboundConnection, reason: CloseReason, error?: Error): void {
    this.#inbound.delete(connection);
    const peer = connection.peerId;
    const fields = {
      peer,
      remote: connection.remoteAddress,
      reason,
      ...(error === undefined ? {} : { error: error.message }),
    };
    if (peer !== null && this.#inboundByPeer.get(peer) === connection) {
      this.#inboundByPeer.delete(peer);
    }
    if (isRefusal(reason)) {
      this.#countRefusal(reason);
      this.#logger.warn(fields, "refused a peer connection");
    } else if (connection.authenticated || reason === "replaced") {
      this.#logger.info(fields, "peer connection closed");
    } else if (connection.challenged) {
      // A dialer with another cluster secret hangs up here, after checking our proof; it logs
      // and counts the refusal on its side.
      this.#logger.info(fields, "peer closed the connection during authentication");
    } else {
      this.#logger.debug(fields, "unauthenticated connection closed");
    }
  }

  #countRefusal(reason: CloseReason): void {
    if (isRefusal(reason)) this.#refused[reason] += 1;
  }
}
