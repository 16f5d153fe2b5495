#!/usr/bin/env node
// The `hothot` command line. Each command lives in its own module under src/cli/ and registers
// itself on the program here.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerCheckHistoryCommand } from "./check-history.ts";
import { registerClusterCommands } from "./cluster-commands.ts";
import { registerDrillCommand } from "./drill.ts";
import { registerLbCommand } from "./lb.ts";
import { registerNode } from "./node.ts";
import { registerUp } from "./up.ts";

function packageVersion(): string {
  const packageJsonUrl = new URL("../../package.json", import.meta.url);
  const parsed = JSON.parse(readFileSync(packageJsonUrl, "utf8")) as { version: string };
  return parsed.version;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("hothot")
    .description("Hot-hot redundancy for real services: replicated, self-healing, load-balanced.")
    .version(packageVersion(), "-v, --version", "print the version and exit")
    .showHelpAfterError("(run `hothot --help` for usage)");
  registerUp(program);
  registerNode(program);
  registerClusterCommands(program);
  registerCheckHistoryCommand(program);
  registerLbCommand(program);
  registerDrillCommand(program);
  return program;
}

const program = buildProgram();
await program.parseAsync(process.argv);
