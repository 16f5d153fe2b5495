// Turns recorded trace events into readable lines, e.g.
//   t=120.431 n2 <- n1 append term=3 index=41 entries=2 commit=40
// Times are printed in ticks (three decimals = sub-tick time units).

import { MESSAGE_TYPES, type MessageType, type Role } from "../../raft/index.ts";
import { UNITS_PER_TICK } from "./scenario.ts";
import type { TraceEvent } from "./trace.ts";

export const MESSAGE_TYPE_CODES = Object.fromEntries(
  MESSAGE_TYPES.map((type, code) => [type, code]),
) as Record<MessageType, number>;

const ROLES: readonly Role[] = ["follower", "pre-candidate", "candidate", "leader"];
export const ROLE_CODES = Object.fromEntries(ROLES.map((role, code) => [role, code])) as Record<
  Role,
  number
>;

const DROP_REASONS = ["", "cut link", "lost", "receiver down"];
const APPLY_KINDS = ["no-op", "write", "conf-change"];
const PROPOSE_RESULTS = ["appended", "forwarded", "refused"];

/** Message type, reject flag and drop reason packed into one trace field. */
export function packMessageFlags(typeCode: number, reject: boolean, reason: number): number {
  return typeCode | (reject ? 32 : 0) | (reason << 6);
}

export function formatTime(units: number): string {
  return (units / UNITS_PER_TICK).toFixed(3);
}

export function formatEvent(event: TraceEvent): string {
  const at = `t=${formatTime(event.time)}`.padEnd(12);
  const node = `n${event.node}`;
  const note = event.note === "" ? "" : ` ${event.note}`;
  switch (event.kind) {
    case "tick":
      return `${at} ${node} tick`;
    case "deliver":
    case "drop": {
      const type = MESSAGE_TYPES[event.b & 31] ?? "?";
      const reject = (event.b & 32) !== 0 ? " REJECT" : "";
      const reason = event.kind === "drop" ? ` (${DROP_REASONS[event.b >> 6] ?? "?"})` : "";
      const verb = event.kind === "deliver" ? "<-" : "x-";
      return (
        `${at} ${node} ${verb} n${event.a} ${type}${reject} term=${event.c} index=${event.d}` +
        `${event.e > 0 ? ` entries=${event.e}` : ""} commit=${event.f}${note}${reason}`
      );
    }
    case "role":
      return `${at} ${node} becomes ${ROLES[event.a] ?? "?"} term=${event.b} leader=${event.c}`;
    case "commit":
      return `${at} ${node} commit=${event.a} term=${event.b}`;
    case "apply":
      return `${at} ${node} apply index=${event.a} term=${event.b} ${APPLY_KINDS[event.c] ?? "?"}${event.c === 1 ? ` w${event.d}` : ""}`;
    case "snapshot-create":
      return `${at} ${node} snapshot at ${event.a}, compacted to ${event.b}`;
    case "snapshot-install":
      return `${at} ${node} installs snapshot index=${event.a} term=${event.b}`;
    case "crash":
      return `${at} ${node} CRASH${event.a === 1 ? " (leader)" : ""}${note}`;
    case "restart":
      return `${at} ${node} restart term=${event.a} last=${event.b} snapshot=${event.c} commit=${event.d}`;
    case "propose":
      return `${at} ${node} client${event.c} proposes w${event.a} attempt=${event.b} ${PROPOSE_RESULTS[event.d] ?? "?"}${note}`;
    case "ack":
      return `${at} ${node} client${event.c} ack w${event.a} at index ${event.b}`;
    case "read":
      return `${at} ${node} client${event.c} read r${event.a} attempt=${event.b} ${PROPOSE_RESULTS[event.d] ?? "?"}${note}`;
    case "read-done":
      return `${at} ${node} client${event.d} read r${event.a} served at ${event.b} (read index ${event.c})`;
    case "fault":
      return `${at} FAULT${note}`;
    case "conf":
      return `${at} ${node} membership${note}`;
    case "transfer":
      return `${at} ${node} transfer leadership to n${event.a}${note}`;
    case "phase":
      return `${at} PHASE${note}`;
    case "error":
      return `${at} ${node} ERROR${note}`;
  }
}
