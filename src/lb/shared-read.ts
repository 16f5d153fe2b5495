// Reading an accepted socket into one buffer shared by all connections, as `net.connect`'s
// `onread` option does for client sockets. Node.js offers `onread` only when it creates the
// socket; a server's sockets read through the readable stream, which costs a fresh ArrayBuffer
// (malloc'd, then swept by the next scavenge), a Buffer, a 'data' event and a nextTick per read.
// For a proxy whose requests arrive in one read each, that was about a fifth of the bytes it
// allocated per request. `onread` is switched on after the fact through the same two
// stream-base hooks the option sets; where they are missing (another Node.js version), the
// caller falls back to 'data' events.
import type net from "node:net";

/** The bytes read; valid only until the callback returns (the buffer is reused). */
export type SharedReadCallback = (chunk: Buffer) => void;

interface StreamHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

const sharedBuffer = Buffer.allocUnsafe(64 * 1024);

/** Whether `chunk` is a view of the shared read buffer (and must be copied to be kept). */
export function isShared(chunk: Buffer): boolean {
  return chunk.buffer === sharedBuffer.buffer;
}

/** A copy of `chunk` if it is a view of the shared read buffer, else `chunk` itself. */
export function owned(chunk: Buffer): Buffer {
  return chunk.buffer === sharedBuffer.buffer ? Buffer.from(chunk) : chunk;
}

let hooks: { buffer: symbol; callback: symbol } | null | undefined;

function findHooks(socket: net.Socket): { buffer: symbol; callback: symbol } | null {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description === "kBuffer") buffer = symbol;
    else if (symbol.description === "kBufferCb") callback = symbol;
  }
  return buffer !== undefined && callback !== undefined ? { buffer, callback } : null;
}

/**
 * Makes `socket` (an accepted TCP socket, before it has read anything) deliver its bytes to
 * `onBytes` in the shared buffer instead of as 'data' events. Returns false, changing nothing,
 * when this Node.js lacks the hooks. 'end', 'close', 'error', pause() and resume() work as
 * before. Bytes that must go back to the readable side (a hand-over to node:http) are pushed
 * by the callback itself, as copies.
 */
export function readIntoSharedBuffer(socket: net.Socket, onBytes: SharedReadCallback): boolean {
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== "function") return false;
  hooks ??= findHooks(socket);
  if (hooks === null) return false;
  const slots = socket as unknown as Record<symbol, unknown>;
  // Both are null on a socket created without `onread`; anything else is not what we know.
  if (slots[hooks.buffer] !== null || slots[hooks.callback] !== null) return false;
  slots[hooks.buffer] = sharedBuffer;
  slots[hooks.callback] = (size: number, buffer: Uint8Array): boolean => {
    onBytes(Buffer.from(buffer.buffer, buffer.byteOffset, size));
    return true;
  };
  handle.useUserBuffer(sharedBuffer);
  // Flowing, so that the end of the stream is seen ('end') although no 'data' listener reads.
  socket.resume();
  return true;
}
