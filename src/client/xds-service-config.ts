// A cluster's TrafficPolicy (mapped back from xDS by configFromXds()) as the gRPC service
// config a sluice:/// channel runs: sluice's own client policies, chosen as the proxy would
// balance the same DestinationRule.
//
//   LEAST_REQUEST (Istio's default)         -> least_request { choiceCount }
//   ROUND_ROBIN, RANDOM, PASSTHROUGH         -> round_robin (grpc-js's; no client has RANDOM)
//   consistentHash on a header (RING_HASH and the route's hash_policy)
//                                            -> ring_hash { requestHashHeader, minRingSize }
//   connectionPool.http.maxRequestsPerConnection > 0
//                                            -> max_requests_per_connection around it
//   outlierDetection                         -> sluice_outlier around that
import type { LoadBalancingConfig, ServiceConfig } from "@grpc/grpc-js";
import type { TrafficPolicy } from "../config/types.js";
import { formatDuration } from "../config/duration.js";
import { LEAST_REQUEST, MAX_CHOICE_COUNT } from "./least-request.js";
import { RING_HASH } from "./ring-hash.js";
import { MAX_REQUESTS_PER_CONNECTION_POLICY } from "./cycling-policy.js";
import { SLUICE_OUTLIER_POLICY } from "./outlier-policy.js";

type LbConfig = LoadBalancingConfig;

export interface PolicyInputs {
  /** configFromXds() puts the routes' hash_policy header into a RING_HASH cluster's key. */
  readonly policy: TrafficPolicy;
  /** The cluster's least_request choice_count (Envoy's default 2). */
  readonly choiceCount: number;
}

export interface MappedServiceConfig {
  readonly serviceConfig: ServiceConfig;
  /** What could not be carried over (the channel still gets the rest). */
  readonly problems: readonly string[];
}

export function serviceConfigFor(inputs: PolicyInputs): MappedServiceConfig {
  const problems: string[] = [];
  let lb = endpointPolicy(inputs, problems);
  const p = inputs.policy;
  const maxRequests = p.connectionPool.http.maxRequestsPerConnection;
  if (maxRequests > 0) lb = { [MAX_REQUESTS_PER_CONNECTION_POLICY]: { maxRequestsPerConnection: maxRequests, childPolicy: [lb] } };
  const o = p.outlierDetection;
  if (o !== null) {
    lb = {
      [SLUICE_OUTLIER_POLICY]: {
        consecutive5xxErrors: o.consecutive5xxErrors,
        consecutiveGatewayErrors: o.consecutiveGatewayErrors,
        interval: formatDuration(o.intervalMs),
        baseEjectionTime: formatDuration(o.baseEjectionTimeMs),
        maxEjectionPercent: o.maxEjectionPercent,
        childPolicy: [lb],
      },
    };
  }
  return { serviceConfig: { loadBalancingConfig: [lb], methodConfig: [] }, problems };
}

function endpointPolicy(inputs: PolicyInputs, problems: string[]): LbConfig {
  const lb = inputs.policy.loadBalancer;
  if (lb.kind === "consistentHash") {
    if (lb.key.kind !== "header") {
      problems.push(`consistent hashing on ${lb.key.kind} has no gRPC client equivalent (only a header can key the ring); round_robin instead`);
      return { round_robin: {} };
    }
    // No route hash_policy (an empty header name): Envoy hashes each request at random; round robin spreads as well.
    if (lb.key.name === "") return { round_robin: {} };
    const header = lb.key.name;
    const minRingSize = lb.algorithm.kind === "ringHash" ? lb.algorithm.minimumRingSize : undefined;
    return { [RING_HASH]: { requestHashHeader: header, ...(minRingSize === undefined ? {} : { minRingSize }) } };
  }
  if (lb.policy === "LEAST_REQUEST") return { [LEAST_REQUEST]: { choiceCount: Math.min(Math.max(2, inputs.choiceCount), MAX_CHOICE_COUNT) } };
  return { round_robin: {} };
}
