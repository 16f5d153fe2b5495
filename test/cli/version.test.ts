import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const bin = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const packageJson = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
);

test("hothot --version prints the package version", () => {
  const out = execFileSync(process.execPath, [bin, "--version"], { encoding: "utf8" });
  assert.equal(out.trim(), packageJson.version);
});

test("hothot --help names the program and its options", () => {
  const out = execFileSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
  assert.match(out, /Usage: hothot/);
  assert.match(out, /--version/);
});

test("an unknown option exits non-zero with a hint", () => {
  assert.throws(
    () =>
      execFileSync(process.execPath, [bin, "--no-such-flag"], { encoding: "utf8", stdio: "pipe" }),
    (error: { status: number; stderr: string }) =>
      error.status !== 0 && /hothot --help/.test(error.stderr),
  );
});
