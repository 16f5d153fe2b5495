// The run's event record. Every event feeds a running digest (two runs of one seed must produce
// the same digest), the last few are kept in a ring for the violation report, and with a sink
// attached (--verbose) every event is formatted as it happens. Events are stored as numbers and
// formatted only when someone reads them, so recording costs little on the hot path.

import { Hasher } from "./digest.ts";

export const TRACE_KINDS = [
  "tick",
  "deliver",
  "drop",
  "role",
  "commit",
  "apply",
  "snapshot-create",
  "snapshot-install",
  "crash",
  "restart",
  "propose",
  "ack",
  "read",
  "read-done",
  "fault",
  "conf",
  "transfer",
  "phase",
  "error",
] as const;
export type TraceKind = (typeof TRACE_KINDS)[number];
const KIND_CODES: Record<TraceKind, number> = Object.fromEntries(
  TRACE_KINDS.map((kind, code) => [kind, code]),
) as Record<TraceKind, number>;

/** One recorded event. Field meaning depends on `kind` (see trace-format.ts). */
export interface TraceEvent {
  time: number;
  kind: TraceKind;
  node: number;
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
  note: string;
}

export type TraceFormatter = (event: TraceEvent) => string;

export class Trace {
  private readonly ring: TraceEvent[];
  private next = 0;
  /** Ring slots in use (at most the ring's length). */
  private filled = 0;
  private count = 0;
  private readonly hasher = new Hasher(0x5eed);
  private readonly formatter: TraceFormatter;
  private readonly sink: ((line: string) => void) | undefined;

  constructor(options: {
    tailSize: number;
    formatter: TraceFormatter;
    sink?: (line: string) => void;
  }) {
    if (!(options.tailSize >= 1 && options.tailSize <= 10_000)) {
      throw new RangeError(`tailSize must be in [1, 10000], got ${options.tailSize}`);
    }
    this.ring = Array.from({ length: options.tailSize }, () => ({
      time: 0,
      kind: "tick" as TraceKind,
      node: 0,
      a: 0,
      b: 0,
      c: 0,
      d: 0,
      e: 0,
      f: 0,
      note: "",
    }));
    this.formatter = options.formatter;
    this.sink = options.sink;
  }

  /** Number of events recorded (including quiet ones). */
  get eventCount(): number {
    return this.count;
  }

  record(
    time: number,
    kind: TraceKind,
    node: number,
    a = 0,
    b = 0,
    c = 0,
    d = 0,
    e = 0,
    f = 0,
    note = "",
  ): void {
    this.count++;
    this.hasher.add(time).add(KIND_CODES[kind]).add(node).add(a).add(b).add(c).add(d).add(e).add(f);
    if (note !== "") this.hasher.addString(note);
    const slot = this.ring[this.next]!;
    this.next = (this.next + 1) % this.ring.length;
    if (this.filled < this.ring.length) this.filled++;
    slot.time = time;
    slot.kind = kind;
    slot.node = node;
    slot.a = a;
    slot.b = b;
    slot.c = c;
    slot.d = d;
    slot.e = e;
    slot.f = f;
    slot.note = note;
    if (this.sink !== undefined) this.sink(this.formatter(slot));
  }

  /**
   * An event that only feeds the digest (and the verbose sink): ticks are too frequent to be
   * worth a slot in the short tail.
   */
  recordQuiet(time: number, kind: TraceKind, node: number): void {
    this.count++;
    this.hasher.add(time).add(KIND_CODES[kind]).add(node);
    if (this.sink !== undefined) {
      this.sink(this.formatter({ time, kind, node, a: 0, b: 0, c: 0, d: 0, e: 0, f: 0, note: "" }));
    }
  }

  /** Digest of every event so far. */
  digest(): number {
    return this.hasher.value();
  }

  /** The last `tailSize` ring events, oldest first, formatted. */
  tail(): string[] {
    const stored = this.filled;
    const lines: string[] = [];
    for (let i = 0; i < stored; i++) {
      const index = (this.next - stored + i + this.ring.length) % this.ring.length;
      lines.push(this.formatter(this.ring[index]!));
    }
    return lines;
  }
}
