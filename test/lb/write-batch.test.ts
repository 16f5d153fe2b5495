import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { holdUntilBatchEnd } from "../../src/lb/write-batch.ts";

/** A connected pair on 127.0.0.1 and everything the far end receives. */
async function pair(): Promise<{
  near: net.Socket;
  received: () => string;
  ended: Promise<void>;
  close: () => void;
}> {
  let text = "";
  let far: net.Socket | null = null;
  let ended: () => void = () => undefined;
  const endedPromise = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const server = net.createServer((socket) => {
    far = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("end", () => ended());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const near = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((resolve) => near.once("connect", resolve));
  return {
    near,
    received: () => text,
    ended: endedPromise,
    close: () => {
      near.destroy();
      (far as net.Socket | null)?.destroy();
      server.close();
    },
  };
}

test("writes held for the batch leave after it, in order with writes made later on the same socket", async () => {
  const { near, received, close } = await pair();
  try {
    holdUntilBatchEnd(near);
    near.write("one ");
    holdUntilBatchEnd(near); // held already: nothing changes
    near.write("two ");
    // Held: nothing went to the kernel while this batch runs.
    assert.equal(near.writableLength, 8);
    assert.equal(near.writableCorked, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(near.writableCorked, 0);
    near.write("three");
    const deadline = Date.now() + 5000;
    while (received() !== "one two three" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(received(), "one two three");
  } finally {
    close();
  }
});

test("end() right after a held write sends the write, then closes", async () => {
  const { near, received, ended, close } = await pair();
  try {
    holdUntilBatchEnd(near);
    near.write("last words");
    near.end();
    await ended;
    assert.equal(received(), "last words");
  } finally {
    close();
  }
});

test("a socket corked by its owner around several writes is left to the owner", async () => {
  const { near, received, close } = await pair();
  try {
    near.cork();
    holdUntilBatchEnd(near);
    near.write("a");
    near.uncork();
    // The owner's uncork sent it: the batch did not add a cork of its own.
    assert.equal(near.writableCorked, 0);
    const deadline = Date.now() + 5000;
    while (received() !== "a" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(received(), "a");
  } finally {
    close();
  }
});
