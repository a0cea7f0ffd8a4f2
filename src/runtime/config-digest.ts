// A short digest of the clusters and routes a config holds, whichever source it came from:
// proxies that run the same config print and log the same digest (the ADS versions, and the
// files' texts, are each proxy's own).
import { createHash } from "node:crypto";
import type { Cluster, VirtualHost } from "../config/types.js";

export interface Routing {
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly virtualHosts: readonly VirtualHost[];
}

/** 8 hex digits of a SHA-256 over the clusters (by name) and virtual hosts (by first domain): order does not count. */
export function configDigest(c: Routing): string {
  const clusters = [...c.clusters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const hosts = [...c.virtualHosts].sort((a, b) => ((a.domains[0] ?? "") < (b.domains[0] ?? "") ? -1 : 1));
  const text = JSON.stringify([clusters, hosts], (_key, value: unknown) => {
    if (value instanceof Set) return [...(value as Set<unknown>)];
    if (value === Infinity) return "Infinity";
    return value;
  });
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}
