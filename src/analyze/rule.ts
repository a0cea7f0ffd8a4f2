// What a rule of `sluice analyze` is given and gives back, and small helpers the rules share.
import type { Cluster, ProxyConfig } from "../config/types.js";
import type { ClientOptions } from "./client-options.js";
import type { Finding, RuleId } from "./finding.js";
import type { Locator } from "./locate.js";

/** What the rules may look at. The config is valid and fully defaulted (src/config/). */
export interface RuleContext {
  readonly config: ProxyConfig;
  readonly locate: Locator;
  readonly client: ClientOptions | null;
  /** Expected concurrent RPCs per host (lower-case host name; "*" = every host). */
  readonly concurrency: ReadonlyMap<string, number>;
  /** Expected RPCs per second per host, same keys. */
  readonly rps: ReadonlyMap<string, number>;
  /**
   * A measured cost of a cluster's connection settings (the simulator's figure, as a short
   * sentence), when one is available; undefined = not measured.
   */
  readonly costOf?: (config: ProxyConfig, cluster: Cluster) => string | undefined;
}

/** A rule finds problems, or says why it could not run (an info line, not a finding). */
export interface RuleResult {
  readonly findings: readonly Finding[];
  readonly notes?: readonly string[];
}

export type Rule = (ctx: RuleContext) => RuleResult;

/** Per-host value from a map keyed by lower-case host name, with "*" as the fallback. */
export function perHost(map: ReadonlyMap<string, number>, host: string): number | undefined {
  return map.get(host.toLowerCase()) ?? map.get("*");
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "3 endpoints", or "1 to 3 endpoints (by cluster)" across clusters of different sizes. */
export function endpointCounts(clusters: readonly Cluster[]): string {
  const counts = clusters.map((c) => c.endpoints.length);
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  return min === max ? plural(min, "endpoint") : `${min} to ${max} endpoints (by cluster)`;
}

/** A warning about a cluster setting written at `loc`, for the clusters that share it. */
export function clusterWarning(
  rule: RuleId,
  loc: { readonly file: string; readonly line: number; readonly path: string },
  clusters: readonly Cluster[],
  reason: string,
  fix: string,
): Finding {
  return {
    rule,
    severity: "warning",
    file: loc.file,
    line: loc.line,
    path: loc.path,
    clusters: clusters.map((c) => c.name),
    host: clusters[0]?.host ?? null,
    reason,
    fix,
  };
}
