// Shared helpers of the transport tests: transports on 127.0.0.1 with ephemeral ports, a logger
// that records, waiting with a deadline, and raw clients/servers that speak (or abuse) the wire
// protocol byte by byte.

import net from "node:net";
import { decodeBody, encodeBody } from "../../src/transport/codec.ts";
import { encodeFrame, type Frame, FrameDecoder, FrameKind } from "../../src/transport/frame.ts";
import {
  computeProof,
  createNonce,
  encodeChallenge,
  encodeHello,
  encodeProof,
  PROTOCOL_VERSION,
  parseChallenge,
  parseHello,
  parseProof,
} from "../../src/transport/handshake.ts";
import {
  type LogFields,
  type PeerAddress,
  PeerTransport,
  type PeerTransportOptions,
  type TransportLogger,
} from "../../src/transport/index.ts";

export const SECRET = "test-cluster-secret-0123456789";
export const LOOPBACK = "127.0.0.1";

export interface LogRecord {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly fields: LogFields;
  readonly message: string;
}

export class RecordingLogger implements TransportLogger {
  readonly records: LogRecord[] = [];
  debug(fields: LogFields, message: string): void {
    this.records.push({ level: "debug", fields, message });
  }
  info(fields: LogFields, message: string): void {
    this.records.push({ level: "info", fields, message });
  }
  warn(fields: LogFields, message: string): void {
    this.records.push({ level: "warn", fields, message });
  }
  error(fields: LogFields, message: string): void {
    this.records.push({ level: "error", fields, message });
  }
  withReason(reason: string): LogRecord[] {
    return this.records.filter((record) => record.fields.reason === reason);
  }
}

export type TestMessage = Record<string, unknown>;

/** Anything that can be closed at the end of a test file. */
export interface Closable {
  close(): Promise<void>;
}

type Overrides<Msg> = Partial<PeerTransportOptions<Msg>>;

/** A started transport listening on an ephemeral loopback port. */
export async function startTransport<Msg = TestMessage>(
  id: number,
  overrides: Overrides<Msg> = {},
): Promise<PeerTransport<Msg>> {
  const transport = new PeerTransport<Msg>({
    id,
    listen: { host: LOOPBACK, port: 0 },
    secret: SECRET,
    reconnect: { minDelayMs: 10, maxDelayMs: 100 },
    handshakeTimeoutMs: 2000,
    ...overrides,
  });
  await transport.start();
  return transport;
}

export function addressOf(transport: { readonly listening: PeerAddress | null }): PeerAddress {
  const address = transport.listening;
  if (address === null) throw new Error("transport is not listening");
  return address;
}

/** Two started transports that dial each other. */
export async function startPair<Msg = TestMessage>(
  overrides: Overrides<Msg> = {},
): Promise<[PeerTransport<Msg>, PeerTransport<Msg>]> {
  const a = await startTransport<Msg>(1, overrides);
  const b = await startTransport<Msg>(2, overrides);
  a.addPeer(2, addressOf(b));
  b.addPeer(1, addressOf(a));
  await waitFor(() => a.isConnected(2) && b.isConnected(1), 5000, "pair connected");
  return [a, b];
}

export async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A free loopback port (bound and released; good enough for a test that rebinds at once). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Frames read from a raw socket, with a way to await the next one. */
export class FrameReader {
  readonly frames: Frame[] = [];
  readonly #decoder = new FrameDecoder(64 * 1024 * 1024);
  closed = false;
  constructor(socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#decoder.push(chunk);
      for (let frame = this.#decoder.next(); frame !== null; frame = this.#decoder.next()) {
        this.frames.push(frame);
      }
    });
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {});
  }
  async next(timeoutMs = 2000): Promise<Frame> {
    await waitFor(() => this.frames.length > 0 || this.closed, timeoutMs, "a frame");
    const frame = this.frames.shift();
    if (frame === undefined) throw new Error("socket closed before a frame arrived");
    return frame;
  }
}

