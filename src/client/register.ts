// register(): adds sluice's load-balancing policies (and, once merged, its resolvers and
// wrapper policies) to @grpc/grpc-js. Explicit and idempotent, like registerBuiltins():
// importing sluice/client changes nothing in grpc-js until the program asks for it.
// grpc-js's own policies (pick_first, round_robin, weighted_round_robin, outlier_detection)
// are left as they are: `loadBalancingConfig: [{ round_robin: {} }]` keeps meaning grpc-js's.
import { registerBuiltins } from "../balancer/registry.js";
import { LEAST_REQUEST, registerLeastRequest } from "./least-request.js";
import { PEAK_EWMA, registerPeakEwma } from "./peak-ewma.js";
import { RING_HASH, registerRingHash } from "./ring-hash.js";

/** The grpc-js load-balancing policy names register() adds. */
export const SLUICE_LB_POLICIES: readonly string[] = [LEAST_REQUEST, PEAK_EWMA, RING_HASH];

let registered = false;

export function register(): void {
  if (registered) return;
  registered = true;
  // The shared policy registry (src/balancer) that the proxy and simulator also use.
  registerBuiltins();
  registerLeastRequest();
  registerPeakEwma();
  registerRingHash();
  // ---- MERGE POINT: the other sluice/client parts register here (issue 7) ----
  // wrapper policies: src/client/outlier-policy.ts (sluice_outlier),
  //                   src/client/cycling-policy.ts (max_requests_per_connection);
  // resolvers:        src/client/dns-resolver.ts, src/client/static-resolver.ts.
  // ---- end of merge point ----
}
