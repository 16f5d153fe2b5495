import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { KvError, ListResult } from "../../src/kv/index.ts";
import { bytes, TestLog, tempRoot } from "./helpers.ts";

const root = tempRoot("kv-list");
after(root.cleanup);

function pageAll(log: TestLog, prefix: string, limit: number): { keys: string[]; pages: number } {
  const keys: string[] = [];
  let afterKey: string | undefined;
  let pages = 0;
  for (;;) {
    const page: ListResult = log.kv.list({ prefix, after: afterKey, limit });
    pages++;
    keys.push(...page.items.map((item) => item.key));
    if (!page.more) {
      assert.equal(page.next, undefined);
      return { keys, pages };
    }
    assert.equal(page.next, page.items[page.items.length - 1]?.key);
    afterKey = page.next;
  }
}

test("list by prefix pages through keys in UTF-8 byte order with more and next", async () => {
  const log = TestLog.open(root.dir());
  const keys = [
    "app/b",
    "app/a",
    "app/c/1",
    "app/é",
    "app/z",
    "app",
    "apq",
    "ap",
    "b/1",
    "app/😀",
    "app/\uFFFF",
  ];
  log.apply(...keys.map((key) => ({ type: "put" as const, key, value: bytes(key) })));
  const expected = keys
    .filter((key) => key.startsWith("app/"))
    .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  // é (C3 A9) sorts before U+FFFF (EF BF BF) before 😀 (F0 9F 98 80): byte order, not UTF-16 order.
  assert.deepEqual(expected.slice(-3), ["app/é", "app/\uFFFF", "app/😀"]);
  for (const limit of [1, 2, 3, 7, 100]) {
    const { keys: listed, pages } = pageAll(log, "app/", limit);
    assert.deepEqual(listed, expected, `limit ${limit}`);
    assert.equal(pages, Math.max(1, Math.ceil(expected.length / limit)));
  }
  const all = log.kv.list({ limit: 100 });
  assert.equal(all.items.length, keys.length);
  assert.equal(all.more, false);
  assert.equal(all.revision, keys.length);
  assert.equal(all.appliedIndex, keys.length);
  const first = log.kv.list({ prefix: "app/", limit: 2 });
  assert.deepEqual(
    first.items.map((i) => i.key),
    ["app/a", "app/b"],
  );
  assert.equal(first.more, true);
  assert.equal(first.next, "app/b");
  assert.equal(first.items[0]?.createRevision, 2);
  assert.deepEqual(log.kv.list({ prefix: "nothing/", limit: 5 }), {
    items: [],
    more: false,
    revision: keys.length,
    appliedIndex: keys.length,
  });
  // A cursor outside the prefix: before it starts at the prefix, after it yields nothing.
  assert.equal(log.kv.list({ prefix: "app/", after: "a", limit: 1 }).items[0]?.key, "app/a");
  assert.deepEqual(log.kv.list({ prefix: "app/", after: "b", limit: 5 }).items, []);
  await log.kv.close();
});

test("a page that exactly fills the limit reports more only if another key follows", async () => {
  const log = TestLog.open(root.dir());
  log.apply(
    { type: "put", key: "x/1", value: bytes("1") },
    { type: "put", key: "x/2", value: bytes("2") },
  );
  const page = log.kv.list({ prefix: "x/", limit: 2 });
  assert.equal(page.items.length, 2);
  assert.equal(page.more, false);
  await log.kv.close();
});

test("maxListSizeBytes cuts a page short and the cursor continues it", async () => {
  const log = TestLog.open(root.dir(), { maxListSizeBytes: 2500 });
  for (let i = 0; i < 10; i++)
    log.one({ type: "put", key: `big/${i}`, value: new Uint8Array(1000) });
  const first = log.kv.list({ prefix: "big/", limit: 100 });
  assert.ok(first.items.length < 10 && first.items.length >= 1, `got ${first.items.length}`);
  assert.equal(first.more, true);
  const { keys } = pageAll(log, "big/", 100);
  assert.deepEqual(
    keys,
    Array.from({ length: 10 }, (_, i) => `big/${i}`),
  );
  await log.kv.close();
});

test("list arguments are validated with codes", async () => {
  const log = TestLog.open(root.dir(), { maxListLimit: 50 });
  const code = (expected: string) => (error: unknown) => (error as KvError).code === expected;
  assert.throws(() => log.kv.list({ limit: 0 }), code("INVALID_ARGUMENT"));
  assert.throws(() => log.kv.list({ limit: 51 }), code("INVALID_ARGUMENT"));
  assert.throws(() => log.kv.list({ limit: 2.5 }), code("INVALID_ARGUMENT"));
  assert.throws(() => log.kv.list({ prefix: "x".repeat(2000), limit: 1 }), code("KEY_TOO_LARGE"));
  assert.throws(() => log.kv.list({ after: "\uD800", limit: 1 }), code("INVALID_KEY"));
  assert.equal(log.kv.list({ limit: 50 }).items.length, 0);
  await log.kv.close();
});
