// Message construction. Every message is built with all fields in one order so the engine sees
// one object shape (monomorphic property access on the hot path).

import type { Entry, Message, MessageType, NodeId, Snapshot } from "./types.ts";

export const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

/**
 * Vote context of a campaign started by leadership transfer ("timeout-now"). Voters grant such
 * a vote even inside their leader lease: the current leader asked for it.
 */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = new Uint8Array([0x54]); // "T"

export function isTransferContext(context: Uint8Array | undefined): boolean {
  return context !== undefined && context.length === 1 && context[0] === 0x54;
}

export function makeMessage(
  type: MessageType,
  from: NodeId,
  to: NodeId,
  term: number,
  logTerm: number,
  index: number,
  entries: readonly Entry[],
  commit: number,
  reject: boolean,
  rejectHint: number,
  snapshot: Snapshot | undefined,
  context: Uint8Array | undefined,
): Message {
  return {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject,
    rejectHint,
    snapshot,
    context,
  };
}
