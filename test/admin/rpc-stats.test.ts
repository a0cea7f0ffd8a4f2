// RpcStats: what the RPC-end hook counts, and what it forgets when clusters and endpoints go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RpcStats } from "../../src/admin/rpc-stats.js";
import type { LbEndpoint } from "../../src/balancer/types.js";
import type { RpcOutcome } from "../../src/proxy/forwarder.js";
import { AttemptEnd } from "../../src/upstream/attempt.js";

const outcome = (cluster: string, endpoint: string | null, status = 0): RpcOutcome => ({
  cluster,
  endpoint,
  status,
  local: endpoint === null,
  durationMs: 1,
  requestBytes: 10,
  responseBytes: 10,
  authority: "a",
  path: "/s/m",
  retries: 0,
});

const endpoint = (key: string): LbEndpoint => ({ key, address: key.split(":")[0]!, port: 1, weight: 1, labels: {}, load: { activeRequests: 0, activeConnections: 0 } });

test("per endpoint every attempt counts; errors are 5xx, failed connects, resets and timeouts", () => {
  const stats = new RpcStats();
  const a = stats.attemptObserver("a|1|");
  const e = endpoint("10.0.0.1:1");
  a.attemptEnded(e, AttemptEnd.RESPONSE, 0, 1);
  a.attemptEnded(e, AttemptEnd.RESPONSE, 5, 1); // NOT_FOUND: 404, not an error
  a.attemptEnded(e, AttemptEnd.RESPONSE, 14, 1); // UNAVAILABLE: 503
  a.attemptEnded(e, AttemptEnd.CONNECT_FAILURE, -1, 1);
  a.attemptEnded(e, AttemptEnd.TIMEOUT, -1, 1);
  assert.deepEqual(stats.clusters.get("a|1|")!.endpoints.get(e.key), { total: 5, errors: 3 });
});

test("prune forgets clusters and endpoints no longer live, and keeps the pseudo-clusters named", () => {
  const stats = new RpcStats();
  const a = stats.attemptObserver("a|1|");
  for (const key of ["10.0.0.1:1", "10.0.0.2:1"]) {
    stats.record(outcome("a|1|", key));
    a.attemptEnded(endpoint(key), AttemptEnd.RESPONSE, 0, 1);
  }
  stats.attemptObserver("b|1|").attemptEnded(endpoint("10.0.0.3:1"), AttemptEnd.RESPONSE, 0, 1);
  stats.record(outcome("unknown", null, 12));
  stats.prune(new Map([["a|1|", new Set(["10.0.0.2:1"])]]), ["unknown"]);
  assert.deepEqual([...stats.clusters.keys()].sort(), ["a|1|", "unknown"]);
  assert.deepEqual([...stats.clusters.get("a|1|")!.endpoints.keys()], ["10.0.0.2:1"]);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 0);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.2:1"), 1);
  // The cluster's own counts stay with the cluster.
  assert.equal(stats.clusters.get("a|1|")!.total, 2);
});
