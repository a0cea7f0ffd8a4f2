// RpcStats: what the RPC-end hook counts, and what it forgets when clusters and endpoints go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RpcStats } from "../../src/admin/rpc-stats.js";
import type { RpcOutcome } from "../../src/proxy/forwarder.js";

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

test("prune forgets clusters and endpoints no longer live, and keeps the pseudo-clusters named", () => {
  const stats = new RpcStats();
  stats.record(outcome("a|1|", "10.0.0.1:1"));
  stats.record(outcome("a|1|", "10.0.0.2:1"));
  stats.record(outcome("b|1|", "10.0.0.3:1"));
  stats.record(outcome("unknown", null, 12));
  stats.prune(new Map([["a|1|", new Set(["10.0.0.2:1"])]]), ["unknown"]);
  assert.deepEqual([...stats.clusters.keys()].sort(), ["a|1|", "unknown"]);
  assert.deepEqual([...stats.clusters.get("a|1|")!.endpoints.keys()], ["10.0.0.2:1"]);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 0);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.2:1"), 1);
  // The cluster's own counts stay with the cluster.
  assert.equal(stats.clusters.get("a|1|")!.total, 2);
});
