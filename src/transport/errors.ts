// Typed errors of the transport. `code` is stable and safe to match on; the message says what
// went wrong and what to do about it.
//
// Only mistakes the caller can fix are thrown (bad configuration, a message that can never be
// sent, use after close). Everything that happens on the wire (a peer that drops, a wrong
// secret, a garbage frame) is logged, counted and turned into `peerDown`, never thrown: the
// consensus layer above tolerates lost messages and retries on its own.

export type TransportErrorCode =
  // The options passed to `new PeerTransport` are invalid; the message names the field.
  | "TRANSPORT_CONFIG_INVALID"
  // An outbound message encodes to more than `maxFrameBytes`; split it (e.g. smaller snapshot
  // chunks) or raise the limit on every node.
  | "TRANSPORT_FRAME_TOO_LARGE"
  // The message could not be encoded with msgpack (e.g. it contains a function or a symbol).
  | "TRANSPORT_ENCODE_FAILED"
  // `send` named a peer that was never added (or was removed); call `addPeer` first.
  | "TRANSPORT_UNKNOWN_PEER"
  // `send`/`addPeer` before `start()` resolved or after `close()`.
  | "TRANSPORT_NOT_RUNNING"
  // `start()` called twice.
  | "TRANSPORT_ALREADY_STARTED"
  // The listener could not bind (address in use, permission denied, bad host).
  | "TRANSPORT_LISTEN_FAILED"
  // A TLS key, certificate or CA file could not be read.
  | "TRANSPORT_TLS_FILES_UNREADABLE";

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.code = code;
  }
}

/**
 * Why a connection was closed. Stable strings used in logs, in `peerDown` events and as keys of
 * the refusal counters in `stats()`.
 */
export type CloseReason =
  // Wrong cluster secret (proof did not verify) or a peer that claims an impossible identity.
  | "auth-failed"
  // The handshake did not complete within `handshakeTimeoutMs`.
  | "handshake-timeout"
  // Bytes that do not follow the protocol: unknown frame kind, bad msgpack, frame out of order.
  | "protocol-error"
  // TLS handshake failed: certificate not signed by the cluster CA, wrong host name, or a peer
  // that does not speak TLS (or speaks it when this node does not).
  | "tls-failed"
  // An inbound frame announced more than the allowed size.
  | "frame-too-large"
  // The peer answered at the dialled address with another node id than configured.
  | "wrong-peer-id"
  // No frame from the peer within `keepalive.timeoutMs`.
  | "keepalive-timeout"
  // The TCP (or TLS) connection closed or failed: peer process gone, reset, refused, unreachable.
  | "connection-lost"
  // Too many connections are still authenticating; see `maxPendingHandshakes`.
  | "too-many-handshakes"
  // A newer authenticated inbound connection from the same peer replaced this one.
  | "replaced"
  // This transport is closing or the peer was removed.
  | "local-close";
