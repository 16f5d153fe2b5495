// Options of PeerTransport: their types, the defaults (documented here and in docs/transport.md)
// and the one place they are validated.

import type { RandomSource } from "./backoff.ts";
import type { MessageCodec } from "./codec.ts";
import { TransportError } from "./errors.ts";
import { isValidPeerId, type PeerId } from "./handshake.ts";
import { noopLogger, type TransportLogger } from "./logger.ts";

export interface PeerAddress {
  readonly host: string;
  /** 1..65535 for a peer; 0 is allowed only for `listen` (the system picks a free port). */
  readonly port: number;
}

export interface TlsFileOptions {
  /** PEM private key of this node. */
  readonly keyFile: string;
  /** PEM certificate of this node, signed by the cluster CA. */
  readonly certFile: string;
  /** PEM CA certificate(s); peers must present a certificate signed by it, in both directions. */
  readonly caFile: string;
  /**
   * Also check that the certificate of a dialled peer names the host we dialled (DNS or IP
   * subjectAltName). Default true. Turning it off still verifies the chain against the CA and the
   * HMAC handshake still proves the peer's node id; it is for certificates issued without SANs.
   */
  readonly verifyHostname?: boolean;
}

export interface KeepaliveOptions {
  /** How often the dialer pings an idle or busy link. */
  readonly intervalMs: number;
  /** Close the link (and report the peer down) when nothing was heard for this long. */
  readonly timeoutMs: number;
}

export interface ReconnectOptions {
  /** Ceiling of the first reconnect delay (full jitter draws from [0, ceiling]). */
  readonly minDelayMs?: number;
  /** The ceiling doubles per failed attempt up to this. */
  readonly maxDelayMs?: number;
}

export interface PeerTransportOptions<Msg> {
  /** This node's id: a positive safe integer, the same id the consensus core uses. */
  readonly id: PeerId;
  /** Where to accept peer connections; port 0 picks a free port (see `start()`'s result). */
  readonly listen: PeerAddress;
  /** Peers to dial. More can be added with `addPeer`. */
  readonly peers?: Iterable<readonly [PeerId, PeerAddress]>;
  /** The cluster secret, at least 16 bytes; every node of the cluster must have the same one. */
  readonly secret: string | Uint8Array;
  readonly tls?: TlsFileOptions;
  /**
   * Largest frame (kind byte + msgpack body) sent or accepted. Default 4 MiB. Bigger messages
   * (snapshots) must be split by the caller; every node must use the same limit.
   */
  readonly maxFrameBytes?: number;
  /** Messages queued per peer before new ones are dropped. Default 4096. */
  readonly maxQueueMessages?: number;
  /**
   * Bytes queued per peer before new messages are dropped. Default 16 MiB; must be at least
   * maxFrameBytes. Worst-case memory per peer is about this plus one batch in the socket.
   */
  readonly maxQueueBytes?: number;
  /** Bytes coalesced into one socket write. Default 256 KiB. */
  readonly maxBatchBytes?: number;
  readonly reconnect?: ReconnectOptions;
  /** TCP connect + TLS + authentication must finish within this. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Inbound connections still authenticating at once; more are closed at once. Default 64. */
  readonly maxPendingHandshakes?: number;
  /** Inbound connections at once (authenticating or not). Default 256. */
  readonly maxInboundConnections?: number;
  /** Off by default: the consensus heartbeats already detect a silent peer. */
  readonly keepalive?: KeepaliveOptions;
  /** [0, 1) source for reconnect jitter. Default Math.random. */
  readonly random?: RandomSource;
  /** Default: discard. Pass a pino child logger to see refusals and connection changes. */
  readonly logger?: TransportLogger;
  /**
   * Checks a decoded inbound payload. Payloads that fail are dropped and counted
   * (`invalidMessages`). Without it payloads are passed on unchecked (they come from a peer
   * that proved it holds the cluster secret).
   */
  readonly isMessage?: (value: unknown) => value is Msg;
  /** The application's own encoding for some messages, tried before msgpack (see codec.ts). */
  readonly codec?: MessageCodec<Msg>;
}

export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_QUEUE_MESSAGES = 4096;
export const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
export const DEFAULT_RECONNECT_MIN_DELAY_MS = 50;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 1000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_PENDING_HANDSHAKES = 64;
export const DEFAULT_MAX_INBOUND_CONNECTIONS = 256;
export const MIN_SECRET_BYTES = 16;
/** Frames are addressed with a u32 length; stay well inside it and inside Buffer limits. */
const MAX_FRAME_BYTES_LIMIT = 1024 * 1024 * 1024;

export interface ResolvedOptions<Msg> {
  readonly id: PeerId;
  readonly listen: PeerAddress;
  readonly peers: ReadonlyMap<PeerId, PeerAddress>;
  readonly secret: Uint8Array;
  readonly tls: TlsFileOptions | null;
  readonly maxFrameBytes: number;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly maxBatchBytes: number;
  readonly reconnect: { readonly minDelayMs: number; readonly maxDelayMs: number };
  readonly handshakeTimeoutMs: number;
  readonly maxPendingHandshakes: number;
  readonly maxInboundConnections: number;
  readonly keepalive: KeepaliveOptions | null;
  readonly random: RandomSource;
  readonly logger: TransportLogger;
  readonly isMessage: ((value: unknown) => value is Msg) | null;
  readonly codec: MessageCodec<Msg> | null;
}

