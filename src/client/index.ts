// sluice/client: client-side balancing for @grpc/grpc-js.
//
//   import { register } from "sluice/client";
//   register();
//   new EchoClient("dns:///echo.default.svc:50051", credentials.createInsecure(), {
//     "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ least_request: { choiceCount: 2 } }] }),
//   });
export { register, SLUICE_LB_POLICIES } from "./register.js";
export { ConfigError } from "./config-fields.js";
export { LEAST_REQUEST, LeastRequestConfig, MAX_CHOICE_COUNT } from "./least-request.js";
export { PEAK_EWMA, PeakEwmaConfig } from "./peak-ewma.js";
export { RING_HASH, RingHashConfig } from "./ring-hash.js";
export { EndpointBalancer, endpointBalancerType, type EndpointPolicyConfig } from "./endpoint-balancer.js";
