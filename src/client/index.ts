// sluice/client: client-side balancing for @grpc/grpc-js.
//
//   import { register } from "sluice/client";
//   register();
//   new EchoClient("dns:///echo.default.svc:50051", credentials.createInsecure(), {
//     "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ least_request: { choiceCount: 2 } }] }),
//   });
export { register, SLUICE_LB_POLICIES, type RegisterOptions } from "./register.js";
export { ConfigError } from "./config-fields.js";
export { ErrorCode, InvalidArgumentError, SluiceError } from "../core/errors.js";
export { LEAST_REQUEST, LeastRequestConfig, MAX_CHOICE_COUNT } from "./least-request.js";
export { PEAK_EWMA, PeakEwmaConfig } from "./peak-ewma.js";
export { RING_HASH, RingHashConfig } from "./ring-hash.js";
export { EndpointBalancer, endpointBalancerType, type EndpointPolicyConfig } from "./endpoint-balancer.js";
export { SLUICE_OUTLIER_POLICY, SLUICE_CLOCK_OPTION, SluiceOutlierConfig } from "./outlier-policy.js";
export { MAX_REQUESTS_PER_CONNECTION_POLICY } from "./cycling-policy.js";
export { registerSluiceResolvers } from "./resolvers.js";
export { CONTROL_PLANE_ENV } from "./sluice-resolver.js";
export { DNS_REFRESH_INTERVAL_OPTION, DNS_MIN_TIME_OPTION } from "./dns-resolver.js";
export { recommendedChannelOptions, type KeepaliveServerPolicy } from "./channel-options.js";
export { watchState, type StateChange, type ChannelState } from "./watch-state.js";
