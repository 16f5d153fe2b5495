import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  PeerTransport,
  type PeerTransportOptions,
  TransportError,
} from "../../src/transport/index.ts";
import { LOOPBACK, SECRET, sleep, startTransport, waitFor } from "./helpers.ts";

const base: PeerTransportOptions<unknown> = {
  id: 1,
  listen: { host: LOOPBACK, port: 0 },
  secret: SECRET,
};

function rejects(overrides: Partial<PeerTransportOptions<unknown>>, field: RegExp): void {
  assert.throws(
    () => new PeerTransport({ ...base, ...overrides }),
    (error: unknown) =>
      error instanceof TransportError &&
      error.code === "TRANSPORT_CONFIG_INVALID" &&
      field.test(error.message),
  );
}

test("invalid options are refused with TRANSPORT_CONFIG_INVALID naming the field", () => {
  rejects({ id: 0 }, /option id /);
  rejects({ id: 1.5 }, /option id /);
  rejects({ secret: "short" }, /option secret .*16 bytes/);
  rejects({ listen: { host: "", port: 0 } }, /listen\.host/);
  rejects({ listen: { host: LOOPBACK, port: 70000 } }, /listen\.port/);
  rejects({ peers: [[1, { host: LOOPBACK, port: 7000 }]] }, /peers\[1\] is this node's own id/);
  rejects({ peers: [[2, { host: LOOPBACK, port: 0 }]] }, /peers\[2\]\.port/);
  rejects(
    {
      peers: [
        [2, { host: LOOPBACK, port: 7000 }],
        [2, { host: LOOPBACK, port: 7001 }],
      ],
    },
    /listed twice/,
  );
  rejects({ maxFrameBytes: 10 }, /maxFrameBytes/);
  rejects({ maxFrameBytes: 1 << 20, maxQueueBytes: 1 << 19 }, /maxQueueBytes/);
  rejects({ maxQueueMessages: 0 }, /maxQueueMessages/);
  rejects({ reconnect: { minDelayMs: 500, maxDelayMs: 100 } }, /reconnect\.maxDelayMs/);
  rejects({ keepalive: { intervalMs: 100, timeoutMs: 50 } }, /keepalive\.timeoutMs/);
  rejects({ handshakeTimeoutMs: 0 }, /handshakeTimeoutMs/);
  rejects(
    { tls: { keyFile: "", certFile: "c", caFile: "ca" } },
    /tls\.keyFile must be the path of a PEM file/,
  );
});

test("defaults are consistent: the default queue holds at least one maximum frame", () => {
  assert.ok(DEFAULT_MAX_QUEUE_BYTES >= DEFAULT_MAX_FRAME_BYTES);
  const transport = new PeerTransport(base);
  assert.equal(transport.id, 1);
  assert.equal(transport.listening, null);
});

test("a secret given as bytes works like the same secret as a string", async () => {
  const a = await startTransport(1, { secret: new Uint8Array(Buffer.from(SECRET)) });
  const b = await startTransport(2);
  try {
    a.addPeer(2, b.listening!);
    await waitFor(() => a.isConnected(2), 3000, "connected");
  } finally {
    await a.close();
    await b.close();
  }
});

test("start() twice, and listening on a taken port, fail with typed errors", async () => {
  const a = await startTransport(1);
  try {
    await assert.rejects(a.start(), { code: "TRANSPORT_ALREADY_STARTED" });
    const b = new PeerTransport({ ...base, id: 2, listen: a.listening! });
    await assert.rejects(b.start(), (error: { code?: string; message: string }) => {
      return error.code === "TRANSPORT_LISTEN_FAILED" && /EADDRINUSE/.test(error.message);
    });
    assert.throws(() => b.send(1, {}), { code: "TRANSPORT_NOT_RUNNING" });
  } finally {
    await a.close();
  }
});

test("a pino logger can be passed directly", async () => {
  const lines: string[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write: (line: string) => {
        lines.push(line);
      },
    },
  );
  const transport = await startTransport(1, { logger: logger.child({ component: "transport" }) });
  await transport.close();
  assert.ok(lines.some((line) => /peer transport listening/.test(line)));
  assert.ok(lines.every((line) => JSON.parse(line).component === "transport"));
});

test("isMessage drops and counts payloads that fail validation", async () => {
  const isCounter = (value: unknown): value is { n: number } =>
    typeof value === "object" && value !== null && typeof (value as { n?: unknown }).n === "number";
  const a = await startTransport<unknown>(1);
  const b = await startTransport<{ n: number }>(2, { isMessage: isCounter });
  try {
    const inbox: number[] = [];
    b.on("message", (_from, message) => inbox.push(message.n));
    a.addPeer(2, b.listening!);
    a.send(2, { n: 1 });
    a.send(2, { wrong: true });
    a.send(2, { n: 2 });
    await waitFor(() => inbox.length === 2, 3000, "two valid messages");
    await sleep(20);
    assert.deepEqual(inbox, [1, 2]);
    const stats = b.stats().peers.find((peer) => peer.id === 1)!;
    assert.equal(stats.invalidMessages, 1);
    assert.equal(stats.receivedMessages, 2);
  } finally {
    await a.close();
    await b.close();
  }
});
