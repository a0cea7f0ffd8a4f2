// The endpoint source a cluster's resolution calls for.
import type { Cluster } from "../config/types.js";
import type { Clock } from "../core/clock.js";
import { DnsEndpointSource, type DnsResolver } from "./dns.js";
import { StaticEndpointSource } from "./static.js";
import type { EndpointSource } from "./types.js";

export interface SourceOptions {
  /** DNS lookups; tests and the simulator inject one. */
  readonly resolver?: DnsResolver;
  readonly dnsRefreshMs?: number;
}

export function createEndpointSource(cluster: Cluster, clock: Clock, options: SourceOptions = {}): EndpointSource {
  switch (cluster.resolution) {
    case "STATIC":
      return new StaticEndpointSource(cluster.endpoints);
    case "DNS":
      return new DnsEndpointSource(cluster.endpoints, {
        clock,
        label: cluster.name,
        ...(options.resolver !== undefined ? { resolver: options.resolver } : {}),
        ...(options.dnsRefreshMs !== undefined ? { refreshMs: options.dnsRefreshMs } : {}),
      });
  }
}
