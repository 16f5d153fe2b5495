// Load balancer benchmark: the same two upstream HTTP servers (small node:http servers in child
// processes) behind hothot lb, HAProxy and nginx, plus direct to one upstream, each loaded by wrk
// with the same threads, connections and duration. hothot runs as built by `npm run build` (as it
// ships). Progress goes to stderr; the table, the JSON and the final `RESULT {...}` line go to
// stdout.
//
//   npm run bench:lb                      # defaults
//   LB_BENCH_CONNECTIONS=64 LB_BENCH_DURATION_S=10 LB_BENCH_WORKERS=1 npm run bench:lb
//   LB_BENCH_FRONTEND=node npm run bench:lb   # hothot with node:http on the client side
//   LB_BENCH_PEER_FORWARDED=0 npm run bench:lb  # HAProxy and nginx without X-Forwarded-*
//   LB_BENCH_POLICY=round-robin npm run bench:lb   # every proxy: least-outstanding (default), p2c or round-robin
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { buildProduct } from "./lib/built.ts";
import { envInteger } from "./lib/settings.ts";
import { parseWrk as parseWrkSummary } from "./lib/wrk.ts";

const connections = envInteger("LB_BENCH_CONNECTIONS", 64, 1, 10_000);
const threads = envInteger("LB_BENCH_THREADS", 2, 1, 64);
const durationSeconds = envInteger("LB_BENCH_DURATION_S", 8, 1, 600);
const warmupSeconds = envInteger("LB_BENCH_WARMUP_S", 1, 0, 600);
/** "auto" (the default of `hothot lb`) or a number. */
const hothotWorkers = process.env.LB_BENCH_WORKERS ?? "auto";
/** HAProxy threads and nginx worker processes: the same number as hothot's workers, resolved
 * the way `workers: auto` resolves it, so that every proxy gets the same parallelism. */
const peerParallelism =
  hothotWorkers === "auto" ? availableParallelism() : Math.max(1, Number(hothotWorkers));
/** Seven: the speed of these shared machines swings (the direct target alone went from 24,000
 * to 42,000 req/s between rounds of one run), and a median of three or five still moved with
 * one or two slow rounds. */
const roundCount = envInteger("LB_BENCH_ROUNDS", 7, 1, 99);
/** Whether HAProxy and nginx add X-Forwarded-For/-Proto/-Host as hothot always does, so that
 * every proxy sends the upstreams the same request (and does the same header work). "0" gives
 * the peers their bare configurations, which leave these headers out. */
const peerForwarded = process.env.LB_BENCH_PEER_FORWARDED !== "0";
/** hothot's client side: "raw" (the default) or "node" (node:http). */
const hothotFrontend = process.env.LB_BENCH_FRONTEND ?? "raw";
/** The balancing policy, the same for every proxy, as each names it: the upstream each proxy
 * picks from the same information. nginx's least_conn and random get a shared zone, so that its
 * workers count together as HAProxy's threads do (hothot's workers count each their own). */
const peerPolicies = {
  "round-robin": { haproxy: "roundrobin", nginx: "" },
  // Fewest requests in flight.
  "least-outstanding": { haproxy: "leastconn", nginx: "    least_conn;\n    zone be 64k;\n" },
  // Power of two choices (hothot's default): two upstreams at random, the less busy one.
  p2c: { haproxy: "random(2)", nginx: "    random two least_conn;\n    zone be 64k;\n" },
} as const;
/** least-outstanding by default: the load-aware choice each proxy makes exactly (HAProxy's
 * random(2) draws with replacement, so with two upstreams it compares them only half the time;
 * hothot's p2c draws two distinct upstreams and with two makes the least-outstanding choice). */
const policy = (process.env.LB_BENCH_POLICY ?? "least-outstanding") as keyof typeof peerPolicies;
if (!Object.hasOwn(peerPolicies, policy)) {
  process.stderr.write(
    `[bench:lb] LB_BENCH_POLICY must be one of ${Object.keys(peerPolicies).join(", ")}, not ${JSON.stringify(policy)}\n`,
  );
  process.exit(2);
}
const peerPolicy = peerPolicies[policy];

interface Figures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const children: ChildProcess[] = [];
const temporary = mkdtempSync(join(tmpdir(), "hothot-lb-bench-"));

function log(message: string): void {
  process.stderr.write(`[bench:lb] ${message}\n`);
}