export async function connectRaw(address: PeerAddress): Promise<net.Socket> {
  const socket = net.connect({ host: address.host, port: address.port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

/** Rejects when `promise` has not settled within `timeoutMs`, so a broken build fails, not hangs. */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function socketClosed(socket: net.Socket, timeoutMs = 5000): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    socket.once("close", () => resolve());
  });
  return withTimeout(closed, timeoutMs, "the server to close the socket");
}

/**
 * Dials `address` as node `selfId` with `secret` and runs the dialer side of the handshake by
 * hand. Resolves to the socket once the acceptor's welcome arrived (or throws).
 */
export async function rawAuthenticatedDialer(
  address: PeerAddress,
  selfId: number,
  peerId: number,
  secret = SECRET,
): Promise<{ socket: net.Socket; reader: FrameReader }> {
  const socket = await connectRaw(address);
  const reader = new FrameReader(socket);
  const nonce = createNonce();
  socket.write(
    encodeFrame(FrameKind.hello, encodeHello({ version: PROTOCOL_VERSION, id: selfId, nonce })),
  );
  const challengeFrame = await reader.next();
  const challenge = parseChallenge(challengeFrame.body);
  if (challenge === null) throw new Error("expected a challenge");
  const key = new Uint8Array(Buffer.from(secret));
  const proof = computeProof(key, "dialer", nonce, challenge.nonce, selfId, peerId);
  socket.write(encodeFrame(FrameKind.proof, encodeProof({ proof })));
  const welcome = await reader.next();
  if (welcome.kind !== FrameKind.welcome) throw new Error(`expected welcome, got ${welcome.kind}`);
  return { socket, reader };
}

/**
 * A hand-written acceptor that authenticates dialers as node `selfId` and then does whatever
 * the test asks: by default it records payloads; `pauseAfterAuth` stops reading (a slow peer);
 * `answerPings` false leaves pings unanswered (a silent peer).
 */
export async function startRawAcceptor(
  selfId: number,
  options: { pauseAfterAuth?: boolean; answerPings?: boolean } = {},
): Promise<{
  server: net.Server;
  address: PeerAddress;
  payloads: unknown[];
  sockets: net.Socket[];
}> {
  const payloads: unknown[] = [];
  const sockets: net.Socket[] = [];
  const key = new Uint8Array(Buffer.from(SECRET));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    let nonceDialer: Uint8Array | null = null;
    let nonceAcceptor: Uint8Array | null = null;
    let dialerId = 0;
    socket.on("data", (chunk: Buffer) => {
      decoder.push(chunk);
      for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
        if (frame.kind === FrameKind.hello) {
          const hello = parseHello(frame.body);
          if (hello === null) throw new Error("raw acceptor: bad hello");
          nonceDialer = hello.nonce;
          dialerId = hello.id;
          nonceAcceptor = createNonce();
          const proof = computeProof(key, "acceptor", nonceDialer, nonceAcceptor, dialerId, selfId);
          socket.write(
            encodeFrame(
              FrameKind.challenge,
              encodeChallenge({
                version: PROTOCOL_VERSION,
                id: selfId,
                nonce: nonceAcceptor,
                proof,
              }),
            ),
          );
        } else if (frame.kind === FrameKind.proof) {
          const proof = parseProof(frame.body);
          if (proof === null || nonceDialer === null || nonceAcceptor === null) {
            throw new Error("raw acceptor: bad proof");
          }
          socket.write(encodeFrame(FrameKind.welcome, new Uint8Array(0)));
          if (options.pauseAfterAuth === true) socket.pause();
        } else if (frame.kind === FrameKind.message) {
          payloads.push(decodeBody(frame.body));
        } else if (frame.kind === FrameKind.ping && options.answerPings !== false) {
          socket.write(encodeFrame(FrameKind.pong, new Uint8Array(0)));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as net.AddressInfo;
  return { server, address: { host: LOOPBACK, port }, payloads, sockets };
}

export async function closeServer(server: net.Server, sockets: net.Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** One payload frame, encoded exactly as the transport does. */
export function messageFrame(value: unknown): Buffer {
  return encodeFrame(FrameKind.message, encodeBody(value));
}
