// Public entry of the load balancer layer: HTTP and TCP proxying over upstreams or a hothot
// cluster's members, with policies, health checks, outlier ejection, retries and admin.
export type { AdminState, Snapshot, UpstreamView } from "./balancer.ts";
export { Backend, Balancer } from "./balancer.ts";
export type { ClusterMember, ClusterView, StatusEvent } from "./cluster-follower.ts";
export { ClusterFollower } from "./cluster-follower.ts";
export {
  type LbConfig,
  type LbConfigInput,
  loadLbConfigFile,
  type PolicyType,
  parseLbConfig,
  parseListenAddress,
  policyTypes,
  type UpstreamSpec,
} from "./config.ts";
export type { ControllerStatus, UpstreamStatus } from "./controller.ts";
export { Controller } from "./controller.ts";
export { LbConfigError, LbError, type LbErrorCode } from "./errors.ts";
export { httpProbe, type Probe, tcpProbe } from "./health-checker.ts";
export { type LoadBalancer, type StartOptions, startLoadBalancer } from "./load-balancer.ts";
export { createPolicy, hash32, type Policy, type PolicyBackend } from "./policies.ts";
export { defaultRandom, type RandomSource, seededRandom } from "./random.ts";
export { RetryBudget } from "./retry-budget.ts";