function which(command: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`port ${port} did not open in ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function start(command: string, args: string[], name: string): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let errorText = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errorText += chunk.toString();
    if (errorText.length > 4096) errorText = errorText.slice(-4096);
  });
  child.on("exit", (code, signal) => {
    if (code !== null && code !== 0)
      log(`${name} exited with ${code} ${signal ?? ""}: ${errorText.trim()}`);
  });
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
  });
}

const upstreamSource = `
import http from "node:http";
const body = Buffer.from("hello from a hothot benchmark upstream\\n");
const server = http.createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
  response.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.argv[2]), "127.0.0.1");
`;

/** The median of each figure over the rounds (rounds are odd by default). */
function median(list: Figures[]): Figures {
  const middle = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const half = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
  };
  return {
    rps: Math.round(middle(list.map((figures) => figures.rps))),
    p50Ms: middle(list.map((figures) => figures.p50Ms)),
    p99Ms: middle(list.map((figures) => figures.p99Ms)),
    errors: list.reduce((sum, figures) => sum + figures.errors, 0),
  };
}

/** wrk's summary as this benchmark counts it: socket errors and non-2xx answers together. */
function parseWrk(output: string): Figures {
  const figures = parseWrkSummary(output);
  return {
    rps: Math.round(figures.requestsPerSec),
    p50Ms: figures.p50Ms,
    p99Ms: figures.p99Ms,
    errors: figures.errors + figures.non2xx,
  };
}

function wrk(port: number, seconds: number): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "wrk",
      [
        `-t${threads}`,
        `-c${connections}`,
        `-d${seconds}s`,
        "--latency",
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", () => {
      try {
        resolve(parseWrk(output));
      } catch (error) {
        reject(error);
      }
    });
  });
}

async function measure(name: string, port: number): Promise<Figures> {
  log(`${name}: warm-up ${warmupSeconds} s`);
  if (warmupSeconds > 0) await wrk(port, warmupSeconds);
  log(`${name}: measuring ${durationSeconds} s (${threads} threads, ${connections} connections)`);
  const figures = await wrk(port, durationSeconds);
  log(
    `${name}: ${figures.rps} req/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, errors ${figures.errors}`,
  );
  return figures;
}

async function main(): Promise<void> {
  if (!which("wrk")) {
    log("wrk is not installed (apt-get install wrk); cannot benchmark");
    process.exit(1);
  }
  const upstreamFile = join(temporary, "upstream.mjs");
  writeFileSync(upstreamFile, upstreamSource);
  const upstreamPorts = [await freePort(), await freePort()];
  for (const port of upstreamPorts)
    start(process.execPath, [upstreamFile, String(port)], `upstream ${port}`);
  await Promise.all(upstreamPorts.map((port) => waitForPort(port, 10_000)));
  log(`upstreams on ${upstreamPorts.join(", ")}`);

  const results: Record<string, Figures | null> = {};
  const skipped: string[] = [];

  const targets: Array<{ name: string; port: number }> = [
    { name: "direct", port: upstreamPorts[0]! },
  ];

  if (which("haproxy")) {
    const port = await freePort();
    const config = join(temporary, "haproxy.cfg");
    writeFileSync(
      config,
      `global
  maxconn 8000
  nbthread ${peerParallelism}
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
${peerForwarded ? "  option forwardfor\n  http-request set-header X-Forwarded-Proto http\n  http-request set-header X-Forwarded-Host %[req.hdr(host)]\n" : ""}  default_backend be
backend be
  balance ${peerPolicy.haproxy}
  http-reuse always
