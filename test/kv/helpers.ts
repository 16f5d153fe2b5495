// Shared fixtures of the KV tests: temporary stores and a log that numbers its entries.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ApplyResult,
  type CommandResult,
  encodeCommand,
  type KvCommand,
  type KvLimits,
  KvStateMachine,
  resolveKvLimits,
} from "../../src/kv/index.ts";

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : Buffer.from(value).toString("utf8");

/** A temporary directory tree removed by cleanup(). */
export function tempRoot(name: string): { dir: () => string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), `hothot-${name}-`));
  let counter = 0;
  return {
    dir: () => join(root, `kv-${++counter}`),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Appends commands as log entries with consecutive indexes, as the node layer would. */
export class TestLog {
  readonly kv: KvStateMachine;
  readonly limits: Readonly<KvLimits>;

  constructor(kv: KvStateMachine) {
    this.kv = kv;
    this.limits = kv.limits;
  }

  static open(dir: string, limits: Partial<KvLimits> = {}): TestLog {
    return new TestLog(KvStateMachine.open({ dir, limits, syncMode: "deferred" }));
  }

  applyRaw(...data: Uint8Array[]): ApplyResult[] {
    const first = this.kv.appliedIndex() + 1;
    return this.kv.apply(data.map((bytes, offset) => ({ index: first + offset, data: bytes })));
  }

  apply(...commands: KvCommand[]): CommandResult[] {
    return this.applyRaw(...commands.map((c) => encodeCommand(c, this.limits))).map(
      (r) => r.result,
    );
  }

  one(command: KvCommand): CommandResult {
    const [result] = this.apply(command);
    if (result === undefined) throw new Error("no result");
    return result;
  }
}

export const defaultLimits = resolveKvLimits();

/** The store's whole state as its snapshot stream's bytes: equal bytes, equal stores. */
export async function snapshotBytes(kv: KvStateMachine): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of kv.openSnapshot()) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Results as plain JSON: values come back as Buffers, compared by content this way. */
export function normalize(results: CommandResult[]): unknown {
  return JSON.parse(JSON.stringify(results));
}
