// Persists the operator's drain/maintenance decisions so that a restarted load balancer does not
// silently send traffic to a server someone took out of rotation. Written atomically (temporary
// file + rename) so that a crash mid-write leaves the previous state intact.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import type { AdminState } from "./balancer.ts";
import { LbError } from "./errors.ts";

const fileSchema = z.object({
  version: z.literal(1),
  upstreams: z.record(z.string(), z.enum(["ready", "drain", "maintenance"])),
});

export function readStateFile(path: string): Map<string, AdminState> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw new LbError("LB_STATE_FILE_INVALID", `cannot read state file ${path}`, { cause: error });
  }
  const parsed = fileSchema.safeParse(safeJson(text));
  if (!parsed.success) {
    throw new LbError(
      "LB_STATE_FILE_INVALID",
      `state file ${path} is not a hothot lb state file; fix or delete it (every upstream then starts ready)`,
    );
  }
  return new Map(Object.entries(parsed.data.upstreams));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function writeStateFile(path: string, states: ReadonlyMap<string, AdminState>): void {
  const upstreams: Record<string, AdminState> = {};
  for (const [name, state] of [...states].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (state !== "ready") upstreams[name] = state;
  }
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ version: 1, upstreams }, null, 2)}\n`);
  renameSync(temporary, path);
}
