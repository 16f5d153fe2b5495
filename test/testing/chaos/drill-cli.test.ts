import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { Command } from "commander";
import { registerDrillCommand } from "../../../src/cli/drill.ts";

const main = resolve(import.meta.dirname, "../../../src/cli/main.ts");

async function parseError(args: string[]): Promise<string> {
  let stderr = "";
  const program = new Command().exitOverride().configureOutput({
    writeErr: (text) => {
      stderr += text;
    },
    writeOut: () => {},
  });
  registerDrillCommand(program);
  for (const command of program.commands) command.exitOverride();
  await assert.rejects(
    program.parseAsync(["node", "hothot", "drill", ...args]),
    `${args.join(" ")} was accepted`,
  );
  return stderr;
}

test("invalid drill flags are refused with a message that says what is allowed", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--nodes", "4"], /expected 3 or 5/],
    [
      ["--faults", "kill,flood"],
      /unknown fault kind "flood"; choose from kill,pause,partition,loss/,
    ],
    [["--duration", "2s"], /from 5s to 24h/],
    [["--duration", "soon"], /expected a duration such as 60s/],
    [["--clients", "0"], /expected an integer from 1 to 64/],
    [["--seed", "-1"], /expected an integer from 0/],
    [["--log-level", "loud"], /Allowed choices are trace, debug, info, warn, error, fatal/],
  ];
  for (const [args, message] of cases) assert.match(await parseError(args), message);
});

test("the installed command exits non-zero on a bad flag", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", main, "drill", "--nodes", "7"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /--nodes.*expected 3 or 5/);
});
