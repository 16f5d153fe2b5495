// `hothot lb`: runs the load balancer (HTTP or TCP) from flags or a YAML file, and
// `hothot lb drain|maintenance|ready|status` talk to a running one's admin endpoint.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import {
  type LbConfig,
  LbError,
  loadLbConfigFile,
  parseLbConfig,
  startLoadBalancer,
} from "../lb/index.ts";

interface RunFlags {
  config?: string;
  listen?: string;
  upstream?: string[];
  mode?: string;
  policy?: string;
  hashKey?: string;
  healthPath?: string;
  healthIntervalMs?: string;
  healthCheck?: boolean;
  workers?: string;
  cluster?: string;
  admin?: string | false;
  stateFile?: string;
  seed?: string;
  upstreamClient?: string;
  frontend?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function integer(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) {
    throw new LbError(
      "LB_CONFIG_INVALID",
      `invalid load balancer configuration at "${flag}": expected an integer, got "${text}"`,
    );
  }
  return value;
}

/** `[NAME=]URL[,weight=N]` */
function upstreamFromFlag(text: string): Record<string, unknown> {
  const [target = "", ...options] = text.split(",");
  const equals = target.indexOf("=");
  const hasName = equals > 0 && !target.slice(0, equals).includes("/");
  const entry: Record<string, unknown> = { url: hasName ? target.slice(equals + 1) : target };
  if (hasName) entry.name = target.slice(0, equals);
  for (const option of options) {
    const [key, value = ""] = option.split("=");
    if (key === "weight") entry.weight = integer("--upstream weight", value);
    else {
      throw new LbError(
        "LB_CONFIG_INVALID",
        `invalid load balancer configuration at "--upstream": unknown option "${key}" (only weight=N)`,
      );
    }
  }
  return entry;
}

/** Flags override the file's fields; nested sections are merged field by field. */
export function configFromFlags(flags: RunFlags): LbConfig {
  const overrides: Record<string, unknown> = {};
  const policy: Record<string, unknown> = {};
  const healthCheck: Record<string, unknown> = {};
  const admin: Record<string, unknown> = {};
  if (flags.listen !== undefined) overrides.listen = flags.listen;
  if (flags.mode !== undefined) overrides.mode = flags.mode;
  if (flags.upstream !== undefined) overrides.upstreams = flags.upstream.map(upstreamFromFlag);
  if (flags.workers !== undefined) {
    overrides.workers = flags.workers === "auto" ? "auto" : integer("--workers", flags.workers);
  }
  if (flags.seed !== undefined) overrides.seed = integer("--seed", flags.seed);
  if (flags.upstreamClient !== undefined) overrides.upstreamClient = flags.upstreamClient;
  if (flags.frontend !== undefined) overrides.frontend = flags.frontend;
  if (flags.cluster !== undefined)
    overrides.cluster = { seeds: flags.cluster.split(",").filter(Boolean) };
  if (flags.policy !== undefined) policy.type = flags.policy;
  if (flags.hashKey !== undefined) policy.hashKey = flags.hashKey;
  if (flags.healthPath !== undefined) healthCheck.path = flags.healthPath;
  if (flags.healthIntervalMs !== undefined) {
    healthCheck.intervalMs = integer("--health-interval-ms", flags.healthIntervalMs);
  }
  if (flags.healthCheck === false) healthCheck.enabled = false;
  if (flags.admin === false) admin.listen = null;
  else if (flags.admin !== undefined) admin.listen = flags.admin;
  if (flags.stateFile !== undefined)
    admin.stateFile = flags.stateFile === "none" ? null : flags.stateFile;
  if (flags.config === undefined) {
    return parseLbConfig({ ...overrides, policy, healthCheck, admin });
  }
  // The file merged with the flags is validated as one, so both obey the same schema.
  return loadLbConfigFile(flags.config, {
    ...overrides,
    ...sectionOverride(flags.config, "policy", policy),
    ...sectionOverride(flags.config, "healthCheck", healthCheck),
    ...sectionOverride(flags.config, "admin", admin),
  });
}

function sectionOverride(
  path: string,
  section: string,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  if (Object.keys(fields).length === 0) return {};
  const raw = loadRawSection(path, section);
  return { [section]: { ...raw, ...fields } };
}

function loadRawSection(path: string, section: string): Record<string, unknown> {
  const raw = parseYaml(readFileSync(path, "utf8")) as Record<string, unknown> | null;
  const value = raw?.[section];
  return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
}