${upstreamPorts.map((upstream, index) => `  server u${index} 127.0.0.1:${upstream}`).join("\n")}
`,
    );
    start("haproxy", ["-db", "-f", config], "haproxy");
    await waitForPort(port, 10_000);
    targets.push({ name: "haproxy", port });
  } else {
    skipped.push("haproxy (not installed)");
    results.haproxy = null;
  }

  if (which("nginx")) {
    const port = await freePort();
    const prefix = join(temporary, "nginx");
    execFileSync("mkdir", ["-p", join(prefix, "logs"), join(prefix, "tmp")]);
    const config = join(prefix, "nginx.conf");
    writeFileSync(
      config,
      `worker_processes ${peerParallelism};
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  upstream be {
${peerPolicy.nginx}${upstreamPorts.map((upstream) => `    server 127.0.0.1:${upstream};`).join("\n")}
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${peerForwarded ? "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Forwarded-Proto $scheme;\n      proxy_set_header X-Forwarded-Host $http_host;\n" : ""}    }
  }
}
`,
    );
    start("nginx", ["-p", prefix, "-c", config, "-g", "daemon off;"], "nginx");
    await waitForPort(port, 10_000);
    targets.push({ name: "nginx", port });
  } else {
    skipped.push("nginx (not installed)");
    results.nginx = null;
  }

  const port = await freePort();
  // The front end has no flag of its own: it goes in a configuration file under the flags.
  const hothotConfig = join(temporary, "hothot-lb.yaml");
  writeFileSync(hothotConfig, `frontend: ${hothotFrontend}\n`);
  start(
    process.execPath,
    [
      buildProduct(log),
      "lb",
      "--config",
      hothotConfig,
      "--listen",
      `127.0.0.1:${port}`,
      ...upstreamPorts.flatMap((upstream) => ["--upstream", `http://127.0.0.1:${upstream}`]),
      "--policy",
      policy,
      "--workers",
      String(hothotWorkers),
      "--no-admin",
      "--state-file",
      "none",
    ],
    "hothot",
  );
  await waitForPort(port, 20_000);
  targets.push({ name: "hothot", port });

  // Every target is measured in each round, in a rotated order, and the median round is
  // reported: on a shared machine load comes and goes, and this spreads it over all targets.
  const rounds: Record<string, Figures[]> = {};
  for (let round = 0; round < roundCount; round++) {
    for (let step = 0; step < targets.length; step++) {
      const target = targets[(step + round) % targets.length]!;
      log(`round ${round + 1}/${roundCount}`);
      const figures = await measure(target.name, target.port);
      rounds[target.name] = [...(rounds[target.name] ?? []), figures];
    }
  }
  for (const target of targets) results[target.name] = median(rounds[target.name]!);

  const rows = ["hothot", "haproxy", "nginx", "direct"];
  process.stdout.write(
    `\nhothot lb benchmark: wrk -t${threads} -c${connections} -d${durationSeconds}s, two node:http upstreams, policy ${policy}, median of ${roundCount} rounds; hothot workers ${hothotWorkers} (frontend ${hothotFrontend}), HAProxy nbthread and nginx worker_processes ${peerParallelism}, peers ${peerForwarded ? "adding" : "without"} X-Forwarded-For/-Proto/-Host\n`,
  );
  process.stdout.write(
    `${"target".padEnd(10)}${"req/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"errors".padStart(8)}\n`,
  );
  for (const name of rows) {
    const figures = results[name];
    if (!figures) {
      process.stdout.write(`${name.padEnd(10)}   skipped\n`);
      continue;
    }
    process.stdout.write(
      `${name.padEnd(10)}${String(figures.rps).padStart(10)}${figures.p50Ms.toFixed(2).padStart(10)}${figures.p99Ms.toFixed(2).padStart(10)}${String(figures.errors).padStart(8)}\n`,
    );
  }
  if (skipped.length > 0) process.stdout.write(`skipped: ${skipped.join(", ")}\n`);
  const pick = (figures: Figures | null | undefined) =>
    figures ? { rps: figures.rps, p50Ms: figures.p50Ms, p99Ms: figures.p99Ms } : null;
  const haproxy = results.haproxy;
  const hothot = results.hothot!;
  const perRound = (ratio: (hothot: Figures, haproxy: Figures) => number) =>
    rounds.haproxy
      ? rounds.hothot!.map((figures, round) =>
          Number(ratio(figures, rounds.haproxy![round]!).toFixed(3)),
        )
      : null;
  const result = {
    hothot: pick(hothot),
    haproxy: pick(haproxy),
    nginx: pick(results.nginx),
    direct: pick(results.direct),
    ratioToHaproxy: haproxy ? Number((hothot.rps / haproxy.rps).toFixed(3)) : null,
    p99VsHaproxy: haproxy ? Number((hothot.p99Ms / haproxy.p99Ms).toFixed(3)) : null,
    // The same ratios round by round (the two measured within the same round, seconds apart).
    ratioToHaproxyPerRound: perRound((hothot, haproxy) => hothot.rps / haproxy.rps),
    p99VsHaproxyPerRound: perRound((hothot, haproxy) => hothot.p99Ms / haproxy.p99Ms),
    settings: {
      connections,
      threads,
      durationSeconds,
      warmupSeconds,
      rounds: roundCount,
      hothotWorkers,
      hothotFrontend,
      peerParallelism,
      peerForwarded,
      policy,
    },
    skipped,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

try {
  await main();
} finally {
  await Promise.all(children.map(stop));
  rmSync(temporary, { recursive: true, force: true });
}
