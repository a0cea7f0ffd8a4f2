// What a `sluice:///HOST[:PORT]` channel reads from a consistent xDS snapshot: listener
// `HOST[:PORT]` -> its RouteConfiguration -> the virtual host for the target -> the default
// route (the one without match conditions, else the first) -> its cluster (the heaviest of
// weighted clusters: one channel balances over one cluster) -> the cluster's
// ClusterLoadAssignment (its endpoints and policy are then mapped by configFromXds(), in
// xds-cluster.ts). Pure; a string says what is missing, for the channel's status.
import { httpConnectionManager, edsName } from "../xds-client/ads-client.js";
import type { DecodedResource, XdsResources } from "../xds-client/decoded-resources.js";

export interface XdsTarget {
  /** The xDS cluster name (`outbound|PORT|SUBSET|HOST`). */
  readonly cluster: string;
  /**
   * The cluster's least_request choice_count (default 2). sluice's model keeps it per proxy,
   * not per cluster, so configFromXds() does not carry it; a channel has one cluster.
   */
  readonly choiceCount: number;
}

export function resolveXdsTarget(snapshot: XdsResources, listenerName: string): XdsTarget | string {
  const listener = snapshot.listeners.get(listenerName);
  if (listener === undefined) return `the control plane has no listener "${listenerName}" (is there a ServiceEntry for it?)`;
  const hcm = httpConnectionManager(listener);
  if (hcm === null) return `listener "${listenerName}" is not an API listener`;
  const rdsName = obj(hcm["rds"])?.["route_config_name"];
  const routeConfig = typeof rdsName === "string" ? snapshot.routes.get(rdsName) : (obj(hcm["route_config"]) ?? undefined);
  if (routeConfig === undefined) return `listener "${listenerName}": route configuration ${JSON.stringify(rdsName)} not found`;
  const vh = virtualHostFor(routeConfig, listenerName);
  if (vh === null) return `listener "${listenerName}": no virtual host for it in its route configuration`;
  const routes = arr(vh["routes"]).flatMap((r) => (obj(r) === null ? [] : [obj(r) as Record<string, unknown>]));
  const route = routes.find((r) => matchesEverything(obj(r["match"]))) ?? routes[0];
  const action = obj(route?.["route"]);
  if (action === null) return `listener "${listenerName}": its default route does not route to a cluster`;
  const clusterName = clusterOf(action);
  if (clusterName === null) return `listener "${listenerName}": its default route names no cluster`;
  const cluster = snapshot.clusters.get(clusterName);
  if (cluster === undefined) return `cluster "${clusterName}" not found`;
  const eds = edsName(cluster);
  if (eds === null)
    return `cluster "${clusterName}" is of type ${typeof cluster["type"] === "string" ? cluster["type"] : "STATIC"}; sluice:/// follows EDS clusters only`;
  const cla = snapshot.endpoints.get(eds);
  if (cla === undefined) return `no endpoints (ClusterLoadAssignment "${eds}") for cluster "${clusterName}"`;
  const choice = obj(obj(cluster["least_request_lb_config"])?.["choice_count"])?.["value"];
  return { cluster: clusterName, choiceCount: typeof choice === "number" ? choice : 2 };
}

/** gRPC's virtual host choice: an exact domain, then the most specific wildcard, then "*". */
function virtualHostFor(routeConfig: DecodedResource, authority: string): Record<string, unknown> | null {
  const host = authority.toLowerCase();
  let best: { vh: Record<string, unknown>; score: number } | null = null;
  for (const raw of arr(routeConfig["virtual_hosts"])) {
    const vh = obj(raw);
    if (vh === null) continue;
    for (const d of arr(vh["domains"])) {
      if (typeof d !== "string") continue;
      const domain = d.toLowerCase();
      let score = -1;
      if (domain === host) score = Number.MAX_SAFE_INTEGER;
      else if (domain === "*") score = 0;
      else if (domain.startsWith("*") && host.endsWith(domain.slice(1))) score = domain.length;
      else if (domain.endsWith("*") && host.startsWith(domain.slice(0, -1))) score = domain.length;
      if (score >= 0 && (best === null || score > best.score)) best = { vh, score };
    }
  }
  return best?.vh ?? null;
}

/** A match with no conditions: prefix "" or "/" (or none), no headers, no query parameters. */
function matchesEverything(match: Record<string, unknown> | null): boolean {
  if (match === null) return true;
  const prefix = match["prefix"];
  const pathless = match["path"] === undefined && match["safe_regex"] === undefined && match["path_separated_prefix"] === undefined;
  return (
    pathless && (prefix === undefined || prefix === "" || prefix === "/") && arr(match["headers"]).length === 0 && arr(match["query_parameters"]).length === 0
  );
}

function clusterOf(action: Record<string, unknown>): string | null {
  if (typeof action["cluster"] === "string" && action["cluster"] !== "") return action["cluster"];
  let best: { name: string; weight: number } | null = null;
  for (const raw of arr(obj(action["weighted_clusters"])?.["clusters"])) {
    const w = obj(raw);
    const name = w?.["name"];
    const weightRaw = obj(w?.["weight"])?.["value"];
    const weight = typeof weightRaw === "number" ? weightRaw : 0;
    if (typeof name === "string" && (best === null || weight > best.weight)) best = { name, weight };
  }
  return best?.name ?? null;
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