async function adminCall(adminUrl: string, method: string, path: string): Promise<string> {
  const url = new URL(path, adminUrl.includes("://") ? adminUrl : `http://${adminUrl}`);
  let response: Response;
  try {
    response = await fetch(url, { method });
  } catch (error) {
    throw new LbError(
      "LB_ADMIN_REQUEST_FAILED",
      `cannot reach the admin endpoint at ${url.origin} (${(error as Error).message}); is hothot lb running with --admin there?`,
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new LbError(
      "LB_ADMIN_REQUEST_FAILED",
      `admin endpoint answered ${response.status}: ${text.trim()}`,
    );
  }
  return text;
}

/** `--admin` may be parsed by `lb` itself or by its subcommand, depending on its position. */
function adminUrl(command: Command): string {
  const value = command.optsWithGlobals<{ admin?: string | false }>().admin;
  return typeof value === "string" ? value : "http://127.0.0.1:9901";
}

function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hothot lb: ${message}\n`);
  process.exit(error instanceof LbError ? 2 : 1);
}

async function run(flags: RunFlags): Promise<void> {
  let config: LbConfig;
  try {
    config = configFromFlags(flags);
  } catch (error) {
    fail(error);
  }
  let lb: Awaited<ReturnType<typeof startLoadBalancer>>;
  try {
    lb = await startLoadBalancer(config);
  } catch (error) {
    fail(error);
  }
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
  const scheme = config.mode === "http" ? "http" : "tcp";
  const adminHost = config.admin.listen?.host ?? "";
  process.stdout.write(
    `${JSON.stringify({
      listen: `${scheme}://${host}:${lb.port}`,
      admin: lb.adminPort === null ? null : `http://${adminHost}:${lb.adminPort}`,
      mode: config.mode,
      policy: config.policy.type,
      workers: config.workers,
      upstreams: config.upstreams.map((upstream) => upstream.name),
      cluster: config.cluster?.seeds ?? null,
    })}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`hothot lb: ${signal} again, exiting without draining\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(
      `hothot lb: ${signal}, draining in-flight requests (up to ${config.timeouts.drainMs} ms)\n`,
    );
    void lb.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

export function registerLbCommand(program: Command): void {
  const lb = program
    .command("lb")
    .description(
      "load balancer: HTTP/TCP proxy over upstreams or a hothot cluster (see docs/lb.md)",
    )
    .option("-c, --config <file>", "YAML configuration file (flags override its fields)")
    .option("--listen <host:port>", "address to accept clients on (default 127.0.0.1:8080)")
    .option("-u, --upstream <[name=]url[,weight=N]>", "an upstream; repeat for more", collect)
    .option("--mode <mode>", "http (default) or tcp")
    .option(
      "--policy <policy>",
      "p2c (default), round-robin, weighted-round-robin, least-outstanding, random, consistent-hash",
    )
    .option("--hash-key <key>", "consistent-hash key: header:NAME, cookie:NAME or client-address")
    .option("--health-path <path>", "HTTP health check path (default /, /v1/health with --cluster)")
    .option("--health-interval-ms <ms>", "health check interval (default 2000)")
    .option("--no-health-check", "disable active health checks")
    .option(
      "--workers <n>",
      "worker processes sharing the port, or auto = one per CPU (default auto)",
    )
    .option("--cluster <urls>", "follow a hothot cluster: comma-separated member API URLs")
    .option("--admin <host:port>", "admin endpoint address (default 127.0.0.1:9901)")
    .option("--no-admin", "disable the admin endpoint")
    .option(
      "--state-file <path>",
      "where drain/maintenance states persist ('none' to keep in memory)",
    )
    .option("--seed <n>", "seed for the policies' random choices")
    .option("--upstream-client <client>", "native (default) or undici")
    .option("--frontend <frontend>", "client connections: raw (default) or node (node:http)")
    .action((flags: RunFlags) => run(flags));

  for (const state of ["drain", "maintenance", "ready"] as const) {
    lb.command(state)
      .description(
        state === "drain"
          ? "stop sending new requests to an upstream; in-flight ones finish"
          : state === "maintenance"
            ? "take an upstream out of rotation and pause its health checks"
            : "put an upstream back into rotation",
      )
      .argument("<upstream>", "upstream name (see `hothot lb status`)")
      .option(
        "--admin <url>",
        "admin endpoint of the running load balancer (default 127.0.0.1:9901)",
      )
      .action(async (name: string, _options: unknown, command: Command) => {
        try {
          await adminCall(
            adminUrl(command),
            "POST",
            `/upstreams/${encodeURIComponent(name)}/${state}`,
          );
          process.stdout.write(`${name}: ${state}\n`);
        } catch (error) {
          fail(error);
        }
      });
  }
  lb.command("status")
    .description("print the running load balancer's upstreams and their states as JSON")
    .option("--admin <url>", "admin endpoint of the running load balancer (default 127.0.0.1:9901)")
    .action(async (_options: unknown, command: Command) => {
      try {
        process.stdout.write(await adminCall(adminUrl(command), "GET", "/status"));
      } catch (error) {
        fail(error);
      }
    });
}
