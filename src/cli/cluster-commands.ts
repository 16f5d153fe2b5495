// Commands that talk to a running cluster through the client: status, kv, transfer-leader, member.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { HothotClient, HothotError, type NodeStatus, type TxnRequest } from "../client/index.ts";
import { integerOption } from "./output.ts";

interface EndpointOptions {
  endpoints: string;
  token?: string;
  json?: boolean;
}

const DEFAULT_ENDPOINTS = "http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103";

function withEndpoints(command: Command): Command {
  return command
    .option(
      "-e, --endpoints <urls>",
      "comma-separated node API URLs (default: the `hothot up` defaults; env HOTHOT_ENDPOINTS)",
      process.env.HOTHOT_ENDPOINTS ?? DEFAULT_ENDPOINTS,
    )
    .option("--token <token>", "bearer token (env HOTHOT_TOKEN)", process.env.HOTHOT_TOKEN);
}

function client(options: EndpointOptions): HothotClient {
  return new HothotClient({
    endpoints: options.endpoints
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean),
    ...(options.token ? { token: options.token } : {}),
    maxAttempts: 4,
  });
}

/** Run a command body; typed errors become one clear line and exit code 1. */
async function run(
  options: EndpointOptions,
  body: (client: HothotClient) => Promise<void>,
): Promise<void> {
  const instance = client(options);
  try {
    await body(instance);
  } catch (error) {
    if (error instanceof HothotError) {
      process.stderr.write(`error: ${error.code}: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      throw error;
    }
  } finally {
    await instance.close();
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function registerClusterCommands(program: Command): void {
  withEndpoints(program.command("status"))
    .description("show every node: role, term, commit and applied index, lag, last contact")
    .option("--json", "print JSON instead of a table", false)
    .action(async (options: EndpointOptions) => {
      await run(options, async (instance) => {
        const statuses = await instance.statusAll();
        if (options.json) {
          print(
            statuses.map(
              (entry) => entry.status ?? { endpoint: entry.endpoint, error: entry.error?.message },
            ),
          );
          return;
        }
        process.stdout.write(formatStatusTable(statuses));
        if (statuses.every((entry) => entry.error)) process.exitCode = 1;
      });
    });

  const kv = program.command("kv").description("read and write keys");
  withEndpoints(kv.command("get <key>"))
    .description("print a key's value (exit 1 if it does not exist)")
    .option("-c, --consistency <level>", "linearizable | lease | stale", "linearizable")
    .option("--json", "print the whole record as JSON", false)
    .action(
      async (
        key: string,
        options: EndpointOptions & { consistency: "linearizable" | "lease" | "stale" },
      ) => {
        await run(options, async (instance) => {
          const record = await instance.get(key, { consistency: options.consistency });
          if (!record) {
            process.stderr.write(
              `error: KEY_NOT_FOUND: key ${JSON.stringify(key)} does not exist\n`,
            );
            process.exitCode = 1;
            return;
          }
          if (options.json) print(record);
          else process.stdout.write(`${record.value}\n`);
        });
      },
    );
  withEndpoints(kv.command("put <key> <value>"))
    .description("write a key")
    .option(
      "--async",
      "acknowledge once the leader persisted it (may be lost if the leader dies)",
      false,
    )
    .action(async (key: string, value: string, options: EndpointOptions & { async: boolean }) => {
      await run(options, async (instance) => {
        print(await instance.put(key, value, { durability: options.async ? "async" : "sync" }));
      });
    });
  withEndpoints(kv.command("del <key>"))
    .description("delete a key")
    .action(async (key: string, options: EndpointOptions) => {
      await run(options, async (instance) => print(await instance.delete(key)));
    });
  withEndpoints(kv.command("list [prefix]"))
    .description("list keys by prefix, one JSON record per line")
    .option("-l, --limit <n>", "page size", integerOption(1, 1000), 100)
    .option("--all", "follow pages until the end", false)
    .action(
      async (
        prefix: string | undefined,
        options: EndpointOptions & { limit: number; all: boolean },
      ) => {
        await run(options, async (instance) => {
          let after: string | undefined;
          do {
            const page = await instance.list({
              prefix: prefix ?? "",
              limit: options.limit,
              ...(after ? { after } : {}),
            });
            for (const item of page.items) print(item);
            after = page.more && page.next ? page.next : undefined;
          } while (options.all && after);
        });
      },
    );
  withEndpoints(kv.command("txn <file>"))
    .description("run a transaction from a JSON file (see docs/api.md), `-` for stdin")
    .action(async (file: string, options: EndpointOptions) => {
      let request: TxnRequest;
      try {
        request = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8")) as TxnRequest;
      } catch (error) {
        process.stderr.write(
          `error: cannot read a JSON transaction from ${file}: ${(error as Error).message}\n`,
        );
        process.exitCode = 2;
        return;
      }
      await run(options, async (instance) => print(await instance.txn(request)));
    });

  withEndpoints(program.command("transfer-leader"))
    .description("planned switchover: hand leadership to another member without losing writes")
    .requiredOption("--to <id>", "the member to become leader", integerOption(1, 2 ** 31))
    .action(async (options: EndpointOptions & { to: number }) => {
      await run(options, async (instance) => print(await instance.transferLeadership(options.to)));
    });

  const member = program.command("member").description("list and change the membership");
  withEndpoints(member.command("list"))
    .description("list members")
    .action(async (options: EndpointOptions) => {
      await run(options, async (instance) => print(await instance.members()));
    });
  withEndpoints(member.command("add <id> <peer> <api>"))
    .description("add a learner: id, peer address HOST:PORT, API URL")
    .action(async (id: string, peer: string, api: string, options: EndpointOptions) => {
      await run(options, async (instance) =>
        print(await instance.addLearner({ id: Number(id), peer, api })),
      );
    });
  withEndpoints(member.command("promote <id>"))
    .description("promote a caught-up learner to voter")
    .action(async (id: string, options: EndpointOptions) => {
      await run(options, async (instance) => print(await instance.promote(Number(id))));
    });
  withEndpoints(member.command("remove <id>"))
    .description("remove a member")
    .action(async (id: string, options: EndpointOptions) => {
      await run(options, async (instance) => print(await instance.removeMember(Number(id))));
    });
}

export function formatStatusTable(
  statuses: ReadonlyArray<{ endpoint: string; status?: NodeStatus; error?: HothotError }>,
): string {
  const rows: string[][] = [
    ["ID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "LAST CONTACT", "API"],
  ];
  const leaderView = statuses.find((entry) => entry.status?.role === "leader")?.status;
  for (const entry of statuses) {
    if (!entry.status) {
      rows.push([
        "?",
        "down",
        "-",
        "-",
        "-",
        "-",
        "-",
        `${entry.endpoint} (${entry.error?.code ?? "error"})`,
      ]);
      continue;
    }
    const status = entry.status;
    const seen = leaderView?.members.find((member) => member.id === status.id);
    rows.push([
      String(status.id),
      status.role,
      String(status.term),
      String(status.commitIndex),
      String(status.appliedIndex),
      seen?.lag === null || seen?.lag === undefined ? "-" : String(seen.lag),
      seen?.lastContactMs === null || seen?.lastContactMs === undefined
        ? "-"
        : `${seen.lastContactMs} ms`,
      entry.endpoint,
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
