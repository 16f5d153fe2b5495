// Membership changes, one server at a time (see docs/raft.md for why this cannot produce two
// majorities). A change takes effect on a node as soon as its entry is in that node's log.

import { type ConfChange, type ConfState, type NodeId, RaftError } from "./types.ts";

const TYPE_CODES = ["add-learner", "add-voter", "promote-learner", "remove-node"] as const;
const FORMAT_VERSION = 1;
/** version (1) + type (1) + node id as float64 (8). */
const HEADER_BYTES = 10;
/** Optional context: u32 length, then the bytes. */
const CONTEXT_LENGTH_BYTES = 4;
export const MAX_CONF_CHANGE_CONTEXT_BYTES = 64 * 1024;

/**
 * Encodes a change as the data of a "conf-change" entry: version, type, node id (float64),
 * then, only if there is a context, its length (u32) and bytes.
 */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const code = TYPE_CODES.indexOf(change.type);
  if (code < 0) {
    throw new RaftError("INVALID_CONF_CHANGE", `unknown conf change type ${String(change.type)}`);
  }
  checkNodeId(change.nodeId);
  const context = change.context;
  if (context !== undefined && context.byteLength > MAX_CONF_CHANGE_CONTEXT_BYTES) {
    throw new RaftError(
      "INVALID_CONF_CHANGE",
      `conf change context of ${context.byteLength} bytes exceeds ${MAX_CONF_CHANGE_CONTEXT_BYTES}; keep it to addresses`,
    );
  }
  const size =
    HEADER_BYTES + (context === undefined ? 0 : CONTEXT_LENGTH_BYTES + context.byteLength);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, FORMAT_VERSION);
  view.setUint8(1, code);
  view.setFloat64(2, change.nodeId);
  if (context !== undefined) {
    view.setUint32(HEADER_BYTES, context.byteLength);
    bytes.set(context, HEADER_BYTES + CONTEXT_LENGTH_BYTES);
  }
  return bytes;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength < HEADER_BYTES || data[0] !== FORMAT_VERSION) {
    throw new RaftError(
      "INVALID_CONF_CHANGE",
      `not an encoded conf change (${data.byteLength} bytes, version ${data[0]})`,
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = TYPE_CODES[view.getUint8(1)];
  if (type === undefined) {
    throw new RaftError("INVALID_CONF_CHANGE", `unknown conf change type code ${data[1]}`);
  }
  const nodeId = view.getFloat64(2);
  checkNodeId(nodeId);
  if (data.byteLength === HEADER_BYTES) return { type, nodeId };
  const length =
    data.byteLength >= HEADER_BYTES + CONTEXT_LENGTH_BYTES ? view.getUint32(HEADER_BYTES) : -1;
  if (length < 0 || data.byteLength !== HEADER_BYTES + CONTEXT_LENGTH_BYTES + length) {
    throw new RaftError(
      "INVALID_CONF_CHANGE",
      `conf change of ${data.byteLength} bytes has a malformed context`,
    );
  }
  const start = HEADER_BYTES + CONTEXT_LENGTH_BYTES;
  return { type, nodeId, context: data.slice(start, start + length) };
}

function checkNodeId(nodeId: NodeId): void {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) {
    throw new RaftError("INVALID_CONF_CHANGE", `node id must be a positive integer, got ${nodeId}`);
  }
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/**
 * The configuration after `change`, or RaftError INVALID_CONF_CHANGE if it makes no sense in
 * `conf`. Pure: the same inputs give the same result on every node.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  checkNodeId(change.nodeId);
  if (conf.voters.length === 0) {
    // Only a node started with an empty storage has no voters. Applying changes to it would
    // build a configuration that omits the cluster's original voters (and could let it elect
    // itself alone), so refuse loudly.
    throw new RaftError(
      "INVALID_CONF_CHANGE",
      "this node does not know the cluster's initial configuration: start a joining node with the cluster's bootstrap configuration (new MemoryStorage(initialConfState)) or from a snapshot",
    );
  }
  const id = change.nodeId;
  switch (change.type) {
    case "add-learner":
      if (isMember(conf, id)) {
        throw new RaftError(
          "INVALID_CONF_CHANGE",
          `node ${id} is already a member; remove it first`,
        );
      }
      return { voters: conf.voters, learners: sorted([...conf.learners, id]) };
    case "add-voter":
      if (isMember(conf, id)) {
        throw new RaftError(
          "INVALID_CONF_CHANGE",
          `node ${id} is already a member; use promote-learner for a learner`,
        );
      }
      return { voters: sorted([...conf.voters, id]), learners: conf.learners };
    case "promote-learner":
      if (!conf.learners.includes(id)) {
        throw new RaftError(
          "INVALID_CONF_CHANGE",
          `node ${id} is not a learner; only learners can be promoted`,
        );
      }
      return {
        voters: sorted([...conf.voters, id]),
        learners: conf.learners.filter((l) => l !== id),
      };
    case "remove-node":
      if (!isMember(conf, id))
        throw new RaftError("INVALID_CONF_CHANGE", `node ${id} is not a member`);
      if (conf.voters.length === 1 && conf.voters[0] === id) {
        throw new RaftError(
          "INVALID_CONF_CHANGE",
          `node ${id} is the last voter; add another voter first`,
        );
      }
      return {
        voters: conf.voters.filter((v) => v !== id),
        learners: conf.learners.filter((l) => l !== id),
      };
    default:
      throw new RaftError("INVALID_CONF_CHANGE", `unknown conf change type`);
  }
}

function sorted(ids: NodeId[]): NodeId[] {
  return ids.sort((a, b) => a - b);
}
