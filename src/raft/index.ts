// Public entry of the consensus core. Other folders import only this file.

export {
  decodeConfChange,
  encodeConfChange,
  MAX_CONF_CHANGE_CONTEXT_BYTES,
} from "./conf-change.ts";
export { DEFAULT_RAFT_CONFIG } from "./config.ts";
export { MemoryStorage } from "./memory-storage.ts";
export { CAMPAIGN_TRANSFER_CONTEXT } from "./messages.ts";
export { RaftNode } from "./raft-node.ts";
export * from "./types.ts";
