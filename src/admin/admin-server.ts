// The admin HTTP server (node:http), on spec.admin / --admin: Prometheus metrics, the state
// of each destination, the running config, liveness and readiness, and the sampled history
// a dashboard polls. Read-only: nothing here changes the proxy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Registry } from "prom-client";
import type { Proxy } from "../proxy/proxy.js";
import { clustersView } from "./clusters-view.js";
import { configDump } from "./config-dump.js";
import { serveDashboard } from "./dashboard.js";
import { envoyStats, formatEnvoyStats } from "./envoy-stats.js";
import { hostAllowed } from "./host-guard.js";
import type { RpcStats } from "./rpc-stats.js";
import type { Sampler } from "./sampler.js";

export interface AdminDeps {
  readonly proxy: Proxy;
  readonly stats: RpcStats;
  readonly sampler: Sampler;
  readonly registry: Registry;
}

/** Paths and what they answer, for /paths and 404s. */
export const ADMIN_PATHS: Readonly<Record<string, string>> = {
  "/": "HTML: the dashboard (charts of /history, endpoints from /clusters)",
  "/paths": "JSON: this list",
  "/metrics": "Prometheus text format",
  "/stats/prometheus": "the same as /metrics, at the path Istio's sidecars are scraped on",
  "/stats":
    "text: the counters and gauges of /metrics as Envoy lists its stats, one `name: value` line each (cluster.<name>.upstream_rq_total...); ?filter=<regex>, ?usedonly (non-zero only), ?format=json or prometheus",
  "/clusters": "JSON: each destination's endpoints now (state, connections, active requests, ejection, rps)",
  "/history":
    "JSON: per destination and endpoint, 1 s samples of rps (10 s window), active requests and connections over the last 5 minutes, as columns; ?since=<epoch ms> for newer ones only",
  "/config_dump": "JSON: the running config with every default",
  "/healthz": "200 while the process serves",
  "/ready": "200 once the proxy listens and is not draining, else 503",
};

export class AdminServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** The address listened on (what a request's Host must name); set by listen(). */
  private boundHost = "127.0.0.1";

  constructor(private readonly deps: AdminDeps) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, "text/plain", `admin: ${(err as Error).message}\n`);
        else res.destroy();
      });
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        const a = this.server.address() as AddressInfo;
        this.boundHost = a.address;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Scrapers keep connections alive; the admin server has nothing worth draining for.
    for (const s of this.sockets) s.destroy();
    return closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    if (!hostAllowed(req.headers.host, this.boundHost)) {
      send(
        res,
        403,
        "text/plain",
        `admin: Host ${JSON.stringify(req.headers.host)} does not name this server (${this.boundHost}); use its address or a loopback name\n`,
      );
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "text/plain", "admin: GET only\n");
      return;
    }
    const { proxy, stats, sampler, registry } = this.deps;
    switch (url.pathname) {
      case "/metrics":
      case "/stats/prometheus":
        send(res, 200, registry.contentType, await registry.metrics());
        return;
      case "/stats":
        await this.stats(url, res);
        return;
      case "/clusters":
        sendJson(res, 200, clustersView(proxy, stats, sampler));
        return;
      case "/history": {
        const since = Number(url.searchParams.get("since") ?? 0);
        sendJson(res, 200, sampler.history(Number.isFinite(since) ? since : 0));
        return;
      }
      case "/config_dump":
        send(res, 200, "application/json", configDump(proxy.config));
        return;
      case "/healthz":
        send(res, 200, "text/plain", "OK\n");
        return;
      case "/ready": {
        const ready = proxy.listenAddress !== undefined && !proxy.draining;
        send(res, ready ? 200 : 503, "text/plain", ready ? "LIVE\n" : proxy.draining ? "DRAINING\n" : "STARTING\n");
        return;
      }
      case "/paths":
        sendJson(res, 200, { paths: ADMIN_PATHS });
        return;
      default:
        if (await serveDashboard(url.pathname, res)) return;
        sendJson(res, 404, { paths: ADMIN_PATHS });
    }
  }

  /** Envoy's GET /stats, with the query parameters its users reach for first: filter, usedonly, format. */
  private async stats(url: URL, res: ServerResponse): Promise<void> {
    const { proxy, stats, sampler, registry } = this.deps;
    const format = url.searchParams.get("format") ?? "text";
    if (format === "prometheus") {
      send(res, 200, registry.contentType, await registry.metrics());
      return;
    }
    if (format !== "text" && format !== "json") {
      send(res, 400, "text/plain", `admin: /stats: format must be text, json or prometheus, got ${JSON.stringify(format)}\n`);
      return;
    }
    const filter = filterOf(url);
    if (filter instanceof Error) {
      send(res, 400, "text/plain", `admin: /stats: filter is not a regular expression: ${filter.message}\n`);
      return;
    }
    // Envoy's "used" is "ever written"; a value that is not 0 is the nearest sluice keeps.
    const usedOnly = url.searchParams.has("usedonly");
    const shown = envoyStats({ proxy, stats, sampler }).filter((s) => (filter === undefined || filter.test(s.name)) && (!usedOnly || s.value !== 0));
    if (format === "json") sendJson(res, 200, { stats: shown });
    else send(res, 200, "text/plain; charset=utf-8", formatEnvoyStats(shown));
  }
}

/** A `filter` query parameter as a regular expression; undefined when absent, an Error when it does not compile. */
function filterOf(url: URL): RegExp | Error | undefined {
  const filter = url.searchParams.get("filter");
  if (filter === null) return undefined;
  try {
    return new RegExp(filter);
  } catch (err) {
    return err as Error;
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json", JSON.stringify(value));
}
