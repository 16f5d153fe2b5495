// The core is pure: no I/O, no clock, no randomness of its own, no other src/ folder.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const dir = join(import.meta.dirname, "../../src/raft");

const forbidden: Array<[RegExp, string]> = [
  [/from\s+["']node:/, "a node: built-in module"],
  [
    /from\s+["'](fs|net|os|child_process|timers|worker_threads|http|https|dgram|crypto)["']/,
    "an I/O module",
  ],
  [/import\(/, "a dynamic import"],
  [/\brequire\(/, "require()"],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, "a timer"],
  [/\bqueueMicrotask\s*\(/, "queueMicrotask"],
  [/\bDate\b/, "Date"],
  [/\bperformance\s*\./, "performance (a clock)"],
  [/Math\.random/, "Math.random"],
  [/\bprocess\s*\./, "process"],
  [/\bconsole\s*\./, "console"],
  [/from\s+["']\.\.\//, "an import from another src/ folder"],
];

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

test("src/raft uses no fs, net, timers, Date, Math.random, process, console or other src/ folders", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 8, `found only ${files.length} files in ${dir}`);
  const violations: string[] = [];
  for (const file of files) {
    const code = stripComments(readFileSync(join(dir, file), "utf8"));
    for (const [pattern, what] of forbidden) {
      if (pattern.test(code)) violations.push(`${file}: ${what} (${pattern})`);
    }
  }
  assert.deepEqual(violations, []);
});

test("the purity scan catches a violation (self-check of the patterns)", () => {
  const bad =
    'import { readFileSync } from "node:fs";\nconst t = Date.now();\nsetTimeout(() => {}, 1);';
  const hits = forbidden.filter(([pattern]) => pattern.test(stripComments(bad)));
  assert.ok(hits.length >= 3);
});
