// configFromXds() on clusters a file could not write: values that would hang or overflow
// the proxy (circuit breakers of 0, durations past the longest timer, endpoint weights above
// 128) and sizes that would overflow the stack. Each maps to something safe, with a problem.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "../../src/core/clock.js";
import { configFromXds } from "../../src/xds-client/from-xds.js";
import { endpoint, staticCluster, xdsResources } from "./decoded-messages.js";

test("circuit breaker thresholds of 0 (no RPC would ever pass) are taken as unlimited, with a problem", () => {
  const thresholds = { thresholds: [{ max_connections: { value: 0 }, max_pending_requests: {}, max_requests: { value: 0 }, max_retries: { value: 0 } }] };
  const back = configFromXds(xdsResources([staticCluster("a", { circuit_breakers: thresholds })]));
  const pool = back.clusters.get("a|0|")!.policy.connectionPool;
  assert.deepEqual(
    [pool.tcp.maxConnections, pool.http.http1MaxPendingRequests, pool.http.http2MaxRequests, pool.http.maxRetries],
    [Infinity, Infinity, Infinity, 0],
  );
  for (const f of ["max_connections", "max_pending_requests", "max_requests"]) {
    assert.ok(
      back.problems.some((p) => p.includes(`circuit_breakers ${f} 0 would let no request through`)),
      `${f}: ${back.problems.join("\n")}`,
    );
  }
});

test("durations beyond the longest timer are clamped to it, with a problem", () => {
  const back = configFromXds(
    xdsResources([
      staticCluster("a", { connect_timeout: { seconds: 3e6 }, outlier_detection: { interval: { seconds: 1e7 }, base_ejection_time: { seconds: 1e7 } } }),
    ]),
  );
  const c = back.clusters.get("a|0|")!;
  assert.equal(c.policy.connectionPool.tcp.connectTimeoutMs, MAX_TIMER_MS);
  assert.equal(c.policy.outlierDetection?.intervalMs, MAX_TIMER_MS);
  assert.equal(c.policy.outlierDetection?.baseEjectionTimeMs, MAX_TIMER_MS);
  assert.ok(
    back.problems.some((p) => /connect_timeout 3000000000 ms is above the longest timer/.test(p)),
    back.problems.join("\n"),
  );
});

test("endpoint weights above 128 are scaled into 1..128 keeping their ratios; at most 128 they are kept", () => {
  const back = configFromXds(
    xdsResources([
      staticCluster("a", {}, [endpoint(7001, 1000), endpoint(7002, 500), endpoint(7003, 1)]),
      staticCluster("b", {}, [endpoint(7001, 128), endpoint(7002, 3)]),
    ]),
  );
  assert.deepEqual(
    back.clusters.get("a|0|")?.endpoints.map((e) => e.weight),
    [128, 64, 1],
  );
  assert.deepEqual(
    back.clusters.get("b|0|")?.endpoints.map((e) => e.weight),
    [128, 3],
  );
  assert.deepEqual(back.problems, [
    "ClusterLoadAssignment a: endpoint weights up to 1000 are above 128; they are scaled down in proportion (the largest to 128)",
  ]);
});

test("150k localities map without overflowing the stack", () => {
  const many = Array.from({ length: 150_000 }, (_, i) => ({ priority: i % 2, lb_endpoints: i === 0 ? [endpoint(7001)] : [] }));
  const back = configFromXds(xdsResources([["a", { name: "a", type: "EDS" }]], [], [["a", { cluster_name: "a", endpoints: many }]]));
  assert.equal(back.failed, undefined, back.problems.join("\n"));
  assert.deepEqual(
    back.clusters.get("a|0|")?.endpoints.map((e) => e.port),
    [7001],
  );
});
