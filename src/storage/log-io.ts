// The two asynchronous file operations of the log's write path, behind an interface so tests can
// delay or fail them (a slow or failing fdatasync) without a faulty disk, and the reusable buffers
// appends are encoded into.

import { close, constants, fdatasync, open, write, writev } from "node:fs";

/**
 * What the log store's write path needs from the file system. Callbacks must be called
 * asynchronously (never before the call returns), as node:fs does.
 */
export interface LogIo {
  /** Positional vectored write (pwritev); `written` may be short of the total. */
  writev(
    fd: number,
    buffers: readonly Buffer[],
    position: number,
    callback: (error: Error | null, written: number) => void,
  ): void;
  fdatasync(fd: number, callback: (error: Error | null) => void): void;
  /** Zeros over [start, end) of the file at `path`, durable (see writeZeros). Default: writeZeros. */
  writeZeros?(
    path: string,
    start: number,
    end: number,
    callback: (error: Error | null) => void,
  ): void;
}

export const nodeLogIo: LogIo = {
  writev(fd, buffers, position, callback) {
    writev(fd, buffers as Buffer[], position, (error, written) => callback(error, written));
  },
  fdatasync(fd, callback) {
    fdatasync(fd, (error) => callback(error));
  },
  writeZeros: (path, start, end, callback) => writeZeros(path, start, end, callback),
};

/**
 * Writes all of `buffers` at `position`, continuing after short writes (the kernel may split
 * large vectors). Calls back once with the error or with nothing.
 */
export function writeFully(
  io: LogIo,
  fd: number,
  buffers: readonly Buffer[],
  position: number,
  callback: (error: Error | null) => void,
): void {
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  let done = 0;
  const step = (rest: readonly Buffer[]) => {
    io.writev(fd, rest, position + done, (error, written) => {
      if (error !== null) return callback(error);
      if (written <= 0)
        return callback(new Error(`writev made no progress at offset ${position + done}`));
      done += written;
      if (done >= total) return callback(null);
      step(remainder(rest, written));
    });
  };
  if (total === 0) {
    setImmediate(() => callback(null));
    return;
  }
  step(buffers);
}

/** The part of `buffers` after its first `skipBytes` bytes, without copying. */
function remainder(buffers: readonly Buffer[], skipBytes: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = skipBytes;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}

/**
 * Fixed-size buffers that appends are encoded into, reused once the write that carried them has
 * completed. Allocating fresh ones per group cost more than the CRCs at 64 writers of 4 KiB: each
 * new buffer's pages fault in on first touch, and the external memory churn (hundreds of MB/s)
 * drives frequent full garbage collections that showed up as multi-millisecond p99 latencies.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];

  constructor(
    /** Size of a pooled buffer; a record larger than this gets a buffer of its own. */
    readonly slabBytes: number,
    /** Most idle buffers kept: bounds the memory held between bursts. */
    private readonly maxFree: number,
  ) {}

  take(minBytes: number): Buffer {
    if (minBytes > this.slabBytes) return Buffer.allocUnsafe(minBytes);
    return this.free.pop() ?? Buffer.allocUnsafe(this.slabBytes);
  }

  give(slab: Buffer): void {
    if (slab.length === this.slabBytes && this.free.length < this.maxFree) this.free.push(slab);
  }
}

/** Zeros for writeZeros (shared and never written to). */
let zeroChunk: Buffer | undefined;

/**
 * Writes zeros over [start, end) of the file at `path` through a descriptor of its own, then
 * fdatasyncs it: space that later writes fill without growing the file. Calls back once.
 */
export function writeZeros(
  path: string,
  start: number,
  end: number,
  callback: (error: Error | null) => void,
): void {
  zeroChunk ??= Buffer.alloc(256 * 1024);
  const chunk = zeroChunk;
  open(path, constants.O_WRONLY, (openError, fd) => {
    if (openError !== null) return callback(openError);
    const finish = (error: Error | null) =>
      close(fd, (closeError) => callback(error ?? closeError));
    const step = (position: number) => {
      if (position >= end) return fdatasync(fd, (error) => finish(error));
      write(fd, chunk, 0, Math.min(chunk.length, end - position), position, (error, written) => {
        if (error !== null) return finish(error);
        if (written <= 0)
          return finish(new Error(`zero fill made no progress at offset ${position}`));
        step(position + written);
      });
    };
    step(start);
  });
}
