// The control plane resolves DNS ServiceEntries itself (src/discovery/dns.ts, the proxy's
// STRICT_DNS semantics) and serves the addresses in EDS, so every client gets IPs: proxyless
// gRPC clients take only IP addresses from a ClusterLoadAssignment, and grpc's LOGICAL_DNS
// cluster type allows a single name. A DNS cluster's endpoints are what its names resolved
// to last (a failed lookup keeps the last good answer); until its first round completes it
// serves no endpoints.
import type { Cluster, Endpoint, ProxyConfig } from "../config/types.js";
import { systemClock, type Clock } from "../core/clock.js";
import { tracer } from "../core/trace.js";
import { DnsEndpointSource, type DnsResolver } from "../discovery/dns.js";
import type { ResolvedEndpoint } from "../discovery/types.js";

const trace = tracer("xds");

export interface DnsEndpointsOptions {
  readonly clock?: Clock;
  readonly resolver?: DnsResolver;
  readonly refreshMs?: number;
  /** Called with the config (DNS clusters' endpoints replaced by their addresses) whenever an answer changes. */
  readonly onChange: (resolved: ProxyConfig) => void;
}

interface Watched {
  /** The configured endpoints (names); a reload that keeps them keeps the source. */
  readonly signature: string;
  readonly source: DnsEndpointSource;
  /** null until the first round completes. */
  resolved: readonly ResolvedEndpoint[] | null;
}

/** Watches the DNS clusters of the config in force and gives it back with their addresses. */
export class DnsEndpoints {
  private readonly clock: Clock;
  private readonly watched = new Map<string, Watched>();
  private config: ProxyConfig | null = null;
  private readonly firstRounds = new Set<() => void>();

  constructor(private readonly options: DnsEndpointsOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Takes `config` as the one in force: starts a source for each new or changed DNS cluster,
   * stops those of clusters that went, and returns the config with what is known so far.
   */
  set(config: ProxyConfig): ProxyConfig {
    this.config = config;
    const keep = new Set<string>();
    for (const cluster of config.clusters.values()) {
      if (cluster.resolution !== "DNS") continue;
      keep.add(cluster.name);
      const signature = endpointsSignature(cluster.endpoints);
      const current = this.watched.get(cluster.name);
      if (current?.signature === signature) continue;
      current?.source.stop();
      this.watch(cluster, signature, current);
    }
    for (const [name, w] of this.watched) {
      if (keep.has(name)) continue;
      w.source.stop();
      this.watched.delete(name);
    }
    this.settleWaiters();
    return this.resolvedConfig(config);
  }

  /** Resolves once every DNS cluster of the config in force has completed its first round. */
  firstRound(): Promise<void> {
    if (this.allResolved()) return Promise.resolve();
    return new Promise((resolve) => this.firstRounds.add(resolve));
  }

  stop(): void {
    for (const w of this.watched.values()) w.source.stop();
    this.watched.clear();
    this.settleWaiters(true);
  }

  private watch(cluster: Cluster, signature: string, previous: Watched | undefined): void {
    const source = new DnsEndpointSource(cluster.endpoints, {
      clock: this.clock,
      label: cluster.name,
      ...(this.options.resolver !== undefined ? { resolver: this.options.resolver } : {}),
      ...(this.options.refreshMs !== undefined ? { refreshMs: this.options.refreshMs } : {}),
    });
    if (previous !== undefined) source.adopt(previous.source);
    const entry: Watched = { signature, source, resolved: null };
    this.watched.set(cluster.name, entry);
    source.start((endpoints) => {
      if (this.watched.get(cluster.name) !== entry) return;
      entry.resolved = endpoints;
      trace("dns cluster resolved", { cluster: cluster.name, endpoints: endpoints.map((e) => `${e.address}:${e.port}`) });
      this.settleWaiters();
      if (this.config !== null) this.options.onChange(this.resolvedConfig(this.config));
    });
  }

  private resolvedConfig(config: ProxyConfig): ProxyConfig {
    if (this.watched.size === 0) return config;
    const clusters = new Map<string, Cluster>();
    for (const [name, cluster] of config.clusters) {
      const w = cluster.resolution === "DNS" ? this.watched.get(name) : undefined;
      clusters.set(name, w === undefined ? cluster : { ...cluster, endpoints: (w.resolved ?? []).map(toEndpoint) });
    }
    return { ...config, clusters };
  }

  private allResolved(): boolean {
    return [...this.watched.values()].every((w) => w.resolved !== null);
  }

  private settleWaiters(force = false): void {
    if (!force && !this.allResolved()) return;
    for (const resolve of this.firstRounds) resolve();
    this.firstRounds.clear();
  }
}

function toEndpoint(e: ResolvedEndpoint): Endpoint {
  return { address: e.address, port: e.port, weight: e.weight, labels: e.labels };
}

function endpointsSignature(endpoints: readonly Endpoint[]): string {
  return endpoints.map((e) => `${e.address}|${e.port}|${e.weight}|${JSON.stringify(e.labels)}`).join("\n");
}