function invalid(field: string, problem: string): TransportError {
  return new TransportError(
    "TRANSPORT_CONFIG_INVALID",
    `transport option ${field} ${problem}; fix it in the node configuration`,
  );
}

function integerIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer from ${min} to ${max} (got ${String(value)})`);
  }
  return value;
}

export function validatePeerAddress(field: string, address: PeerAddress, allowPortZero: boolean) {
  if (typeof address !== "object" || address === null) throw invalid(field, "must be {host, port}");
  if (typeof address.host !== "string" || address.host.length === 0) {
    throw invalid(`${field}.host`, "must be a non-empty host name or IP address");
  }
  integerIn(`${field}.port`, address.port, allowPortZero ? 0 : 1, 65535);
  return { host: address.host, port: address.port };
}

export function validatePeerId(field: string, id: unknown): PeerId {
  if (!isValidPeerId(id))
    throw invalid(field, `must be a positive safe integer (got ${String(id)})`);
  return id;
}

export function resolveOptions<Msg>(options: PeerTransportOptions<Msg>): ResolvedOptions<Msg> {
  const id = validatePeerId("id", options.id);
  const listen = validatePeerAddress("listen", options.listen, true);
  const peers = new Map<PeerId, PeerAddress>();
  for (const [peerId, address] of options.peers ?? []) {
    validatePeerId("peers key", peerId);
    if (peerId === id) throw invalid(`peers[${peerId}]`, "is this node's own id");
    if (peers.has(peerId)) throw invalid(`peers[${peerId}]`, "is listed twice");
    peers.set(peerId, validatePeerAddress(`peers[${peerId}]`, address, false));
  }
  const secret =
    typeof options.secret === "string"
      ? new Uint8Array(Buffer.from(options.secret, "utf8"))
      : options.secret instanceof Uint8Array
        ? new Uint8Array(options.secret)
        : null;
  if (secret === null || secret.length < MIN_SECRET_BYTES) {
    throw invalid("secret", `must be a string or bytes of at least ${MIN_SECRET_BYTES} bytes`);
  }
  const maxFrameBytes = integerIn(
    "maxFrameBytes",
    options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    1024,
    MAX_FRAME_BYTES_LIMIT,
  );
  const maxQueueMessages = integerIn(
    "maxQueueMessages",
    options.maxQueueMessages ?? DEFAULT_MAX_QUEUE_MESSAGES,
    1,
    10_000_000,
  );
  const maxQueueBytes = integerIn(
    "maxQueueBytes",
    options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
    maxFrameBytes,
    Number.MAX_SAFE_INTEGER,
  );
  const maxBatchBytes = integerIn(
    "maxBatchBytes",
    options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
    1,
    MAX_FRAME_BYTES_LIMIT,
  );
  const minDelayMs = integerIn(
    "reconnect.minDelayMs",
    options.reconnect?.minDelayMs ?? DEFAULT_RECONNECT_MIN_DELAY_MS,
    1,
    3_600_000,
  );
  const maxDelayMs = integerIn(
    "reconnect.maxDelayMs",
    options.reconnect?.maxDelayMs ?? Math.max(DEFAULT_RECONNECT_MAX_DELAY_MS, minDelayMs),
    minDelayMs,
    3_600_000,
  );
  const handshakeTimeoutMs = integerIn(
    "handshakeTimeoutMs",
    options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    1,
    600_000,
  );
  const maxPendingHandshakes = integerIn(
    "maxPendingHandshakes",
    options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES,
    1,
    100_000,
  );
  const maxInboundConnections = integerIn(
    "maxInboundConnections",
    options.maxInboundConnections ?? DEFAULT_MAX_INBOUND_CONNECTIONS,
    1,
    100_000,
  );
  let keepalive: KeepaliveOptions | null = null;
  if (options.keepalive !== undefined) {
    const intervalMs = integerIn(
      "keepalive.intervalMs",
      options.keepalive.intervalMs,
      1,
      3_600_000,
    );
    const timeoutMs = integerIn(
      "keepalive.timeoutMs",
      options.keepalive.timeoutMs,
      intervalMs,
      3_600_000,
    );
    keepalive = { intervalMs, timeoutMs };
  }
  let tls: TlsFileOptions | null = null;
  if (options.tls !== undefined) {
    for (const field of ["keyFile", "certFile", "caFile"] as const) {
      if (typeof options.tls[field] !== "string" || options.tls[field].length === 0) {
        throw invalid(`tls.${field}`, "must be the path of a PEM file");
      }
    }
    tls = { ...options.tls };
  }
  if (options.random !== undefined && typeof options.random !== "function") {
    throw invalid("random", "must be a function returning a number in [0, 1)");
  }
  return {
    id,
    listen,
    peers,
    secret,
    tls,
    maxFrameBytes,
    maxQueueMessages,
    maxQueueBytes,
    maxBatchBytes,
    reconnect: { minDelayMs, maxDelayMs },
    handshakeTimeoutMs,
    maxPendingHandshakes,
    maxInboundConnections,
    keepalive,
    random: options.random ?? Math.random,
    logger: options.logger ?? noopLogger,
    isMessage: options.isMessage ?? null,
    codec: options.codec ?? null,
  };
}
