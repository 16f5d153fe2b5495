// Mutual authentication with the cluster secret (HMAC-SHA256 challenge-response).
//
//   dialer   -> acceptor  hello     { version, id: dialerId, nonce: nonceD }
//   acceptor -> dialer    challenge { version, id: acceptorId, nonce: nonceA,
//                                     proof: HMAC(secret, "A" | nonceD | nonceA | dialerId | acceptorId) }
//   dialer   -> acceptor  proof     { proof: HMAC(secret, "D" | nonceD | nonceA | dialerId | acceptorId) }
//   acceptor -> dialer    welcome   {}
//
// Why it is shaped like this:
// - Both nonces are fresh 32-byte random values, so a recorded proof is useless on any other
//   connection (no replay), and each side is challenged by a nonce it chose itself.
// - The role byte differs between the two proofs, so an attacker cannot reflect the acceptor's
//   proof back to it as its own.
// - Both node ids are inside the MAC, so a proof binds the identity the peer claims.
// - The acceptor proves first (it already has both nonces); the dialer checks it before it
//   reveals its own proof. The welcome tells the dialer that its proof was accepted, so it never
//   reports a peer as up (or sends payloads) on a connection the acceptor is about to refuse.
// - Proofs are compared with crypto.timingSafeEqual.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { decodeBody, encodeBody } from "./codec.ts";

export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Handshake frames are tiny; this limit applies to every frame before authentication. */
export const HANDSHAKE_MAX_FRAME_BYTES = 512;

const DOMAIN = Buffer.from("hothot-transport-v1\0", "utf8");

export type PeerId = number;

export type HandshakeRole = "dialer" | "acceptor";

export interface Hello {
  readonly version: number;
  readonly id: PeerId;
  readonly nonce: Uint8Array;
}

export interface Challenge extends Hello {
  readonly proof: Uint8Array;
}

export interface Proof {
  readonly proof: Uint8Array;
}

export function isValidPeerId(value: unknown): value is PeerId {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

export function createNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** The MAC one side sends to prove it knows `secret`. */
export function computeProof(
  secret: Uint8Array,
  role: HandshakeRole,
  nonceDialer: Uint8Array,
  nonceAcceptor: Uint8Array,
  dialerId: PeerId,
  acceptorId: PeerId,
): Uint8Array {
  if (nonceDialer.length !== NONCE_BYTES || nonceAcceptor.length !== NONCE_BYTES) {
    throw new Error("computeProof needs two nonces of NONCE_BYTES");
  }
  const ids = Buffer.allocUnsafe(16);
  // Float64 holds every safe integer exactly and has a fixed width, so the input is unambiguous.
  ids.writeDoubleBE(dialerId, 0);
  ids.writeDoubleBE(acceptorId, 8);
  const mac = createHmac("sha256", secret);
  mac.update(DOMAIN);
  mac.update(role === "dialer" ? "D" : "A");
  mac.update(nonceDialer);
  mac.update(nonceAcceptor);
  mac.update(ids);
  return new Uint8Array(mac.digest());
}

/** Constant-time check of a received proof against the expected one. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  // Lengths are public (always PROOF_BYTES for an honest peer), so checking them first leaks nothing.
  return expected.length === received.length && timingSafeEqual(expected, received);
}

export function encodeHello(hello: Hello): Uint8Array {
  return encodeBody({ version: hello.version, id: hello.id, nonce: hello.nonce });
}

export function encodeChallenge(challenge: Challenge): Uint8Array {
  return encodeBody({
    version: challenge.version,
    id: challenge.id,
    nonce: challenge.nonce,
    proof: challenge.proof,
  });
}

export function encodeProof(proof: Proof): Uint8Array {
  return encodeBody({ proof: proof.proof });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

/** Parses a hello; null when the body is not a well-formed hello of this protocol. */
export function parseHello(body: Uint8Array): Hello | null {
  const value = safeDecode(body);
  if (!isRecord(value)) return null;
  const { version, id, nonce } = value;
  if (version !== PROTOCOL_VERSION || !isValidPeerId(id) || !isBytes(nonce, NONCE_BYTES)) {
    return null;
  }
  return { version, id, nonce };
}

export function parseChallenge(body: Uint8Array): Challenge | null {
  const value = safeDecode(body);
  if (!isRecord(value)) return null;
  const { version, id, nonce, proof } = value;
  if (
    version !== PROTOCOL_VERSION ||
    !isValidPeerId(id) ||
    !isBytes(nonce, NONCE_BYTES) ||
    !isBytes(proof, PROOF_BYTES)
  ) {
    return null;
  }
  return { version, id, nonce, proof };
}

export function parseProof(body: Uint8Array): Proof | null {
  const value = safeDecode(body);
  if (!isRecord(value) || !isBytes(value.proof, PROOF_BYTES)) return null;
  return { proof: value.proof };
}

function safeDecode(body: Uint8Array): unknown {
  try {
    return decodeBody(body);
  } catch {
    return undefined;
  }
}
