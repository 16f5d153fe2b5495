// What the HTTP layer needs from a cluster member. The running node implements it on top of the
// consensus core, the storage and the state machine; tests implement it with fakes.
import { z } from "zod";

export type Durability = "sync" | "async";
export type Consistency = "linearizable" | "lease" | "stale";

export interface KeyRecord {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface ReadAnswer<T> {
  readonly value: T;
  /** The applied index the read was served at (sent as X-Hothot-Applied-Index). */
  readonly appliedIndex: number;
}

export interface PutAnswer {
  readonly revision: number | null;
  readonly committed: boolean;
  readonly index?: number;
}

export interface DeleteAnswer {
  readonly deleted: boolean;
  readonly revision: number | null;
  readonly committed: boolean;
  readonly index?: number;
}

export interface ListAnswer {
  readonly items: readonly KeyRecord[];
  readonly more: boolean;
  readonly next: string | null;
}

const compareSchema = z.strictObject({
  key: z.string(),
  target: z.enum(["value", "version", "modRevision", "createRevision", "exists"]),
  op: z.enum(["=", "!=", "<", ">"]),
  value: z.union([z.string(), z.number(), z.boolean()]),
});

const operationSchema = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("put"), key: z.string(), value: z.string() }),
  z.strictObject({ op: z.literal("delete"), key: z.string() }),
  z.strictObject({ op: z.literal("get"), key: z.string() }),
]);

/** Body of POST /v1/txn (values as text, or base64 when `encoding` is "base64"). */
export const txnRequestSchema = z.strictObject({
  compare: z.array(compareSchema).max(128).default([]),
  success: z.array(operationSchema).max(128).default([]),
  failure: z.array(operationSchema).max(128).default([]),
  encoding: z.enum(["utf8", "base64"]).default("utf8"),
});

export type TxnRequest = z.infer<typeof txnRequestSchema>;

export type TxnOperationResult =
  | { readonly op: "put"; readonly revision: number }
  | { readonly op: "delete"; readonly deleted: boolean }
  | { readonly op: "get"; readonly kv: KeyRecord | null };

export interface TxnAnswer {
  readonly succeeded: boolean;
  readonly revision: number | null;
  readonly committed: boolean;
  readonly results: readonly TxnOperationResult[];
}

export interface MemberView {
  readonly id: number;
  readonly api: string;
  readonly peer: string;
  readonly role: "voter" | "learner";
  readonly matchIndex: number | null;
  readonly lag: number | null;
  readonly lastContactMs: number | null;
}

export interface StatusView {
  readonly id: number;
  readonly pid: number;
  readonly role: "leader" | "follower" | "pre-candidate" | "candidate" | "learner";
  readonly leaderId: number | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberView[];
}

/** One event of GET /v1/events. */
export interface ClusterEvent {
  readonly id: number;
  readonly role: StatusView["role"];
  readonly leaderId: number | null;
  readonly term: number;
  readonly members: ReadonlyArray<{ id: number; api: string; role: "voter" | "learner" }>;
}

export interface DigestView {
  readonly sha256: string;
  readonly appliedIndex: number;
  readonly revision: number;
}

export interface MemberApi {
  put(key: string, value: Uint8Array, durability: Durability): Promise<PutAnswer>;
  delete(key: string, durability: Durability): Promise<DeleteAnswer>;
  txn(request: TxnRequest, durability: Durability): Promise<TxnAnswer>;
  get(key: string, consistency: Consistency): Promise<ReadAnswer<KeyRecord | undefined>>;
  list(
    query: { prefix: string; after: string | undefined; limit: number },
    consistency: Consistency,
  ): Promise<ReadAnswer<ListAnswer>>;
  status(): StatusView;
  /** The API URL of the leader, when known. */
  leaderApi(): string | undefined;
  /** Calls `listener` on every change of role, leader, term or membership; returns unsubscribe. */
  subscribe(listener: (event: ClusterEvent) => void): () => void;
  transferLeadership(to: number): Promise<{ leaderId: number }>;
  addLearner(member: { id: number; peer: string; api: string }): Promise<void>;
  promote(id: number): Promise<void>;
  removeMember(id: number): Promise<void>;
  /** The cluster's founding membership (the configuration before index 1), for joining members. */
  bootstrap(): unknown;
  /** A digest of the state machine: equal on members with equal applied indexes. */
  digest(): DigestView;
  /** Prometheus exposition text. */
  metricsText(): Promise<string>;
}

export const memberAddSchema = z.strictObject({
  id: z.number().int().positive(),
  peer: z.string().regex(/^[^\s:]+:\d{1,5}$/, "expected HOST:PORT"),
  api: z.string().url(),
});

export const transferSchema = z.strictObject({ to: z.number().int().positive() });
