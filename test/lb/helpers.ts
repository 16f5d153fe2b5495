// Shared fixtures for the load balancer tests: upstream servers on ephemeral 127.0.0.1 ports,
// in this process or as child processes that can be killed -9, and a load balancer factory.
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import type net from "node:net";
import { Agent, request } from "undici";
import {
  type LbConfigInput,
  type LoadBalancer,
  parseLbConfig,
  seededRandom,
  startLoadBalancer,
} from "../../src/lb/index.ts";

export interface TestUpstream {
  name: string;
  port: number;
  url: string;
  hits: number;
  server: http.Server;
  close(): Promise<void>;
}

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

export async function startUpstream(name: string, handler?: Handler): Promise<TestUpstream> {
  const upstream: Partial<TestUpstream> = { name, hits: 0 };
  const server = http.createServer((request, response) => {
    upstream.hits!++;
    if (handler) {
      handler(request, response);
      return;
    }
    request.resume();
    response.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
    response.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  Object.assign(upstream, {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  return upstream as TestUpstream;
}

const childSource = `
const http = require("node:http");
const name = process.argv[1];
const port = Number(process.argv[2] || 0);
const delayMs = Number(process.argv[3] || 0);
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (c) => chunks.push(c));
  request.on("end", () => setTimeout(() => {
    response.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
    response.end(name);
  }, delayMs));
});
server.listen(port, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\\n"));
`;

export interface ChildUpstream {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** kill -9 by PID and wait for the exit. */
  kill(): Promise<void>;
}

/** An upstream in its own process, so that it can be killed -9 like a crashed server. */
export function spawnUpstream(name: string, port = 0, delayMs = 0): Promise<ChildUpstream> {
  const child = spawn(process.execPath, ["-e", childSource, name, String(port), String(delayMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.once("exit", (code) => reject(new Error(`upstream ${name} exited with ${code}`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf("\n");
      if (newline < 0) return;
      const { port: bound } = JSON.parse(buffer.slice(0, newline)) as { port: number };
      resolve({
        name,
        port: bound,
        url: `http://127.0.0.1:${bound}`,
        child,
        kill: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              done();
              return;
            }
            child.once("exit", () => done());
            process.kill(child.pid!, "SIGKILL");
          }),
      });
    });
  });
}

/** A load balancer on an ephemeral port with admin and state file off unless given. */
export function startTestLb(input: LbConfigInput, seed = 1): Promise<LoadBalancer> {
  const config = parseLbConfig({
    listen: "127.0.0.1:0",
    workers: 1,
    seed,
    ...input,
    admin: { listen: null, stateFile: null, ...input.admin },
  });
  return startLoadBalancer(config, { random: seededRandom(seed) });
}

export const agent = new Agent({ connections: 64, keepAliveTimeout: 1000 });

export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export async function get(
  port: number,
  path = "/",
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const response = await request(`http://127.0.0.1:${port}${path}`, {
    method: (init.method ?? "GET") as "GET",
    headers: init.headers,
    body: init.body,
    dispatcher: agent,
  });
  return {
    status: response.statusCode,
    body: await response.body.text(),
    headers: response.headers,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
