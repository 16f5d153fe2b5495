// The package's programmatic entry: the TypeScript client. The node, load balancer and testing
// layers are used through the `hothot` command.
export * from "./client/index.ts";
