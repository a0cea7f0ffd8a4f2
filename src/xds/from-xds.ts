// xDS resources -> sluice's config model: the reverse of resources.ts, for `sluice proxy --xds`
// (and the sluice:/// resolver), so proxies on many machines take their clusters and routes
// from one control plane. Clusters (with their ClusterLoadAssignments) become Clusters keyed
// `host|port|subset`; RouteConfigurations become VirtualHosts. What sluice has no place for is
// left at its default and said in `problems`; bad input never throws.
import { createPolicy, registerBuiltins } from "../balancer/registry.js";
import type { Cluster, HashKeySource, LoadBalancerSettings, VirtualHost } from "../config/types.js";
import { clusterFromXds, clusterIdentity } from "./from-xds-cluster.js";
import { fields, Problems, text, type Fields } from "./from-xds-fields.js";
import { routesFromXds } from "./from-xds-routes.js";
import type { XdsResources } from "./xds-resources.js";

export interface ConfigFromXds {
  /** Keyed by sluice's cluster name `host|port|subset` (parsed back from Istio's `outbound|PORT|SUBSET|HOST`). */
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly virtualHosts: readonly VirtualHost[];
  /** Resources or fields that could not be mapped (each says which resource and why); the rest still maps. */
  readonly problems: readonly string[];
}

export function configFromXds(resources: XdsResources): ConfigFromXds {
  const problems = new Problems();
  try {
    return mapAll(resources, problems);
  } catch (err: unknown) {
    // A shape no reader expected: nothing is applied, and the caller keeps what it runs.
    problems.add("xDS resources", `cannot be mapped: ${err instanceof Error ? err.message : String(err)}`);
    return { clusters: new Map(), virtualHosts: [], problems: problems.list };
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
  const firstPass = routesFromXds(resources, names, new Problems());
  const clusters = new Map<string, Cluster>();
  for (const [xdsName, name] of names) {
    const c = fields(resources.clusters.get(xdsName));
    if (c === undefined) {
      problems.add(`Cluster ${xdsName}`, "is not a message; ignored");
      unsupported.add(xdsName);
      continue;
    }
    const edsName = edsServiceName(c) ?? xdsName;
    const cluster = clusterFromXds(xdsName, c, fields(resources.endpoints.get(edsName)), firstPass.hashKeys.get(xdsName) ?? siblingKey(xdsName, firstPass.hashKeys), problems);
    const unbuildable = cluster === undefined ? undefined : policyError(cluster.policy.loadBalancer);
    if (unbuildable !== undefined) problems.add(`Cluster ${xdsName}`, `its load balancer cannot be built (${unbuildable}); routes to it are dropped`);
    if (cluster === undefined || unbuildable !== undefined) unsupported.add(xdsName);
    else clusters.set(name, cluster);
  }
  const usable = new Map([...names].filter(([xdsName]) => !unsupported.has(xdsName)));
  return { clusters, virtualHosts: routesFromXds(resources, usable, problems).virtualHosts, problems: problems.list };
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
 * A subset cluster no route hashes: it takes the key of its host and port's other clusters
 * (Istio's subsets inherit the DestinationRule's consistentHash, and routes rarely name them all).
 */
function siblingKey(xdsName: string, keys: ReadonlyMap<string, HashKeySource>): HashKeySource | undefined {
  const me = clusterIdentity(xdsName);
  for (const [other, key] of keys) {
    const o = clusterIdentity(other);
    if (o.host === me.host && o.port === me.port) return key;
  }
  return undefined;
}
