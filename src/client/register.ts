// register(): adds sluice's load-balancing policies, wrapper policies and resolvers to
// @grpc/grpc-js. Explicit and idempotent, like registerBuiltins():
// importing sluice/client changes nothing in grpc-js until the program asks for it.
// grpc-js's own policies (pick_first, round_robin, weighted_round_robin, outlier_detection)
// are left as they are: `loadBalancingConfig: [{ round_robin: {} }]` keeps meaning grpc-js's.
import { registerBuiltins } from "../balancer/registry.js";
import { LEAST_REQUEST, registerLeastRequest } from "./least-request.js";
import { PEAK_EWMA, registerPeakEwma } from "./peak-ewma.js";
import { RING_HASH, registerRingHash } from "./ring-hash.js";
import { MAX_REQUESTS_PER_CONNECTION_POLICY, registerMaxRequestsPerConnection } from "./cycling-policy.js";
import { registerSluiceOutlier, SLUICE_OUTLIER_POLICY } from "./outlier-policy.js";
import { registerSluiceResolvers } from "./resolvers.js";
import { setControlPlane } from "./sluice-resolver.js";

export interface RegisterOptions {
  /**
   * The sluice control plane ("host:port") that `sluice:///HOST` targets follow; overrides
   * the SLUICE_CONTROL_PLANE environment variable (a target's own authority,
   * `sluice://host:port/HOST`, overrides both). A later register() call may change it: it
   * applies to channels created after.
   */
  readonly controlPlane?: string;
}

/** The grpc-js load-balancing policy names register() adds. */
export const SLUICE_LB_POLICIES: readonly string[] = [LEAST_REQUEST, PEAK_EWMA, RING_HASH, SLUICE_OUTLIER_POLICY, MAX_REQUESTS_PER_CONNECTION_POLICY];

let registered = false;

/** Throws an InvalidArgumentError (grpcStatus INVALID_ARGUMENT) for a controlPlane that is not host:port. */
export function register(options: RegisterOptions = {}): void {
  if (options.controlPlane !== undefined) setControlPlane(options.controlPlane);
  if (registered) return;
  registered = true;
  // The shared policy registry (src/balancer) that the proxy and simulator also use.
  registerBuiltins();
  registerLeastRequest();
  registerPeakEwma();
  registerRingHash();
  // Wrappers over any child policy (grpc-js's or sluice's).
  registerSluiceOutlier();
  registerMaxRequestsPerConnection();
  // dns (re-resolving on a period and the records' TTL; replaces grpc-js's), static, and sluice (the control plane's).
  registerSluiceResolvers();
}
