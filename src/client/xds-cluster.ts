// The sluice Cluster (endpoints and fully defaulted TrafficPolicy) behind an xDS cluster
// name, mapped back by configFromXds(): the one reverse mapping of xDS that `sluice proxy
// --xds` also runs, so a sluice:/// channel balances a DestinationRule as the proxy does.
import type { Cluster } from "../config/types.js";
import { clusterIdentity } from "../xds-client/from-xds-cluster.js";
import { configFromXds } from "../xds-client/from-xds.js";
import type { XdsResources } from "../xds-client/decoded-resources.js";

export interface MappedCluster {
  /** null when the cluster cannot be mapped (its problems say why). */
  readonly cluster: Cluster | null;
  /** The mapping's problems about this cluster and its endpoints. */
  readonly problems: readonly string[];
}

export function clusterFromSnapshot(snapshot: XdsResources, xdsCluster: string): MappedCluster {
  const mapped = configFromXds(snapshot);
  const { host, port, subset } = clusterIdentity(xdsCluster);
  const cluster = mapped.clusters.get(`${host}|${port}|${subset ?? ""}`) ?? null;
  const mine = [`Cluster ${xdsCluster}:`, `ClusterLoadAssignment ${xdsCluster}:`];
  const problems = mapped.problems.filter((p) => mine.some((prefix) => p.startsWith(prefix)) || p.startsWith("xDS resources:"));
  return { cluster, problems };
}
