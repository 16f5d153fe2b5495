// The admin endpoint: a status page for people, JSON status and Prometheus metrics for machines,
// and drain / maintenance / ready per upstream. It is meant for a loopback or private address.
import http from "node:http";
import type net from "node:net";
import type { AdminState } from "./balancer.ts";
import type { ControllerStatus } from "./controller.ts";
import { LbError } from "./errors.ts";

export interface AdminBackend {
  status(): ControllerStatus & { panic: boolean; inflight: number; workers: number };
  metrics(): Promise<{ contentType: string; body: string }>;
  setAdminState(name: string, state: AdminState): void;
}

const adminStates = new Set<string>(["ready", "drain", "maintenance"]);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function statusPage(status: ReturnType<AdminBackend["status"]>): string {
  const rows = status.upstreams
    .map((upstream) => {
      const state =
        upstream.admin !== "ready"
          ? upstream.admin
          : upstream.ejected
            ? `ejected (${Math.ceil(upstream.ejectedForMs / 1000)} s)`
            : upstream.healthy
              ? "up"
              : "down";
      const colour =
        state === "up"
          ? "#2e7d32"
          : state.startsWith("ejected") || state === "down"
            ? "#c62828"
            : "#ef6c00";
      const leader = status.leader === upstream.name ? " ★ leader" : "";
      return `<tr><td>${escapeHtml(upstream.name)}${leader}</td><td>${escapeHtml(upstream.url)}</td><td>${upstream.weight}</td><td style="color:${colour};font-weight:bold">${escapeHtml(state)}</td><td>${escapeHtml(upstream.role ?? "")}</td><td>${upstream.ejections}</td><td>${escapeHtml(upstream.lastCheckError ?? "ok")}</td></tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>hothot lb</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}</style></head>
<body><h1>hothot lb</h1>
<p>mode ${status.mode} · policy ${escapeHtml(status.policy)} · workers ${status.workers} · in flight ${status.inflight}${status.panic ? " · <b>PANIC: sending to all upstreams</b>" : ""}${status.clusterStream ? ` · cluster stream ${escapeHtml(status.clusterStream)}` : ""}</p>
<table><tr><th>upstream</th><th>url</th><th>weight</th><th>state</th><th>role</th><th>ejections</th><th>last check</th></tr>
${rows}
</table>
<p><a href="/status">JSON</a> · <a href="/metrics">metrics</a> · POST /upstreams/NAME/{drain,maintenance,ready}</p>
</body></html>
`;
}

function send(response: http.ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  response.end(body);
}

export class AdminServer {
  readonly server: http.Server;

  constructor(backend: AdminBackend) {
    this.server = http.createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://admin");
      const path = url.pathname;
      request.resume();
      if (request.method === "GET" && path === "/") {
        send(response, 200, "text/html; charset=utf-8", statusPage(backend.status()));
      } else if (request.method === "GET" && path === "/status") {
        send(response, 200, "application/json", `${JSON.stringify(backend.status(), null, 2)}\n`);
      } else if (request.method === "GET" && path === "/healthz") {
        send(response, 200, "text/plain", "ok\n");
      } else if (request.method === "GET" && path === "/metrics") {
        backend.metrics().then(
          (metrics) => send(response, 200, metrics.contentType, metrics.body),
          (error: Error) => send(response, 500, "text/plain", `${error.message}\n`),
        );
      } else {
        const match = /^\/upstreams\/([^/]+)\/([a-z]+)$/.exec(path);
        if (request.method === "POST" && match && adminStates.has(match[2]!)) {
          try {
            backend.setAdminState(decodeURIComponent(match[1]!), match[2] as AdminState);
            send(response, 200, "application/json", `${JSON.stringify({ ok: true })}\n`);
          } catch (error) {
            const status =
              error instanceof LbError && error.code === "LB_UNKNOWN_UPSTREAM" ? 404 : 500;
            send(
              response,
              status,
              "application/json",
              `${JSON.stringify({ error: (error as Error).message })}\n`,
            );
          }
        } else send(response, 404, "text/plain", "not found; see GET / for the admin endpoints\n");
      }
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host, port }, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
