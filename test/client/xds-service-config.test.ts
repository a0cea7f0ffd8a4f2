// A cluster's TrafficPolicy -> the service config of a sluice:/// channel, as a table; every
// result is parsed by grpc-js with sluice's policies registered, as the channel will.
import { test } from "node:test";
import assert from "node:assert/strict";
import { experimental } from "@grpc/grpc-js";
import { register } from "../../src/client/register.js";
import { serviceConfigFor, type PolicyInputs } from "../../src/client/xds-service-config.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER, DEFAULT_OUTLIER_DETECTION } from "../../src/config/limits.js";
import type { TrafficPolicy } from "../../src/config/types.js";

register();

const base: TrafficPolicy = {
  loadBalancer: DEFAULT_LOAD_BALANCER,
  connectionPool: DEFAULT_CONNECTION_POOL,
  outlierDetection: null,
  retryBudget: null,
  tls: null,
};
const inputs = (policy: Partial<TrafficPolicy>, more: Partial<PolicyInputs> = {}): PolicyInputs => ({
  policy: { ...base, ...policy },
  choiceCount: 2,
  ...more,
});
const ringHash = { kind: "consistentHash", key: { kind: "header", name: "x-user" }, algorithm: { kind: "ringHash", minimumRingSize: 512 } } as const;

const cases: { name: string; in: PolicyInputs; lb: Record<string, object>; problems?: RegExp }[] = [
  {
    name: "LEAST_REQUEST (the default) -> least_request with the cluster's choice_count",
    in: inputs({}, { choiceCount: 3 }),
    lb: { least_request: { choiceCount: 3 } },
  },
  { name: "a choice_count past 10 is capped", in: inputs({}, { choiceCount: 50 }), lb: { least_request: { choiceCount: 10 } } },
  { name: "ROUND_ROBIN -> round_robin", in: inputs({ loadBalancer: { kind: "simple", policy: "ROUND_ROBIN" } }), lb: { round_robin: {} } },
  { name: "RANDOM -> round_robin", in: inputs({ loadBalancer: { kind: "simple", policy: "RANDOM" } }), lb: { round_robin: {} } },
  {
    name: "RING_HASH keyed on the route's hash_policy header",
    in: inputs({ loadBalancer: ringHash }),
    lb: { ring_hash: { requestHashHeader: "x-user", minRingSize: 512 } },
  },
  {
    name: "RING_HASH without a route hash_policy (empty header): round_robin, as Envoy hashes at random",
    in: inputs({ loadBalancer: { ...ringHash, key: { kind: "header", name: "" } } }),
    lb: { round_robin: {} },
  },
  {
    name: "consistent hashing on the source IP: no client equivalent, round_robin and a problem",
    in: inputs({ loadBalancer: { kind: "consistentHash", key: { kind: "sourceIp" }, algorithm: { kind: "maglev", tableSize: 65537 } } }),
    lb: { round_robin: {} },
    problems: /sourceIp has no gRPC client equivalent/,
  },
  {
    name: "maxRequestsPerConnection wraps the endpoint policy; outlierDetection wraps that",
    in: inputs({
      connectionPool: { ...DEFAULT_CONNECTION_POOL, http: { ...DEFAULT_CONNECTION_POOL.http, maxRequestsPerConnection: 100 } },
      outlierDetection: { ...DEFAULT_OUTLIER_DETECTION, consecutive5xxErrors: 3, intervalMs: 1500, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
    }),
    lb: {
      sluice_outlier: {
        consecutive5xxErrors: 3,
        consecutiveGatewayErrors: 0,
        interval: "1500ms",
        baseEjectionTime: "1m",
        maxEjectionPercent: 50,
        childPolicy: [{ max_requests_per_connection: { maxRequestsPerConnection: 100, childPolicy: [{ least_request: { choiceCount: 2 } }] } }],
      },
    },
  },
];

for (const c of cases) {
  test(c.name, () => {
    const out = serviceConfigFor(c.in);
    assert.deepEqual(out.serviceConfig, { loadBalancingConfig: [c.lb], methodConfig: [] });
    if (c.problems === undefined) assert.deepEqual(out.problems, []);
    else assert.match(out.problems.join("; "), c.problems);
    // grpc-js (with sluice's policies registered) takes it as it is.
    assert.equal(experimental.parseLoadBalancingConfig(c.lb).getLoadBalancerName(), Object.keys(c.lb)[0]);
  });
}
