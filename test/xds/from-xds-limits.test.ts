// configFromXds() on what a control plane may send that a file could not say: values that
// would hang or overflow the proxy, routes naming clusters it does not have, sizes that
// would overflow the stack or take quadratic time. Each maps to something safe, with a problem.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "../../src/core/clock.js";
import { configFromXds } from "../../src/xds/from-xds.js";
import type { XdsResources } from "../../src/xds/xds-resources.js";

type Msg = Record<string, unknown>;

function endpoint(port: number, weight?: number): Msg {
  return {
    endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
    ...(weight === undefined ? {} : { load_balancing_weight: { value: weight } }),
  };
}

function staticCluster(name: string, extra: Msg = {}, endpoints: Msg[] = [endpoint(7001)]): [string, Msg] {
  return [name, { name, type: "STATIC", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: endpoints }] }, ...extra }];
}

function resources(clusters: [string, Msg][], virtualHosts: Msg[] = [], endpoints: [string, Msg][] = []): XdsResources {
  return {
    listeners: new Map(),
    routes: new Map([["rc", { name: "rc", virtual_hosts: virtualHosts }]]),
    clusters: new Map(clusters),
    endpoints: new Map(endpoints),
  };
}

const route = (prefix: string, action: Msg): Msg => ({ match: { prefix }, route: action });

test("a route to a missing cluster keeps its requests (UNAVAILABLE) instead of falling through to the next route", () => {
  const back = configFromXds(
    resources([staticCluster("a")], [{ name: "v", domains: ["svc"], routes: [route("/pkg.Only/", { cluster: "gone" }), route("", { cluster: "a" })] }]),
  );
  assert.deepEqual(
    back.virtualHosts[0]?.routes.map((r) => r.destinations),
    [[{ cluster: "xds-unavailable|0|", weight: 100 }], [{ cluster: "a|0|", weight: 100 }]],
  );
  assert.deepEqual(back.clusters.get("xds-unavailable|0|")?.endpoints, []);
  assert.ok(
    back.problems.some((p) => /route 0: cluster "gone" is not available; its requests get UNAVAILABLE/.test(p)),
    back.problems.join("\n"),
  );
});

test("a weighted cluster that is missing or unusable keeps its share (UNAVAILABLE); the placeholder never takes a real cluster's name", () => {
  const back = configFromXds(
    resources(
      [staticCluster("a"), ["odd", { name: "odd", type: "ORIGINAL_DST" }], staticCluster("xds-unavailable")],
      [
        {
          name: "v",
          domains: ["svc"],
          routes: [
            route("", {
              weighted_clusters: {
                clusters: [
                  { name: "a", weight: { value: 50 } },
                  { name: "gone", weight: { value: 30 } },
                  { name: "odd", weight: { value: 20 } },
                ],
              },
            }),
          ],
        },
      ],
    ),
  );
  assert.deepEqual(back.virtualHosts[0]?.routes[0]?.destinations, [
    { cluster: "a|0|", weight: 50 },
    { cluster: "xds-unavailable-2|0|", weight: 50 },
  ]);
  assert.equal(back.clusters.get("xds-unavailable|0|")?.endpoints.length, 1, "the control plane's own cluster of that name is untouched");
  assert.deepEqual(back.clusters.get("xds-unavailable-2|0|")?.endpoints, []);
  assert.ok(
    back.problems.some((p) => /cluster "gone" is not available; its share \(30 of 100\) get UNAVAILABLE/.test(p)),
    back.problems.join("\n"),
  );
});

test("a bare-domain virtual host with no usable route does not shadow another's routes for that host", () => {
  const back = configFromXds(
    resources(
      [staticCluster("a")],
      [
        { name: "broken", domains: ["echo"], routes: [{ match: { prefix: "" }, direct_response: { status: 503 } }] },
        { name: "echo:80", domains: ["echo:80"], routes: [route("", { cluster: "a" })] },
      ],
    ),
  );
  assert.deepEqual(back.virtualHosts, [
    {
      domains: ["echo"],
      routes: [{ matches: [], destinations: [{ cluster: "a|0|", weight: 100 }], timeoutMs: null, retry: back.virtualHosts[0]!.routes[0]!.retry }],
    },
  ]);
  assert.ok(
    back.problems.some((p) => /virtual host broken: has no route sluice can use; its domains \(echo\) are left to other virtual hosts/.test(p)),
    back.problems.join("\n"),
  );
});

test("circuit breaker thresholds of 0 (no RPC would ever pass) are taken as unlimited, with a problem", () => {
  const thresholds = { thresholds: [{ max_connections: { value: 0 }, max_pending_requests: {}, max_requests: { value: 0 }, max_retries: { value: 0 } }] };
  const back = configFromXds(resources([staticCluster("a", { circuit_breakers: thresholds })]));
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
    resources([
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
    resources([
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
  const back = configFromXds(resources([["a", { name: "a", type: "EDS" }]], [], [["a", { cluster_name: "a", endpoints: many }]]));
  assert.equal(back.failed, undefined, back.problems.join("\n"));
  assert.deepEqual(
    back.clusters.get("a|0|")?.endpoints.map((e) => e.port),
    [7001],
  );
});

test("subset clusters take their host's hash key in linear time (10k clusters)", () => {
  const n = 10_000;
  const clusters: [string, Msg][] = [];
  const hosts: Msg[] = [];
  for (let i = 0; i < n; i++) {
    clusters.push(staticCluster(`outbound|80||h${i}`, { lb_policy: "RING_HASH" }));
    clusters.push(staticCluster(`outbound|80|v1|h${i}`, { lb_policy: "RING_HASH" }));
    hosts.push({
      name: `h${i}`,
      domains: [`h${i}`],
      routes: [route("", { cluster: `outbound|80||h${i}`, hash_policy: [{ header: { header_name: `x-k${i}` } }] })],
    });
  }
  const started = performance.now();
  const back = configFromXds(resources(clusters, hosts));
  const ms = performance.now() - started;
  const lb = back.clusters.get(`h${n - 1}|80|v1`)?.policy.loadBalancer;
  assert.deepEqual(lb?.kind === "consistentHash" ? lb.key : undefined, { kind: "header", name: `x-k${n - 1}` });
  // Quadratic took over 5 s here; linear takes well under one.
  assert.ok(ms < 3000, `mapping took ${Math.round(ms)} ms`);
});

test("resources no reader expected (a throwing getter) fail the mapping: `failed` says so, nothing is returned to apply", () => {
  const evil = Object.defineProperty({}, "type", {
    enumerable: true,
    get: () => {
      throw new Error("boom");
    },
  });
  const back = configFromXds(resources([["a", evil]]));
  assert.match(back.failed ?? "", /cannot be mapped: boom/);
});
