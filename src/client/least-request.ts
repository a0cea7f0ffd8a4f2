// `least_request` for grpc-js (gRFC A48) on sluice's LEAST_REQUEST policy
// (src/balancer/least-request.ts): power of `choiceCount` choices on requests in flight.
//
//   loadBalancingConfig: [{ least_request: { choiceCount: 2 } }]
//
// choiceCount defaults to 2; below 2 the config is rejected, above 10 it is capped at 10
// (A48: an untrusted config must not make every pick scan a large sample). One difference
// from A48's pseudo-code, inherited from Envoy's implementation that sluice follows: when
// choiceCount >= the number of READY endpoints, the picker scans them all instead of
// sampling with replacement, so the least loaded endpoint always wins.
import * as grpc from "@grpc/grpc-js";
import { leastRequestPolicy } from "../balancer/least-request.js";
import type { PolicyDeps, PolicyFactory } from "../balancer/types.js";
import { FieldReader } from "./config-fields.js";
import { endpointBalancerType, type EndpointPolicyConfig } from "./endpoint-balancer.js";

export const LEAST_REQUEST = "least_request";
export const DEFAULT_CHOICE_COUNT = 2;
/** A48's cap on choiceCount. */
export const MAX_CHOICE_COUNT = 10;

/** A validated least_request config (immutable). */
export class LeastRequestConfig implements EndpointPolicyConfig {
  constructor(readonly choiceCount: number = DEFAULT_CHOICE_COUNT) {}

  getLoadBalancerName(): string {
    return LEAST_REQUEST;
  }

  toJsonObject(): object {
    return { [LEAST_REQUEST]: { choiceCount: this.choiceCount } };
  }

  createPolicy(deps: PolicyDeps): PolicyFactory {
    return leastRequestPolicy({ ...deps, loadMetric: "activeRequests", choiceCount: this.choiceCount });
  }

  static createFromJson(json: unknown): LeastRequestConfig {
    const fields = new FieldReader(LEAST_REQUEST, json, ["choiceCount"]);
    const choiceCount = fields.integer("choiceCount", 2, Number.MAX_SAFE_INTEGER, DEFAULT_CHOICE_COUNT);
    fields.done();
    return new LeastRequestConfig(Math.min(choiceCount, MAX_CHOICE_COUNT));
  }
}

export function registerLeastRequest(): void {
  grpc.experimental.registerLoadBalancerType(LEAST_REQUEST, endpointBalancerType(LEAST_REQUEST), LeastRequestConfig);
}
