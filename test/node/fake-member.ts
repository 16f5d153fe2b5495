// A single-process fake member for tests of the client API: a map, a revision counter and a
// settable role.
import type { NodeError } from "../../src/node/errors.ts";
import type { ClusterEvent, KeyRecord, MemberApi, StatusView } from "../../src/node/member-api.ts";

export class FakeMember implements MemberApi {
  readonly data = new Map<string, KeyRecord>();
  revision = 0;
  role: StatusView["role"] = "leader";
  leaderId: number | null = 1;
  failWith: NodeError | undefined;
  private listeners = new Set<(event: ClusterEvent) => void>();

  async put(key: string, value: Uint8Array) {
    if (this.failWith) throw this.failWith;
    const previous = this.data.get(key);
    this.revision++;
    this.data.set(key, {
      key,
      value,
      createRevision: previous?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (previous?.version ?? 0) + 1,
    });
    return { revision: this.revision, committed: true };
  }
  async delete(key: string) {
    const deleted = this.data.delete(key);
    if (deleted) this.revision++;
    return { deleted, revision: this.revision, committed: true };
  }
  async txn() {
    return { succeeded: true, revision: this.revision, committed: true, results: [] };
  }
  async get(key: string) {
    return { value: this.data.get(key), appliedIndex: 42 };
  }
  async list(query: { prefix: string; after: string | undefined; limit: number }) {
    const keys = [...this.data.keys()]
      .filter(
        (key) => key.startsWith(query.prefix) && (query.after === undefined || key > query.after),
      )
      .sort();
    const page = keys.slice(0, query.limit);
    return {
      value: {
        items: page.map((key) => this.data.get(key)!),
        more: keys.length > page.length,
        next: keys.length > page.length ? page[page.length - 1]! : null,
      },
      appliedIndex: 42,
    };
  }
  status(): StatusView {
    return {
      id: 1,
      pid: process.pid,
      role: this.role,
      leaderId: this.leaderId,
      term: 3,
      commitIndex: 10,
      appliedIndex: 8,
      members: [
        {
          id: 1,
          api: "http://127.0.0.1:1",
          peer: "127.0.0.1:2",
          role: "voter",
          matchIndex: 10,
          lag: 0,
          lastContactMs: 0,
        },
      ],
    };
  }
  leaderApi() {
    return this.leaderId ? "http://127.0.0.1:1" : undefined;
  }
  subscribe(listener: (event: ClusterEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: ClusterEvent) {
    for (const listener of this.listeners) listener(event);
  }
  async transferLeadership(to: number) {
    return { leaderId: to };
  }
  async addLearner() {}
  async promote() {}
  async removeMember() {}
  bootstrap() {
    return { confState: { voters: [1], learners: [] }, addresses: {} };
  }
  digest() {
    return { sha256: "0".repeat(64), appliedIndex: 42, revision: this.revision };
  }
  async metricsText() {
    return "# metrics\n";
  }
}
