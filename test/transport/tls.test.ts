import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PeerTransport, type TlsFileOptions } from "../../src/transport/index.ts";
import {
  addressOf,
  type Closable,
  connectRaw,
  LOOPBACK,
  RecordingLogger,
  socketClosed,
  startTransport,
  type TestMessage,
  waitFor,
} from "./helpers.ts";

const opensslMissing = spawnSync("openssl", ["version"]).status !== 0;
const skip = opensslMissing ? "openssl is not installed: cannot generate test certificates" : false;

const open: Closable[] = [];
let dir = "";

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function makeCa(name: string): void {
  openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
  );
}

function makeCert(name: string, ca: string, subjectAltName: string): void {
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${subjectAltName}\n`);
  openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-extfile",
    `${name}.ext`,
  );
}

function files(cert: string, ca: string, extra: Partial<TlsFileOptions> = {}): TlsFileOptions {
  return {
    keyFile: join(dir, `${cert}.key`),
    certFile: join(dir, `${cert}.pem`),
    caFile: join(dir, `${ca}.pem`),
    ...extra,
  };
}

before(() => {
  if (opensslMissing) return;
  dir = mkdtempSync(join(tmpdir(), "hothot-transport-tls-"));
  makeCa("cluster-ca");
  makeCa("rogue-ca");
  makeCert("node-a", "cluster-ca", "IP:127.0.0.1");
  makeCert("node-b", "cluster-ca", "IP:127.0.0.1");
  makeCert("rogue", "rogue-ca", "IP:127.0.0.1");
  makeCert("no-ip", "cluster-ca", "DNS:node.example");
});

after(async () => {
  await Promise.all(open.map((transport) => transport.close()));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

test("two nodes with certificates of the cluster CA exchange messages over TLS", {
  skip,
}, async () => {
  const a = await startTransport(1, { tls: files("node-a", "cluster-ca") });
  const b = await startTransport(2, { tls: files("node-b", "cluster-ca") });
  open.push(a, b);
  const inbox: TestMessage[] = [];
  b.on("message", (_from, message) => inbox.push(message));
  a.addPeer(2, addressOf(b));
  b.addPeer(1, addressOf(a));
  await waitFor(() => a.isConnected(2) && b.isConnected(1), 5000, "TLS links up");
  a.send(2, { data: new Uint8Array([1, 2, 3]) });
  await waitFor(() => inbox.length === 1, 2000, "a message over TLS");
  assert.deepEqual(inbox, [{ data: new Uint8Array([1, 2, 3]) }]);

  // The listener speaks only TLS: a plain-TCP hello is refused by the TLS layer.
  const raw = await connectRaw(addressOf(b));
  raw.on("error", () => {});
  raw.write(Buffer.from([0, 0, 0, 1, 1]));
  await socketClosed(raw);
  await waitFor(() => b.stats().refused["tls-failed"] === 1, 2000, "the plain client refused");
});

test("a peer whose certificate another CA signed is refused in both directions", {
  skip,
}, async () => {
  const log = new RecordingLogger();
  const a = await startTransport(1, { tls: files("node-a", "cluster-ca"), logger: log });
  // Knows the cluster secret and trusts the cluster CA, but holds a certificate of another CA.
  const rogue = await startTransport(2, { tls: files("rogue", "cluster-ca") });
  open.push(a, rogue);
  const events: string[] = [];
  a.on("peerUp", () => events.push("up"));
  a.on("message", () => events.push("message"));
  a.addPeer(2, addressOf(rogue)); // a dials: rogue's server certificate fails verification
  rogue.addPeer(1, addressOf(a)); // rogue dials: a rejects its client certificate
  rogue.send(1, { sneaky: true });
  const asDialer = () =>
    log.records.some((record) => record.fields.peer === 2 && record.fields.reason === "tls-failed");
  const asListener = () =>
    log.records.some((record) => /TLS handshake failed/.test(record.message));
  await waitFor(() => asDialer() && asListener(), 5000, "refusals in both roles");
  assert.ok(a.stats().refused["tls-failed"] >= 2);
  assert.ok(
    log.records
      .filter((record) => record.fields.reason === "tls-failed" || /TLS/.test(record.message))
      .every((record) => record.level === "warn"),
  );
  assert.deepEqual(events, []);
});

test("the HMAC handshake still runs inside TLS: a wrong secret is refused", { skip }, async () => {
  const a = await startTransport(1, { tls: files("node-a", "cluster-ca") });
  const b = await startTransport(2, {
    tls: files("node-b", "cluster-ca"),
    secret: "a-different-cluster-secret",
  });
  open.push(a, b);
  a.addPeer(2, addressOf(b));
  await waitFor(() => a.stats().refused["auth-failed"] >= 1, 5000, "the refusal");
  assert.equal(a.isConnected(2), false);
});

test("hostname verification: a certificate without the dialled IP is refused unless turned off", {
  skip,
}, async () => {
  const b = await startTransport(2, { tls: files("no-ip", "cluster-ca") });
  const strict = await startTransport(1, { tls: files("node-a", "cluster-ca") });
  const relaxed = await startTransport(3, {
    tls: files("node-a", "cluster-ca", { verifyHostname: false }),
  });
  open.push(b, strict, relaxed);
  strict.addPeer(2, addressOf(b));
  relaxed.addPeer(2, addressOf(b));
  await waitFor(() => relaxed.isConnected(2), 5000, "the relaxed node connected");
  await waitFor(() => strict.stats().refused["tls-failed"] >= 1, 5000, "the strict node refused");
  assert.equal(strict.isConnected(2), false);
});

test("unreadable TLS files make start() fail with TRANSPORT_TLS_FILES_UNREADABLE", async () => {
  const transport = new PeerTransport({
    id: 1,
    listen: { host: LOOPBACK, port: 0 },
    secret: "test-cluster-secret-0123456789",
    tls: { keyFile: "/nonexistent/key.pem", certFile: "/nonexistent/c.pem", caFile: "/x/ca.pem" },
  });
  await assert.rejects(transport.start(), (error: { code?: string; message: string }) => {
    return error.code === "TRANSPORT_TLS_FILES_UNREADABLE" && /tls\.keyFile/.test(error.message);
  });
  assert.equal(transport.listening, null);
});
