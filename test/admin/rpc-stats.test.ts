// RpcStats: what the RPC-end hook counts, and what it forgets when clusters and endpoints go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PRUNE_AFTER_MS, RpcStats } from "../../src/admin/rpc-stats.js";
import type { LbEndpoint } from "../../src/balancer/types.js";
import type { RpcOutcome } from "../../src/proxy/forwarder.js";
import { AttemptEnd } from "../../src/balancer/outcome.js";
import { ResponseFlag } from "../../src/proxy/response-flags.js";

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
  flag: endpoint === null ? ResponseFlag.NO_HEALTHY_UPSTREAM : ResponseFlag.NONE,
});

const endpoint = (key: string): LbEndpoint => ({
  key,
  address: key.split(":")[0]!,
  port: 1,
  weight: 1,
  labels: {},
  load: { activeRequests: 0, activeConnections: 0 },
});

test("per endpoint every attempt counts; errors are 5xx, failed connects, resets and timeouts", () => {
  const stats = new RpcStats();
  const a = stats.attemptObserver("a|1|");
  const e = endpoint("10.0.0.1:1");
  a.attemptEnded({ endpoint: e, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 1 });
  a.attemptEnded({ endpoint: e, end: AttemptEnd.RESPONSE, grpcStatus: 5, durationMs: 1 }); // NOT_FOUND: 404, not an error
  a.attemptEnded({ endpoint: e, end: AttemptEnd.RESPONSE, grpcStatus: 14, durationMs: 1 }); // UNAVAILABLE: 503
  a.attemptEnded({ endpoint: e, end: AttemptEnd.CONNECT_FAILURE, grpcStatus: -1, durationMs: 1 });
  a.attemptEnded({ endpoint: e, end: AttemptEnd.TIMEOUT, grpcStatus: -1, durationMs: 1 });
  assert.deepEqual(stats.clusters.get("a|1|")!.endpoints.get(e.key), { total: 5, errors: 3, absentSince: null });
});

test("a client's cancel counts as an attempt, not as an error", () => {
  const stats = new RpcStats();
  const e = endpoint("10.0.0.1:1");
  stats.attemptObserver("a|1|").attemptEnded({ endpoint: e, end: AttemptEnd.CANCELLED, grpcStatus: -1, durationMs: 1 });
  assert.deepEqual(stats.clusters.get("a|1|")!.endpoints.get(e.key), { total: 1, errors: 0, absentSince: null });
});

test("prune forgets clusters and endpoints PRUNE_AFTER_MS after they left; one that comes back sooner keeps counting up", () => {
  const stats = new RpcStats();
  const a = stats.attemptObserver("a|1|");
  for (const key of ["10.0.0.1:1", "10.0.0.2:1"]) a.attemptEnded({ endpoint: endpoint(key), end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 1 });
  stats.attemptObserver("b|1|").attemptEnded({ endpoint: endpoint("10.0.0.3:1"), end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 1 });
  const onlySecond = new Map([["a|1|", new Set(["10.0.0.2:1"])]]);
  const both = new Map([["a|1|", new Set(["10.0.0.1:1", "10.0.0.2:1"])]]);
  // 10.0.0.1 flaps: gone for a while, back before the grace ends: its count goes on from 1.
  stats.prune(onlySecond, 0);
  stats.prune(onlySecond, PRUNE_AFTER_MS - 1);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 1);
  assert.equal(stats.endpointTotal("b|1|", "10.0.0.3:1"), 1);
  stats.prune(both, PRUNE_AFTER_MS);
  a.attemptEnded({ endpoint: endpoint("10.0.0.1:1"), end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 1 });
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 2);
  // Gone for good: forgotten once the grace has passed since it left (b since the first prune).
  stats.prune(onlySecond, PRUNE_AFTER_MS + 1);
  stats.prune(onlySecond, 2 * PRUNE_AFTER_MS);
  assert.deepEqual([...stats.clusters.keys()], ["a|1|"]);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 2);
  stats.prune(onlySecond, 2 * PRUNE_AFTER_MS + 1);
  assert.deepEqual([...stats.clusters.get("a|1|")!.endpoints.keys()], ["10.0.0.2:1"]);
  assert.equal(stats.endpointTotal("a|1|", "10.0.0.1:1"), 0);
});

test("Istio's cells are per destination host: every cluster (subset, port) of a host adds to one series, which no prune takes away", () => {
  const stats = new RpcStats();
  stats.record(outcome("h|50051|", "10.0.0.1:1"));
  stats.record(outcome("h|50051|v1", "10.0.0.1:1"));
  stats.record(outcome("h|50051|v2", "10.0.0.1:1"));
  stats.record(outcome("h|8080|", "10.0.0.1:1", 14));
  stats.record(outcome("unknown", null, 12));
  stats.prune(new Map([["h|50051|", new Set(["10.0.0.1:1"])]]), 0);
  stats.prune(new Map([["h|50051|", new Set(["10.0.0.1:1"])]]), 2 * PRUNE_AFTER_MS);
  assert.deepEqual([...stats.hosts.keys()].sort(), ["h", "unknown"]);
  const cells = stats.hosts.get("h")!.cells.filter((c) => c !== undefined);
  assert.deepEqual(
    cells.map((c) => [c.status, c.count]),
    [
      [0, 3],
      [14, 1],
    ],
  );
});
