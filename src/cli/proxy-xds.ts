// `sluice proxy --xds HOST:PORT`: clusters and routes from a control plane, so proxies on
// many machines share one source of truth; the proxy's own listener settings (listen address,
// mode, transport, admin, keepalive...) from the -c files' Proxy resource and the flags.
//
// Every consistent snapshot the ADS client delivers is mapped back to clusters and virtual
// hosts (src/xds/from-xds.ts) and applied through the same path as a file reload
// (proxyReloadTarget: Proxy.reconfigure), so RPCs in flight carry on. A file reload (the Proxy
// resource) and an xDS update go through one queue and each composes the latest of both, so
// neither can undo the other. While the control plane is unreachable the last config stays
// in force and the client keeps reconnecting.
import { createHash } from "node:crypto";
import type { Cluster, ListenerSettings, ProxyConfig, VirtualHost } from "../config/types.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "../config/limits.js";
import { codeOf, formatError } from "../core/errors.js";
import { logger } from "../core/trace.js";
import { ReloadRejectedError } from "../runtime/errors.js";
import { configFromXds, type ConfigFromXds } from "../xds/from-xds.js";
import { NO_RETRY } from "../xds/from-xds-routes.js";
import type { XdsResources } from "../xds/xds-resources.js";
import type { Io } from "./io.js";
import type { AppliedReload, ReloadTarget } from "./reload.js";

/** The ADS client as the proxy uses it (src/xds/ads-client.ts's AdsClient). */
export interface XdsSource {
  on(event: "update", listener: (resources: XdsResources) => void): unknown;
  on(event: "connection", listener: (state: "connected" | "disconnected") => void): unknown;
  on(event: "nack", listener: (nack: { readonly typeUrl: string; readonly version: string; readonly message: string }) => void): unknown;
  start(): void;
  close(): void;
}

/**
 * Before the first snapshot, every RPC is routed to this cluster, which has no endpoints:
 * UNAVAILABLE "no healthy upstream", which gRPC clients retry or wait out (waitForReady).
 */
export const PENDING_HOST = "xds-pending";
const PENDING_CLUSTER: Cluster = {
  name: `${PENDING_HOST}|0|`,
  host: PENDING_HOST,
  port: 0,
  subset: null,
  resolution: "STATIC",
  endpoints: [],
  policy: { loadBalancer: DEFAULT_LOAD_BALANCER, connectionPool: DEFAULT_CONNECTION_POOL, outlierDetection: null, retryBudget: null },
};
const PENDING_HOSTS: readonly VirtualHost[] = [
  { domains: [PENDING_HOST], routes: [{ matches: [], destinations: [{ cluster: PENDING_CLUSTER.name, weight: 100 }], timeoutMs: null, retry: NO_RETRY }] },
];

export interface XdsFollowerOptions {
  /** The control plane, for messages. */
  readonly server: string;
  /** --default-host: checked against the control plane's hosts at every update. */
  readonly defaultHost: string | undefined;
  /** Starts the lines it prints ("sluice proxy"). */
  readonly command: string;
}

