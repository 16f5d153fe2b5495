// Follows a hothot cluster: learns its members and its leader from the server-sent event stream
// that every node offers at GET /v1/events, reconnecting to another member when the stream is
// lost, and falls back to polling GET /v1/health/leader while no stream is connected. A new
// leader is therefore known as soon as any node announces it, not a health-check interval later.
import http from "node:http";
import https from "node:https";
import { z } from "zod";

const statusEventSchema = z.object({
  id: z.number().int(),
  role: z.string(),
  leaderId: z.number().int().nullable(),
  term: z.number().int().min(0),
  members: z
    .array(z.object({ id: z.number().int(), api: z.string().url(), role: z.string() }))
    .max(1024),
});
export type StatusEvent = z.infer<typeof statusEventSchema>;

export interface ClusterMember {
  id: number | null;
  api: string;
  /** "leader", "follower", … when known; the membership role (voter, learner) otherwise. */
  role: string | null;
}

export interface ClusterView {
  members: ClusterMember[];
  leaderApi: string | null;
  term: number;
  source: "stream" | "poll";
}

export interface ClusterFollowerOptions {
  seeds: string[];
  reconnectDelayMs: number;
  streamIdleTimeoutMs: number;
  leaderPollIntervalMs: number;
  /** Timeout of one leader poll request. */
  pollTimeoutMs?: number;
  onView: (view: ClusterView) => void;
  onStreamState?: (connected: boolean, api: string | null) => void;
}

/** Longest accepted event line; a node never sends more for a sane membership. */
const maxLineBytes = 1024 * 1024;

