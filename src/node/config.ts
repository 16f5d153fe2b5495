// Node configuration: one YAML file per member, validated once at the edge. Every default is
// here and nowhere else; docs/configuration.md mirrors this file.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const hostPort = z
  .string()
  .regex(
    /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/,
    "expected HOST:PORT, e.g. 127.0.0.1:7101",
  );

const httpUrl = z
  .string()
  .url("expected a URL, e.g. http://127.0.0.1:7101")
  .refine((value) => /^https?:\/\//.test(value), "expected an http:// or https:// URL");

const memberSchema = z.strictObject({
  id: z.number().int().positive(),
  /** Where peers reach this member's transport. */
  peer: hostPort,
  /** Where clients reach this member's HTTP API. */
  api: httpUrl,
});

/** The node's log levels (pino's). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const nodeConfigSchema = z
  .strictObject({
    id: z.number().int().positive(),
    dataDir: z.string().min(1),
    listen: z.strictObject({ api: hostPort, peer: hostPort }),
    /** The initial voters when the data directory is empty; ignored once the cluster exists. */
    members: z.array(memberSchema).min(1),
    /**
     * Join an existing cluster instead of founding one: start with no voters and wait to be
     * added (as a learner) by the cluster's leader. `members` then lists the existing members.
     */
    join: z.boolean().default(false),
    /** Cluster secret for peer authentication (HMAC). Or `secretFile`. */
    secret: z.string().min(16, "the cluster secret must be at least 16 characters").optional(),
    secretFile: z.string().min(1).optional(),
    /** Bearer token required by the client API when it listens beyond loopback. */
    token: z.string().min(16).optional(),
    /** Allow a non-loopback client API without a token. */
    insecure: z.boolean().default(false),
    tls: z.strictObject({ cert: z.string(), key: z.string(), ca: z.string() }).optional(),
    raft: z
      .strictObject({
        /** Length of one tick of the consensus core. */
        tickMs: z.number().int().min(1).max(1000).default(10),
        /** Heartbeat every 5 ticks = 50 ms. */
        heartbeatIntervalTicks: z.number().int().min(1).default(5),
        /** Election timeout randomized in [30, 60) ticks = 300–600 ms. */
        electionTimeoutTicks: z.number().int().min(2).default(30),
        preVote: z.boolean().default(true),
        checkQuorum: z.boolean().default(true),
        /** Start a pre-vote as soon as the connection to the leader is lost. */
        earlyFailover: z.boolean().default(true),
        /** A new commit index travels with the next append, or alone within a tick. */
        lazyCommitPropagation: z.boolean().default(true),
        maxMessageSizeBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
        maxInflightMessages: z.number().int().positive().default(256),
        maxInflightBytes: z
          .number()
          .int()
          .positive()
          .default(16 * 1024 * 1024),
        maxUncommittedBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024),
      })
      .prefault({}),
    limits: z
      .strictObject({
        maxKeyBytes: z.number().int().positive().default(1024),
        maxValueBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
        /** Client requests waiting for the log; past it the node answers 503 OVERLOADED. */
        maxPendingProposals: z.number().int().positive().default(10_000),
        requestTimeoutMs: z.number().int().positive().default(5000),
      })
      .prefault({}),
    api: z
      .strictObject({
        /** Serve single-key requests on the fast front (docs/api.md); false: node:http for all. */
        fastFront: z.boolean().default(true),
        /** An idle kept-alive client connection is closed after this. */
        keepAliveMs: z.number().int().min(1000).default(65_000),
        /** A request head must arrive within this, else 408. */
        headersTimeoutMs: z.number().int().min(1000).default(60_000),
      })
      .prefault({}),
    snapshot: z
      .strictObject({
        /** Take a snapshot and compact the log after this many applied entries. */
        everyEntries: z.number().int().positive().default(10_000),
        /** Snapshots kept on disk. */
        keep: z.number().int().min(1).default(2),
        chunkBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024),
        /** Entries kept in the log behind a snapshot, so a briefly lagging member catches up by log. */
        catchUpEntries: z.number().int().min(0).default(1000),
      })
      .prefault({}),
    stateMachine: z
      .strictObject({
        /**
         * The state machine's LMDB commits start at most this often; entries applied in between
         * are served from memory and committed together. 0: one commit per applied batch.
         */
        commitIntervalMs: z.number().int().min(0).max(10_000).default(100),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default("info"),
        pretty: z.boolean().default(false),
      })
      .prefault({}),
  })
  .superRefine((config, context) => {
    if (!config.secret && !config.secretFile) {
      context.addIssue({
        code: "custom",
        path: ["secret"],
        message: "a cluster secret is required: set `secret` or `secretFile`",
      });
    }
    if (!config.members.some((member) => member.id === config.id)) {
      context.addIssue({
        code: "custom",
        path: ["members"],
        message: `the members list must include this node (id ${config.id})`,
      });
    }
    const ids = new Set<number>();
    for (const [position, member] of config.members.entries()) {
      if (ids.has(member.id)) {
        context.addIssue({
          code: "custom",
          path: ["members", position, "id"],
          message: `duplicate member id ${member.id}`,
        });
      }
      ids.add(member.id);
    }
    if (config.raft.heartbeatIntervalTicks >= config.raft.electionTimeoutTicks) {
      context.addIssue({
        code: "custom",
        path: ["raft", "heartbeatIntervalTicks"],
        message: "the heartbeat interval must be shorter than the election timeout",
      });
    }
    if (!isLoopback(hostOf(config.listen.api)) && !config.token && !config.insecure) {
      context.addIssue({
        code: "custom",
        path: ["token"],
        message:
          "the client API listens beyond loopback: set a `token` (16+ characters) or `insecure: true`",
      });
    }
  });

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type NodeConfigInput = z.input<typeof nodeConfigSchema>;
export type MemberAddress = z.infer<typeof memberSchema>;

export class ConfigError extends Error {
  readonly code = "INVALID_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Validate a parsed configuration; the error names every bad field by its path. */
export function parseNodeConfig(input: unknown, source = "configuration"): NodeConfig {
  const result = nodeConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) =>
        `  ${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`,
    );
    throw new ConfigError(`invalid ${source}:\n${problems.join("\n")}`);
  }
  return result.data;
}

export function loadNodeConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  return parseNodeConfig(parsed, path);
}

/** The cluster secret, from the config or its file. */
export function resolveSecret(config: NodeConfig): string {
  if (config.secret) return config.secret;
  const text = readFileSync(config.secretFile!, "utf8").trim();
  if (text.length < 16) {
    throw new ConfigError(
      `${config.secretFile}: the cluster secret must be at least 16 characters`,
    );
  }
  return text;
}

export function hostOf(address: string): string {
  const bracketed = /^\[(.*)\]:\d+$/.exec(address);
  if (bracketed) return bracketed[1]!;
  return address.slice(0, address.lastIndexOf(":"));
}

export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
