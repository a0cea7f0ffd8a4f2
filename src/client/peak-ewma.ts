// `peak_ewma` for grpc-js: Linkerd's latency-aware balancer (src/balancer/peak-ewma.ts).
//
//   loadBalancingConfig: [{ peak_ewma: { decay: "10s", defaultRtt: "30ms" } }]
//
// Both fields are optional durations ("10s", "1.5s", "30ms"); the defaults are Linkerd's.
// The latency fed back is the whole call, from the stream starting on the endpoint to its
// status (grpc-js tells a picker no earlier moment), so this policy suits unary calls and
// short streams; a long-lived stream would report its lifetime as one huge RTT.
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_PEAK_EWMA_DECAY_MS, DEFAULT_PEAK_EWMA_RTT_MS, peakEwmaPolicy } from "../balancer/peak-ewma.js";
import type { PolicyDeps, PolicyFactory } from "../balancer/types.js";
import { formatDuration } from "../config/duration.js";
import { FieldReader } from "./config-fields.js";
import { endpointBalancerType, type EndpointPolicyConfig } from "./endpoint-balancer.js";

export const PEAK_EWMA = "peak_ewma";

/** A validated peak_ewma config (immutable). */
export class PeakEwmaConfig implements EndpointPolicyConfig {
  constructor(
    readonly decayMs: number = DEFAULT_PEAK_EWMA_DECAY_MS,
    readonly defaultRttMs: number = DEFAULT_PEAK_EWMA_RTT_MS,
  ) {}

  getLoadBalancerName(): string {
    return PEAK_EWMA;
  }

  toJsonObject(): object {
    return { [PEAK_EWMA]: { decay: formatDuration(this.decayMs), defaultRtt: formatDuration(this.defaultRttMs) } };
  }

  createPolicy(deps: PolicyDeps): PolicyFactory {
    return peakEwmaPolicy(deps, { decayMs: this.decayMs, defaultRttMs: this.defaultRttMs });
  }

  static createFromJson(json: unknown): PeakEwmaConfig {
    const fields = new FieldReader(PEAK_EWMA, json, ["decay", "defaultRtt"]);
    const decay = fields.duration("decay", DEFAULT_PEAK_EWMA_DECAY_MS);
    const defaultRtt = fields.duration("defaultRtt", DEFAULT_PEAK_EWMA_RTT_MS);
    fields.done();
    return new PeakEwmaConfig(decay, defaultRtt);
  }
}

export function registerPeakEwma(): void {
  grpc.experimental.registerLoadBalancerType(PEAK_EWMA, endpointBalancerType(PEAK_EWMA), PeakEwmaConfig);
}
