// Benchmarks measure hothot as it ships: the JavaScript that `npm run build` emits, which is what
// `npm start` and the `hothot` command run. Loading the TypeScript sources through the
// development loader instead adds a helper call to every closure and a module hook, a few
// percent of CPU per request that no user pays.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type ClientModule = typeof import("../../src/client/index.ts");
type NodeModule = typeof import("../../src/node/index.ts");

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Builds dist/ from the current sources (about a second); returns the built CLI's path. */
export function buildProduct(log: (message: string) => void): string {
  log("building the product (npm run build) so that the benchmark runs the shipped JavaScript");
  execFileSync("npm", ["run", "--silent", "build"], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return join(repoRoot, "dist/cli/main.js");
}

/** Builds dist/ and loads the built modules. */
export async function loadBuiltProduct(
  log: (message: string) => void,
): Promise<{ client: ClientModule; node: NodeModule }> {
  buildProduct(log);
  const load = (path: string) => import(pathToFileURL(join(repoRoot, path)).href);
  return {
    client: (await load("dist/client/index.js")) as ClientModule,
    node: (await load("dist/node/index.js")) as NodeModule,
  };
}
