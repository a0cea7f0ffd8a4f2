// What the CLI wires around a Proxy: per-RPC counting and the access log (the proxy's end
// hook), and, where spec.admin asks for it, the admin server with its sampler and imbalance
// warning. The data path never imports this; the proxy only calls the hook it was given.
import type { DestinationStream } from "pino";
import type { Registry } from "prom-client";
import { systemClock, type Clock } from "../core/clock.js";
import { InvalidStateError } from "../core/errors.js";
import { logger } from "../core/trace.js";
import type { RpcOutcome } from "../proxy/rpc-outcome.js";
import type { ProxyConfig } from "../config/types.js";
import { Proxy, type ProxyDeps } from "../proxy/proxy.js";
import type { OutcomeObserver } from "../balancer/outcome.js";
import { AccessLog } from "./access-log.js";
import { AdminServer } from "./admin-server.js";
import { ImbalanceWatcher, type ImbalanceReport } from "./imbalance-warning.js";
import { createRegistry } from "./metrics.js";
import { hostOfCluster, RpcStats } from "./rpc-stats.js";
import { Sampler } from "./sampler.js";

export interface ObservabilityDeps {
  readonly clock?: Clock;
  /** Wall clock for the history's timestamps. */
  readonly wallNow?: () => number;
  /** Where access log lines go (default stdout). */
  readonly accessLog?: DestinationStream;
  /** Where the imbalance warning goes (default: the JSON log on stderr). */
  readonly onImbalance?: (report: ImbalanceReport) => void;
}

export class Observability {
  /** Set by stop(): no admin server starts after it (a retried start in flight included). */
  private stopped = false;
  readonly stats = new RpcStats();
  private proxy: Proxy | undefined;
  private accessLog: AccessLog | undefined;
  private admin: AdminServer | undefined;
  private sampler: Sampler | undefined;
  private registry: Registry | undefined;

  constructor(private readonly deps: ObservabilityDeps = {}) {}

  /** For ProxyDeps.onRpcEnd: counts, and logs when spec.accessLog says so (read per RPC: a reload applies it). */
  readonly onRpcEnd = (o: RpcOutcome): void => {
    // Counted only for the admin server (its sampler also prunes what is counted).
    if (this.sampler !== undefined) this.stats.record(o);
    if (this.proxy?.config.listener.accessLog === true) (this.accessLog ??= new AccessLog(this.deps.accessLog)).write(o);
  };

  /** For ProxyDeps.attemptObserver: per-endpoint counts of every attempt. */
  readonly attemptObserver = (cluster: string): OutcomeObserver => {
    const counts = this.stats.attemptObserver(cluster);
    return {
      attemptEnded: (outcome) => {
        if (this.sampler !== undefined) counts.attemptEnded(outcome);
      },
    };
  };

  /** The proxy whose hook this is (constructed with onRpcEnd above). */
  attach(proxy: Proxy): void {
    this.proxy = proxy;
  }

  /**
   * Starts the admin server where the config puts it (undefined when it puts none), before
   * the proxy listens: /ready says 503 until it does.
   */
  async startAdmin(): Promise<{ host: string; port: number } | undefined> {
    const proxy = this.proxy;
    if (proxy === undefined) throw new InvalidStateError("Observability.attach(proxy) first");
    const where = proxy.config.listener.admin;
    if (where === null || this.stopped) return undefined;
    const clock = this.deps.clock ?? systemClock;
    const sampler = new Sampler({ clusters: () => proxy.clusterRuntimes() }, this.stats, clock, this.deps.wallNow);
    const warn = this.deps.onImbalance ?? logImbalance;
    const watcher = new ImbalanceWatcher(
      () => proxy.config.listener.imbalanceWarning,
      () => clock.now(),
      warn,
      (c) => proxy.cluster(c)?.config.host ?? hostOfCluster(c),
    );
    sampler.onSample((cluster, sample) => watcher.observe(cluster, sample));
    const registry = createRegistry({ proxy, stats: this.stats, sampler });
    const admin = new AdminServer({ proxy, stats: this.stats, sampler, registry });
    const address = await admin.listen(where.host, where.port);
    if (this.stopped) {
      // stop() came while it bound the port (a takeover successor retrying it): let go again.
      await admin.close();
      return undefined;
    }
    sampler.start();
    this.sampler = sampler;
    this.registry = registry;
    this.admin = admin;
    return address;
  }

  /** The sampler, once the admin server runs (tests drive it). */
  get sampling(): Sampler | undefined {
    return this.sampler;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sampler?.stop();
    await this.admin?.close();
    this.admin = undefined;
  }
}

/** A proxy wired to a new Observability (its RPC-end hook and attempt observer). */
export function observedProxy(
  config: ProxyConfig,
  deps: ProxyDeps = {},
  observabilityDeps: ObservabilityDeps = {},
): { proxy: Proxy; observability: Observability } {
  const observability = new Observability(observabilityDeps);
  const proxy = new Proxy(config, { ...deps, onRpcEnd: observability.onRpcEnd, attemptObserver: observability.attemptObserver });
  observability.attach(proxy);
  return { proxy, observability };
}

function logImbalance(r: ImbalanceReport): void {
  const spread = r.endpoints.map((e) => `${e.endpoint} ${e.rps}/s`).join(", ");
  logger.warn(
    { destination: r.host, cluster: r.cluster, imbalance: r.imbalance, threshold: r.threshold, forMs: r.forMs, endpoints: r.endpoints },
    `imbalanced destination ${r.host}: busiest endpoint at ${r.imbalance}x the mean request rate for ${Math.round(r.forMs / 1000)}s (${spread})`,
  );
}
