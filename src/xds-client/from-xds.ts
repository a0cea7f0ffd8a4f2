// xDS resources -> sluice's config model: the reverse of xds-server/to-xds.ts, for `sluice proxy --xds`
// (and the sluice:/// resolver), so proxies on many machines take their clusters and routes
// from one control plane. Clusters (with their ClusterLoadAssignments) become Clusters keyed
// `host|port|subset`; RouteConfigurations become VirtualHosts. What sluice has no place for is
// left at its default and said in `problems`; bad input never throws.
import { createPolicy, registerBuiltins } from "../balancer/registry.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "../config/limits.js";
import type { Cluster, HashKeySource, LoadBalancerSettings, VirtualHost } from "../config/types.js";
import { clusterFromXds, clusterIdentity } from "./from-xds-cluster.js";
import { fields, Problems, text, type Fields } from "./from-xds-fields.js";
import { routesFromXds } from "./from-xds-routes.js";
import type { XdsResources } from "./decoded-resources.js";

export interface ConfigFromXds {
  /** Keyed by sluice's cluster name `host|port|subset` (parsed back from Istio's `outbound|PORT|SUBSET|HOST`). */
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly virtualHosts: readonly VirtualHost[];
  /** Resources or fields that could not be mapped (each says which resource and why); the rest still maps. */
  readonly problems: readonly string[];
  /**
   * Set when the resources could not be mapped at all (a shape no reader expected): the
   * config is then empty and must not be applied; the caller keeps what it runs.
   */
  readonly failed?: string;
}

/** The host of the cluster (no endpoints) that routes naming a cluster sluice does not have are sent to. */
export const UNAVAILABLE_HOST = "xds-unavailable";

export function configFromXds(resources: XdsResources): ConfigFromXds {
  const problems = new Problems();
  try {
    return mapAll(resources, problems);
  } catch (err: unknown) {
    // A shape no reader expected: nothing is applied, and the caller keeps what it runs.
    const failed = `cannot be mapped: ${err instanceof Error ? err.message : String(err)}`;
    problems.add("xDS resources", failed);
    return { clusters: new Map(), virtualHosts: [], problems: problems.list, failed };
  }
}

function mapAll(resources: XdsResources, problems: Problems): ConfigFromXds {
  // Names first: routes refer to clusters by them, and give ring hash clusters their keys.
  const names = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const xdsName of resources.clusters.keys()) {
    const { host, port, subset } = clusterIdentity(xdsName);
    const name = `${host}|${port}|${subset ?? ""}`;
    const prior = taken.get(name);
    if (prior !== undefined) {
      problems.add(`Cluster ${xdsName}`, `maps to the same sluice cluster ${name} as ${prior}; ignored`);
      continue;
    }
    taken.set(name, xdsName);
    names.set(xdsName, name);
  }
  const unsupported = new Set<string>();
  // Hash keys come from the routes, which must not name clusters that turn out unusable:
  // a first pass (problems discarded) collects the keys, the second maps the routes for real.
  let unavailable = `${UNAVAILABLE_HOST}|0|`;
  for (let i = 2; taken.has(unavailable); i++) unavailable = `${UNAVAILABLE_HOST}-${i}|0|`;
  const firstPass = routesFromXds(resources, names, new Problems(), unavailable);
  const siblings = siblingKeys(firstPass.hashKeys);
  const clusters = new Map<string, Cluster>();
  for (const [xdsName, name] of names) {
    const c = fields(resources.clusters.get(xdsName));
    if (c === undefined) {
      problems.add(`Cluster ${xdsName}`, "is not a message; ignored");
      unsupported.add(xdsName);
      continue;
    }
    const edsName = edsServiceName(c) ?? xdsName;
    const cluster = clusterFromXds(
      xdsName,
      c,
      fields(resources.endpoints.get(edsName)),
      firstPass.hashKeys.get(xdsName) ?? siblings.get(hostPort(xdsName)),
      problems,
    );
    const unbuildable = cluster === undefined ? undefined : policyError(cluster.policy.loadBalancer);
    if (unbuildable !== undefined) problems.add(`Cluster ${xdsName}`, `its load balancer cannot be built (${unbuildable}); routes to it are dropped`);
    if (cluster === undefined || unbuildable !== undefined) unsupported.add(xdsName);
    else clusters.set(name, cluster);
  }
  const usable = new Map<string, string>();
  for (const [xdsName, name] of names) if (!unsupported.has(xdsName)) usable.set(xdsName, name);
  const routes = routesFromXds(resources, usable, problems, unavailable);
  if (routes.usesUnavailable) clusters.set(unavailable, unavailableCluster(unavailable));
  return { clusters, virtualHosts: routes.virtualHosts, problems: problems.list };
}

/** No endpoints: every RPC routed to it gets UNAVAILABLE "no healthy upstream". */
function unavailableCluster(name: string): Cluster {
  return {
    name,
    host: name.slice(0, name.indexOf("|")),
    port: 0,
    subset: null,
    resolution: "STATIC",
    endpoints: [],
    policy: { loadBalancer: DEFAULT_LOAD_BALANCER, connectionPool: DEFAULT_CONNECTION_POOL, outlierDetection: null, retryBudget: null, tls: null },
  };
}

/** Why sluice's balancer would refuse these settings, if it would: checked here so a bad value is a problem, not a throw in the proxy. */
function policyError(settings: LoadBalancerSettings): string | undefined {
  try {
    registerBuiltins();
    createPolicy(settings, { random: () => 0.5, loadMetric: "activeRequests", choiceCount: 2 });
    return undefined;
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  }
}

function edsServiceName(c: Fields): string | undefined {
  const name = text(fields(c["eds_cluster_config"])?.["service_name"]);
  return name === "" ? undefined : name;
}

/**
 * A subset cluster no route hashes takes the key of its host and port's other clusters
 * (Istio's subsets inherit the DestinationRule's consistentHash, and routes rarely name them
 * all): the first key per `host|port`, indexed once (not searched per cluster).
 */
function siblingKeys(keys: ReadonlyMap<string, HashKeySource>): Map<string, HashKeySource> {
  const out = new Map<string, HashKeySource>();
  for (const [xdsName, key] of keys) {
    const hp = hostPort(xdsName);
    if (!out.has(hp)) out.set(hp, key);
  }
  return out;
}

function hostPort(xdsName: string): string {
  const { host, port } = clusterIdentity(xdsName);
  return `${port} ${host}`;
}