export class XdsFollower {
  private listener: ListenerSettings;
  /** The latest mapped snapshot; null until the first arrives. */
  private latest: ConfigFromXds | null = null;
  private snapshots = 0;
  /** What the proxy runs: set by config() at start, then by each apply. */
  private applied: { xds: ConfigFromXds | null; listener: ListenerSettings; snapshot: number } | null = null;
  private target: ReloadTarget | undefined;
  /** File reloads and xDS updates apply one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve();
  private firstWaiters: (() => void)[] = [];
  private connected = false;
  private lastProblems = "";
  private lastDefaultHostWarning = "";
  private closed = false;

  constructor(
    private readonly source: XdsSource,
    listener: ListenerSettings,
    private readonly opts: XdsFollowerOptions,
    private readonly io: Io,
  ) {
    this.listener = listener;
    source.on("update", (r) => this.onUpdate(r));
    source.on("connection", (state) => this.onConnection(state));
    source.on("nack", (n) =>
      io.err(`warning: ${opts.command}: rejected ${n.typeUrl.slice(n.typeUrl.lastIndexOf(".") + 1)} version ${n.version} from the control plane: ${n.message}`),
    );
  }

  /** Resolves true once the first snapshot has arrived, false after `ms` without one. */
  waitForFirst(ms: number): Promise<boolean> {
    if (this.latest !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.firstWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** The config to start the proxy with: the latest snapshot, or the pending placeholder before any. */
  config(): ProxyConfig {
    this.applied = { xds: this.latest, listener: this.listener, snapshot: this.snapshots };
    return this.compose();
  }

  /** What config() started with, for the starting lines. */
  describeStart(): string {
    const xds = this.applied?.xds ?? null;
    if (xds === null) return `no config from the control plane at ${this.opts.server} yet: RPCs get UNAVAILABLE until it arrives`;
    return `xds update #${this.applied?.snapshot ?? 0} in force (${describeCounts(xds)})`;
  }

  /** Whether a snapshot has arrived. */
  get hasSnapshot(): boolean {
    return this.latest !== null;
  }

  /** From now on, snapshots (and one that arrived since config()) are applied to `target`. */
  attach(target: ReloadTarget): void {
    this.target = target;
    this.schedule();
  }

  /** Wraps the proxy's reload target for the -c files' reloader: their listener settings, the control plane's clusters and routes. */
  fileTarget(target: ReloadTarget): ReloadTarget {
    return {
      command: target.command,
      apply: (config) => {
        if (config.clusters.size > 0 || config.virtualHosts.length > 0) {
          // Said here, on stderr, and thrown: the reloader then prints no "applied" line.
          const why = "with --xds the config files may hold only the Proxy resource (clusters and routes come from the control plane)";
          const rejected = new ReloadRejectedError(`config reload rejected: ${why}`);
          this.io.err(`${this.opts.command}: error [${rejected.code}]: config reload rejected, keeping the running config: ${why}`);
          return Promise.reject(rejected);
        }
        return this.enqueue(async () => {
          this.listener = config.listener;
          return this.applyNow(target);
        });
      },
    };
  }

  close(): void {
    this.closed = true;
    this.source.close();
  }

  private onUpdate(resources: XdsResources): void {
    if (this.closed) return;
    const mapped = configFromXds(resources);
    this.snapshots++;
    if (mapped.failed !== undefined) {
      // Not applied (it would be an empty config): the running one stays, and so does `latest`.
      logger.error({ snapshot: this.snapshots, err: mapped.failed }, "xds snapshot not applied");
      this.io.err(
        `${this.opts.command}: xds update #${this.snapshots} not applied, keeping the running config: the control plane's resources ${mapped.failed}`,
      );
      return;
    }
    this.latest = mapped;
    const problems = mapped.problems.join("\n");
    if (problems !== this.lastProblems) {
      this.lastProblems = problems;
      for (const p of mapped.problems) this.io.err(`warning: ${this.opts.command}: xds: ${p}`);
    }
    logger.info(
      { snapshot: this.snapshots, clusters: mapped.clusters.size, virtualHosts: mapped.virtualHosts.length, problems: mapped.problems.length },
      "xds snapshot",
    );
    for (const w of this.firstWaiters.splice(0)) w();
    this.schedule();
  }

  private onConnection(state: "connected" | "disconnected"): void {
    // close() ends the stream: that is no loss to report (the proxy is draining).
    if (this.closed) return;
    if (state === "connected") {
      this.connected = true;
      this.io.err(`${this.opts.command}: connected to the control plane at ${this.opts.server}`);
    } else if (this.connected) {
      this.connected = false;
      const kept = this.latest === null ? "still waiting for a first config" : "keeping the config in force";
      this.io.err(`${this.opts.command}: lost the control plane at ${this.opts.server}; ${kept}, reconnecting`);
    }
  }

  private schedule(): void {
    if (this.target === undefined) return;
    const target = this.target;
    void this.enqueue(async () => {
      // Queued behind another update that already applied the latest: nothing to do.
      if (this.applied?.xds === this.latest && this.applied.listener === this.listener) return;
      await this.applyNow(target);
    }).catch((err: unknown) => {
      logger.error({ err: (err as Error).message, code: codeOf(err) }, "xds update failed");
      this.io.err(`${this.opts.command}: xds update failed, keeping the running config: ${formatError(err)}`);
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Composes the latest listener and snapshot, and applies them. */
  private async applyNow(target: ReloadTarget): Promise<AppliedReload> {
    const xds = this.latest;
    const listener = this.listener;
    const snapshot = this.snapshots;
    const result = await target.apply(this.compose());
    const fromXds = this.applied?.xds !== xds;
    this.applied = { xds, listener, snapshot };
    if (fromXds && xds !== null) {
      for (const w of result.warnings) this.io.err(`warning: ${w}`);
      logger.info({ snapshot: this.snapshots, ...result.fields }, "xds update applied");
      // The line tests and scripts wait for: the control plane's config is in force after it.
      this.io.out(`${this.opts.command}: xds update #${snapshot} applied (${describeCounts(xds)}): ${result.summary}`);
    }
    return result;
  }

  private compose(): ProxyConfig {
    const xds = this.latest;
    const clusters = xds === null ? new Map([[PENDING_CLUSTER.name, PENDING_CLUSTER]]) : xds.clusters;
    const virtualHosts = xds === null ? PENDING_HOSTS : xds.virtualHosts;
    return { listener: { ...this.listener, defaultHost: xds === null ? PENDING_HOST : this.defaultHost(virtualHosts) }, clusters, virtualHosts, warnings: [] };
  }

  /** --default-host when the control plane has it; with one host only, that host (as from files). */
  private defaultHost(virtualHosts: readonly VirtualHost[]): string | null {
    const wanted = this.opts.defaultHost?.toLowerCase();
    const domains = virtualHosts.flatMap((v) => v.domains);
    if (wanted === undefined) return virtualHosts.length === 1 ? (virtualHosts[0]?.domains[0] ?? null) : null;
    const warning = domains.includes(wanted)
      ? ""
      : `--default-host ${wanted} is not a host the control plane routes (${domains.length === 0 ? "it routes none" : `hosts: ${domains.join(", ")}`}); requests for other hosts get UNIMPLEMENTED`;
    if (warning !== this.lastDefaultHostWarning) {
      this.lastDefaultHostWarning = warning;
      if (warning !== "") this.io.err(`warning: ${this.opts.command}: ${warning}`);
    }
    return warning === "" ? wanted : null;
  }
}

function describeCounts(c: ConfigFromXds): string {
  const problems = c.problems.length === 0 ? "" : `, ${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}`;
  return `config ${configDigest(c)}: ${c.clusters.size} cluster${c.clusters.size === 1 ? "" : "s"}, ${c.virtualHosts.length} virtual host${c.virtualHosts.length === 1 ? "" : "s"}${problems}`;
}

/**
 * A short digest of the clusters and routes in force: proxies on one control plane print the
 * same digest once they run the same config (the ADS versions are the client's own).
 */
export function configDigest(c: ConfigFromXds): string {
  const clusters = [...c.clusters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const hosts = [...c.virtualHosts].sort((a, b) => ((a.domains[0] ?? "") < (b.domains[0] ?? "") ? -1 : 1));
  const text = JSON.stringify([clusters, hosts], (_key, value: unknown) => {
    if (value instanceof Set) return [...(value as Set<unknown>)];
    if (value === Infinity) return "Infinity";
    return value;
  });
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}
