// Small writes made while the event loop works through one batch of ready sockets are held
// (corked) and sent when the batch is done (setImmediate runs after the poll phase). Every write
// wakes the process at the other end, which on a busy machine can take the CPU from this one in
// the middle of its batch, leaving the requests still in the batch waiting; writing after the
// batch keeps the reads and parsing of a batch together.
import type net from "node:net";

const held: net.Socket[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const socket of held) socket.uncork();
  held.length = 0;
}

/** Holds `socket`'s writes until the current batch of I/O callbacks is done. */
export function holdUntilBatchEnd(socket: net.Socket): void {
  // Corked already: by this batch (it is in `held`), or by a caller's cork()/uncork() pair.
  if (socket.writableCorked > 0) return;
  socket.cork();
  held.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
