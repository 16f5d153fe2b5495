import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseRequestUrl } from "../../src/node/http-api.ts";

const seed = Number(process.env.HOTHOT_FC_SEED ?? 20261127);

/** What the full WHATWG parse gives: the reference the fast path must match. */
function reference(target: string): { pathname: string; query: [string, string][] } | "invalid" {
  try {
    const url = new URL(target, "http://node");
    return { pathname: url.pathname, query: [...url.searchParams] };
  } catch {
    return "invalid";
  }
}

function parsed(target: string): { pathname: string; query: [string, string][] } | "invalid" {
  try {
    const url = parseRequestUrl(target);
    return { pathname: url.pathname, query: [...url.searchParams] };
  } catch {
    return "invalid";
  }
}

test("the request-target parse equals the WHATWG URL parse", () => {
  const pieces = [
    "/",
    "v1",
    "kv",
    "key-1",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2F",
    "%20",
    "%",
    "a.b",
    "~",
    "+",
    "=",
    "&",
    "?",
    "#",
    "\\",
    " ",
    "é",
    ":",
    "@",
    "!",
    "'",
    "(",
    "*",
    ",",
    ";",
    "$",
    "%zz",
    "//",
    '"',
    "<",
  ];
  const targetArb = fc
    .array(fc.constantFrom(...pieces), { maxLength: 12 })
    .map((parts) => `/${parts.join("")}`);
  fc.assert(
    fc.property(targetArb, (target) => {
      assert.deepEqual(parsed(target), reference(target), target);
    }),
    { seed, numRuns: 5000 },
  );
});

test("plain key paths and queries take the fast path with the same result", () => {
  for (const target of [
    "/v1/kv/key-1",
    "/v1/kv/a%2Fb?encoding=base64&durability=async",
    "/v1/kv?prefix=app%2F&limit=10&after=",
    "/v1/kv/x/./y",
    "/v1/kv/x/%2e%2E/y",
    "/v1/kv/..",
    "/v1/status",
    "//v1/kv/x",
  ]) {
    assert.deepEqual(parsed(target), reference(target), target);
  }
  // The fast path returns no URL object; dot segments still get the full parse.
  assert.ok(!(parseRequestUrl("/v1/kv/key-1") instanceof URL));
  assert.ok(parseRequestUrl("/v1/kv/a/../b") instanceof URL);
});
