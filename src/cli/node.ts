// `hothot node --config node.yaml`: run one cluster member (for real multi-machine deployments;
// `hothot up` runs several of these locally).
import type { Command } from "commander";
import { ConfigError, loadNodeConfig, startNode } from "../node/index.ts";

export function registerNode(program: Command): void {
  program
    .command("node")
    .description("run one cluster member from its configuration file (see docs/configuration.md)")
    .requiredOption("-c, --config <file>", "the member's YAML configuration")
    .action(async (options: { config: string }) => {
      let config: ReturnType<typeof loadNodeConfig>;
      try {
        config = loadNodeConfig(options.config);
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`error: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      const node = await startNode(config).catch((error: unknown) => {
        process.stderr.write(
          `error: node ${config.id} could not start: ${(error as Error).message}\n`,
        );
        process.exit(1);
      });
      const stop = (signal: string) => {
        node.logger.info({ signal }, "stopping");
        const force = setTimeout(() => process.exit(1), 10_000);
        force.unref();
        node.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
}
