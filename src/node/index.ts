// Public entry of the node layer: one cluster member (configuration, HTTP API, runtime) and the
// local multi-process cluster that `hothot up` and the chaos harness drive.

export { ApiServer, type ApiServerOptions, createHttpApi } from "./api-server.ts";
export * from "./config.ts";
export * from "./errors.ts";
export type { HttpApiOptions } from "./http-api.ts";
export {
  LocalCluster,
  type LocalClusterEvent,
  type LocalClusterOptions,
  type LocalNode,
  nodeCommand,
} from "./local-cluster.ts";
export { ClusterMember, type MemberOptions } from "./member.ts";
export * from "./member-api.ts";
export { createLogger, type RunningNode, startNode } from "./run-node.ts";
