// Policies by name. registerBuiltins() is explicit and idempotent (as grpc-js's index.ts
// calls each policy's setup()): importing a policy file registers nothing, so a program
// gets exactly the policies it wires up, and tests can see an empty registry.
import type { LoadBalancerSettings } from "../config/types.js";
import { ErrorCode, InvalidArgumentError, SluiceError } from "../core/errors.js";
import { leastRequestPolicy } from "./least-request.js";
import { maglevPolicy } from "./maglev.js";
import { passthroughPolicy } from "./passthrough.js";
import { randomPolicy } from "./random.js";
import { ringHashPolicy } from "./ring-hash.js";
import { roundRobinPolicy } from "./round-robin.js";
import type { PolicyDeps, PolicyFactory } from "./types.js";

/** Builds a policy from validated settings; throws if the settings are not for it. */
export type PolicyBuilder = (settings: LoadBalancerSettings, deps: PolicyDeps) => PolicyFactory;

/** No policy is registered under the name a cluster's settings call for (or none at all: registerBuiltins() was not called). */
export class UnknownPolicyError extends SluiceError {
  override readonly name = "UnknownPolicyError";
  readonly code = ErrorCode.UNKNOWN_POLICY;
}

const builders = new Map<string, PolicyBuilder>();

/** The registry name of a policy: the Istio simple name, RING_HASH or MAGLEV. */
export function policyName(settings: LoadBalancerSettings): string {
  if (settings.kind === "simple") return settings.policy;
  return settings.algorithm.kind === "ringHash" ? "RING_HASH" : "MAGLEV";
}

export function registerPolicy(name: string, builder: PolicyBuilder): void {
  builders.set(name, builder);
}

export function registeredPolicies(): string[] {
  return [...builders.keys()].sort();
}

export function registerBuiltins(): void {
  registerPolicy("ROUND_ROBIN", (_settings, deps) => roundRobinPolicy(deps));
  registerPolicy("LEAST_REQUEST", (_settings, deps) => leastRequestPolicy(deps));
  registerPolicy("RANDOM", (_settings, deps) => randomPolicy(deps));
  registerPolicy("PASSTHROUGH", (_settings, deps) => passthroughPolicy(deps));
  registerPolicy("RING_HASH", (settings, deps) => {
    if (settings.kind !== "consistentHash" || settings.algorithm.kind !== "ringHash") {
      throw new InvalidArgumentError(`RING_HASH needs consistentHash ringHash settings, got ${describe(settings)}`);
    }
    return ringHashPolicy(deps, { key: settings.key, minimumRingSize: settings.algorithm.minimumRingSize });
  });
  registerPolicy("MAGLEV", (settings, deps) => {
    if (settings.kind !== "consistentHash" || settings.algorithm.kind !== "maglev") {
      throw new InvalidArgumentError(`MAGLEV needs consistentHash maglev settings, got ${describe(settings)}`);
    }
    return maglevPolicy(deps, { key: settings.key, tableSize: settings.algorithm.tableSize });
  });
}

/**
 * The policy for a cluster's load-balancer settings. Call once per settings change, not
 * per endpoint update: the returned factory is what runs on every endpoint change.
 */
export function createPolicy(settings: LoadBalancerSettings, deps: PolicyDeps): PolicyFactory {
  const name = policyName(settings);
  if (builders.size === 0) {
    throw new UnknownPolicyError(`no load-balancing policies are registered (wanted ${name}): call registerBuiltins() at startup`);
  }
  const builder = builders.get(name);
  if (builder === undefined) {
    throw new UnknownPolicyError(`unknown load-balancing policy ${name}; registered: ${registeredPolicies().join(", ")}`);
  }
  return builder(settings, deps);
}

function describe(settings: LoadBalancerSettings): string {
  return settings.kind === "simple" ? `simple ${settings.policy}` : `consistentHash ${settings.algorithm.kind}`;
}