function origin(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

export class ClusterFollower {
  private members: ClusterMember[];
  private leaderApi: string | null = null;
  private term = 0;
  private stopped = false;
  private request: http.ClientRequest | null = null;
  private connectedTo: string | null = null;
  private nextCandidate = 0;
  private failuresInRow = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ClusterFollowerOptions) {
    this.members = [...new Set(options.seeds.map(origin))].map((api) => ({
      id: null,
      api,
      role: null,
    }));
  }

  start(): void {
    this.emit("poll");
    this.connectNext();
    this.schedulePoll(0);
  }

  stop(): void {
    this.stopped = true;
    this.request?.destroy();
    for (const timer of [this.reconnectTimer, this.pollTimer, this.idleTimer]) {
      if (timer) clearTimeout(timer);
    }
  }

  get streamApi(): string | null {
    return this.connectedTo;
  }

  private candidates(): string[] {
    const all = new Set(this.members.map((member) => member.api));
    for (const seed of this.options.seeds) all.add(origin(seed));
    return [...all];
  }

  private connectNext(): void {
    if (this.stopped) return;
    const candidates = this.candidates();
    const api = candidates[this.nextCandidate % candidates.length]!;
    this.nextCandidate = (this.nextCandidate + 1) % candidates.length;
    const url = new URL("/v1/events", api);
    const request = (url.protocol === "https:" ? https : http).get(url, {
      agent: false,
      headers: { accept: "text/event-stream", "user-agent": "hothot-lb" },
      timeout: this.options.streamIdleTimeoutMs,
    });
    this.request = request;
    let settled = false;
    const lost = () => {
      if (settled) return;
      settled = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      request.destroy();
      if (this.request === request) this.request = null;
      const wasConnected = this.connectedTo !== null;
      this.connectedTo = null;
      if (wasConnected) this.options.onStreamState?.(false, null);
      if (this.stopped) return;
      this.failuresInRow++;
      this.schedulePoll(0);
      // Cycle quickly through the members once; if none answers, back off a little.
      const rounds = Math.floor(this.failuresInRow / Math.max(1, candidates.length));
      const delayMs = Math.min(this.options.reconnectDelayMs * 2 ** Math.min(rounds, 5), 5000);
      this.reconnectTimer = setTimeout(() => this.connectNext(), delayMs);
      this.reconnectTimer.unref();
    };
    request.on("timeout", lost);
    request.on("error", lost);
    request.on("response", (response) => {
      const type = response.headers["content-type"] ?? "";
      if (response.statusCode !== 200 || !type.startsWith("text/event-stream")) {
        response.resume();
        lost();
        return;
      }
      response.setEncoding("utf8");
      let buffer = "";
      let eventName = "message";
      let data = "";
      this.resetIdle(lost);
      response.on("data", (chunk: string) => {
        this.resetIdle(lost);
        buffer += chunk;
        if (buffer.length > maxLineBytes) {
          lost();
          return;
        }
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, "");
          buffer = buffer.slice(newline + 1);
          if (line === "") {
            if (eventName === "status" && data !== "") this.onStatus(data, api);
            eventName = "message";
            data = "";
          } else if (line.startsWith("event:")) eventName = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trimStart();
          newline = buffer.indexOf("\n");
        }
      });
      response.on("end", lost);
      response.on("error", lost);
      response.on("close", lost);
    });
  }

  private resetIdle(lost: () => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(lost, this.options.streamIdleTimeoutMs);
    this.idleTimer.unref();
  }

  private onStatus(data: string, api: string): void {
    let event: StatusEvent;
    try {
      event = statusEventSchema.parse(JSON.parse(data));
    } catch {
      return; // A malformed event is ignored; the next one or the poll fallback corrects us.
    }
    if (this.connectedTo === null) {
      this.connectedTo = api;
      this.failuresInRow = 0;
      this.options.onStreamState?.(true, api);
    }
    if (event.members.length > 0) {
      this.members = event.members.map((member) => ({
        id: member.id,
        api: origin(member.api),
        role: member.id === event.id ? event.role : member.role,
      }));
    }
    // A lagging node may still report an older term's leader; never go back in terms.
    if (event.term >= this.term) {
      const leader = event.members.find((member) => member.id === event.leaderId);
      if (event.term > this.term || leader !== undefined || event.leaderId === null) {
        this.leaderApi = leader ? origin(leader.api) : null;
      }
      this.term = event.term;
    }
    for (const member of this.members) {
      if (member.api === this.leaderApi) member.role = "leader";
      else if (member.role === "leader") member.role = "follower";
    }
    this.emit("stream");
  }

  private emit(source: "stream" | "poll"): void {
    this.options.onView({
      members: this.members.map((member) => ({ ...member })),
      leaderApi: this.leaderApi,
      term: this.term,
      source,
    });
  }

  private schedulePoll(delayMs: number): void {
    if (this.stopped || this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      if (this.connectedTo !== null || this.stopped) return;
      void this.pollLeader().finally(() => {
        if (this.connectedTo === null) this.schedulePoll(this.options.leaderPollIntervalMs);
      });
    }, delayMs);
    this.pollTimer.unref();
  }

  /** Fallback without a stream: the member answering 200 on /v1/health/leader is the leader. */
  private async pollLeader(): Promise<void> {
    const timeoutMs = this.options.pollTimeoutMs ?? 1000;
    const results = await Promise.all(
      this.candidates().map((api) => probeLeader(api, timeoutMs).then((ok) => ({ api, ok }))),
    );
    if (this.connectedTo !== null || this.stopped) return;
    const leader = results.find((result) => result.ok);
    const leaderApi = leader ? leader.api : null;
    if (leaderApi !== this.leaderApi) {
      this.leaderApi = leaderApi;
      for (const member of this.members) {
        if (member.api === leaderApi) member.role = "leader";
        else if (member.role === "leader") member.role = null;
      }
      this.emit("poll");
    }
  }
}

function probeLeader(api: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL("/v1/health/leader", api);
    const request = (url.protocol === "https:" ? https : http).get(url, {
      agent: false,
      timeout: timeoutMs,
    });
    request.on("response", (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(false));
  });
}
