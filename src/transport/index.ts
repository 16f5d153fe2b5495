// Public entry of the peer transport: authenticated, framed msgpack messages between cluster
// members over persistent TCP (optionally TLS) connections. See docs/transport.md.

export { createSeededRandom, type RandomSource } from "./backoff.ts";
export { CUSTOM_BODY_MARKER, type MessageCodec } from "./codec.ts";
export { type CloseReason, TransportError, type TransportErrorCode } from "./errors.ts";
export type { PeerId } from "./handshake.ts";
export { type LogFields, noopLogger, type TransportLogger } from "./logger.ts";
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_INBOUND_CONNECTIONS,
  DEFAULT_MAX_PENDING_HANDSHAKES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_QUEUE_MESSAGES,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_MIN_DELAY_MS,
  type KeepaliveOptions,
  MIN_SECRET_BYTES,
  type PeerAddress,
  type PeerTransportOptions,
  type ReconnectOptions,
  type TlsFileOptions,
} from "./options.ts";
export {
  type PeerStats,
  PeerTransport,
  type RefusalReason,
  type TransportEventName,
  type TransportEvents,
  type TransportStats,
} from "./peer-transport.ts";
