// The simulator's agenda entries. Node-bound events carry the node's incarnation at scheduling
// time: an event meant for an incarnation that has since crashed is stale and ignored, just as
// a real process's timers die with it.

import type { Message } from "../../raft/index.ts";

export type SimEvent =
  | { readonly kind: "tick"; readonly node: number; readonly incarnation: number }
  /** Asynchronous persistence: the node's outstanding Ready is on disk now. */
  | { readonly kind: "persisted"; readonly node: number; readonly incarnation: number }
  | { readonly kind: "deliver"; readonly message: Message; readonly senderIncarnation: number }
  /** The transport of `node` could not reach `to` (a cut link). */
  | {
      readonly kind: "unreachable";
      readonly node: number;
      readonly incarnation: number;
      readonly to: number;
    }
  /** Snapshot transfer from `node` to `to` finished (or failed). */
  | {
      readonly kind: "snapshot-status";
      readonly node: number;
      readonly incarnation: number;
      readonly to: number;
      readonly succeeded: boolean;
    }
  /** Early failover hint: `node`'s connection to its leader dropped. */
  | { readonly kind: "leader-lost"; readonly node: number; readonly incarnation: number }
  | { readonly kind: "restart"; readonly node: number; readonly downToken: number }
  /** Operator shutdown of a removed node (deferred so it never lands inside that node's own Ready). */
  | { readonly kind: "shutdown"; readonly node: number; readonly incarnation: number }
  /** Once per simulated tick: phases, fault decisions, liveness observation. */
  | { readonly kind: "clock" }
  | { readonly kind: "client"; readonly client: number; readonly token: number }
  | { readonly kind: "admin"; readonly token: number };
