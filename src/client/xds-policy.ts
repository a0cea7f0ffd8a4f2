// A cluster's TrafficPolicy from xDS. Interim: reads lb_policy only, with Istio's defaults
// for the rest; replaced by configFromXds() (src/xds/from-xds.ts) when that lands.
import type { TrafficPolicy } from "../config/types.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "../config/limits.js";
import type { XdsResources } from "../xds/xds-resources.js";

export function trafficPolicyOf(snapshot: XdsResources, xdsCluster: string): { policy: TrafficPolicy | null; problems: readonly string[] } {
  const c = snapshot.clusters.get(xdsCluster);
  if (c === undefined) return { policy: null, problems: [`cluster ${xdsCluster} not found`] };
  const lb = c["lb_policy"];
  const loadBalancer: TrafficPolicy["loadBalancer"] =
    lb === "ROUND_ROBIN" || lb === undefined
      ? { kind: "simple", policy: "ROUND_ROBIN" }
      : lb === "RING_HASH"
        ? { kind: "consistentHash", key: { kind: "sourceIp" }, algorithm: { kind: "ringHash", minimumRingSize: 1024 } }
        : DEFAULT_LOAD_BALANCER;
  return { policy: { loadBalancer, connectionPool: DEFAULT_CONNECTION_POOL, outlierDetection: null, retryBudget: null }, problems: [] };
}
