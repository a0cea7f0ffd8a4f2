// xDS -> config, as a round trip: configFromXds(decode(buildResources(config))) gives back the
// config's clusters and virtual hosts, whole objects compared, for every field the encoding
// carries; fields it does not carry are named in `carried()` below, so a field the mapping
// drops fails the comparison. Then what a control plane other than sluice's may send: Envoy's
// defaults for unset fields, problems instead of throws, subset clusters' hash keys in linear
// time, and a mapping that fails whole (nothing to apply). Cluster and route limits:
// from-xds-cluster.test.ts, from-xds-routes.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Cluster, HashKeySource, HttpRoute, ProxyConfig, RetryCondition, RetryPolicy } from "../../src/config/types.js";
import { DEFAULT_CONNECTION_POOL } from "../../src/config/limits.js";
import { configFromXds } from "../../src/xds-client/from-xds.js";
import { NO_HASH_POLICY } from "../../src/xds-client/from-xds-cluster.js";
import { NO_RETRY } from "../../src/xds-client/from-xds-routes.js";
import { buildResources, type ResourceSet } from "../../src/xds-server/to-xds.js";
import { TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import type { XdsResources } from "../../src/xds-client/decoded-resources.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { route, staticCluster, xdsResources, type Msg } from "./decoded-messages.js";

function decode(set: ResourceSet): XdsResources {
  const kind = (t: string): Map<string, Record<string, unknown>> => new Map([...(set.byType.get(t) ?? [])].map(([n, any]) => [n, unpackAny(any)]));
  return { listeners: kind(TYPE_URL.listener), routes: kind(TYPE_URL.route), clusters: kind(TYPE_URL.cluster), endpoints: kind(TYPE_URL.endpoint) };
}

/** The retry_on conditions xds-server/to-xds.ts sends (gRPC clients act on no others). */

/** What the xDS encoding carries of a cluster: everything but what is reset here. */
function carriedCluster(c: Cluster): Cluster {
  const lb = c.policy.loadBalancer;
  const p = c.policy;
  return {
    ...c,
    // Not carried: labels (a subset's endpoints are already filtered).
    endpoints: c.endpoints.map((e) => ({ ...e, weight: Math.max(1, e.weight), labels: {} })),
    policy: {
      // RANDOM and PASSTHROUGH travel as ROUND_ROBIN, maglev as a 1024-entry ring; only a header key travels (on the route).
      loadBalancer:
        lb.kind === "simple"
          ? { kind: "simple", policy: lb.policy === "LEAST_REQUEST" ? "LEAST_REQUEST" : "ROUND_ROBIN" }
          : {
              kind: "consistentHash",
              key: lb.key.kind === "header" ? lb.key : NO_HASH_POLICY,
              algorithm: lb.algorithm.kind === "ringHash" ? lb.algorithm : { kind: "ringHash", minimumRingSize: 1024 },
            },
      // Not carried: the TCP idle timeout (HttpProtocolOptions carries the HTTP one).
      connectionPool: {
        tcp: { ...p.connectionPool.tcp, idleTimeoutMs: DEFAULT_CONNECTION_POOL.tcp.idleTimeoutMs },
        http: p.connectionPool.http,
      },
      outlierDetection: p.outlierDetection,
      // Not carried: the retry budget (max_retries is).
      retryBudget: null,
      tls: null,
    },
  };
}

/** Only gRPC retry conditions travel; Envoy's connect-failure etc., status codes and the previous-hosts predicate do not. */
function carriedRetry(r: RetryPolicy): RetryPolicy {
  return r.attempts === 0 || r.retryOn.size === 0 ? NO_RETRY : r;
}

function carriedRoute(r: HttpRoute): HttpRoute {
  return { ...r, destinations: r.destinations.filter((d) => d.weight > 0), retry: carriedRetry(r.retry) };
}

/** Routes by domain: what the router looks up (a VirtualService's hosts come back one virtual host each). */
function routesByDomain(vhs: ProxyConfig["virtualHosts"]): Map<string, HttpRoute[]> {
  const out = new Map<string, HttpRoute[]>();
  for (const vh of vhs) for (const d of vh.domains) if (!out.has(d)) out.set(d, [...vh.routes]);
  return out;
}

function roundTrip(yaml: string): { config: ProxyConfig; back: ReturnType<typeof configFromXds> } {
  const config = parseConfig(yaml);
  return { config, back: configFromXds(decode(buildResources(config))) };
}

function assertRoundTrip(yaml: string, label: string): void {
  const { config, back } = roundTrip(yaml);
  assert.deepEqual(back.problems, [], label);
  const expected = new Map([...config.clusters].map(([name, c]) => [name, carriedCluster(c)]));
  assert.deepEqual(back.clusters, expected, label);
  const expectedRoutes = new Map([...routesByDomain(config.virtualHosts)].map(([d, rs]) => [d, rs.map(carriedRoute).filter((r) => r.destinations.length > 0)]));
  assert.deepEqual(routesByDomain(back.virtualHosts), expectedRoutes, label);
}

const ECHO = serviceEntryYaml("echo", [7001, 7002]);
const SUBSETS = `  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;
const WEIGHTED_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo }
spec:
  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /echo. }, headers: { x-user: { exact: bob } } }]
      timeout: 2s
      route:
        - { destination: { host: echo, subset: v1 }, weight: 80 }
        - { destination: { host: echo, subset: v2 }, weight: 20 }
    - match: [{ uri: { exact: /echo.Echo/Ping } }, { uri: { regex: "/echo\\\\..*/Stream.*" }, headers: { x-tier: { prefix: gold } } }]
      retries: { attempts: 3, perTryTimeout: 500ms, retryOn: "unavailable,internal,5xx", backoff: 100ms }
      route:
        - { destination: { host: echo, subset: v2 } }
    - retries: { attempts: 0 }
      route:
        - { destination: { host: echo, subset: v1 }, weight: 100 }
        - { destination: { host: echo, subset: v2 }, weight: 0 }
`;

const CASES: readonly (readonly [string, string])[] = [
  ["a ServiceEntry alone (LEAST_REQUEST, Istio's default retries)", ECHO],
  [
    "subsets and weighted, matched, timed, retried routes",
    `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }")}\n${SUBSETS}---\n${WEIGHTED_VS}`,
  ],
  [
    "consistent hash on a header, ring size, inherited by subsets",
    `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user, ringHash: { minimumRingSize: 2048 } } }")}\n${SUBSETS}`,
  ],
  [
    "limits and outlier detection, every carried field off its default",
    `${ECHO}\n---\n${destinationRuleYaml(
      "echo",
      `    connectionPool:
      tcp: { maxConnections: 10, connectTimeout: 3s, maxConnectionDuration: 1m, idleTimeout: 5m }
      http: { http1MaxPendingRequests: 5, http2MaxRequests: 7, maxRetries: 4, maxRequestsPerConnection: 9, maxConcurrentStreams: 50 }
    outlierDetection:
      consecutive5xxErrors: 3
      consecutiveGatewayErrors: 2
      interval: 2s
      baseEjectionTime: 1m
      maxEjectionPercent: 50
      minHealthPercent: 20
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 7
    retryBudget: { percent: 30 }`,
    )}`,
  ],
  [
    "outlier detection with 5xx counting off",
    `${ECHO}\n---\n${destinationRuleYaml("echo", "    outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 4, interval: 1500ms }")}`,
  ],
  ["RANDOM travels as round robin", `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { simple: RANDOM }")}`],
  [
    "maglev travels as a ring",
    `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }")}`,
  ],
  ["endpoint weights", serviceEntryYaml("echo", [7001, 7002, 7003], "      weight: 3\n")],
  [
    "DNS resolution and a Kubernetes FQDN (two domains)",
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: grpc }
spec:
  hosts: [grpc.default.svc.cluster.local]
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  resolution: DNS
  endpoints:
    - { address: pod-a.example, weight: 2 }
    - { address: pod-b.example }
`,
  ],
  [
    "two ports: the second port's cluster comes back, its domain stays the first port's",
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo]
  ports:
    - { number: 50051, name: grpc, protocol: GRPC }
    - { number: 8080, name: admin, protocol: GRPC }
  resolution: STATIC
  endpoints:
    - { address: 127.0.0.1, ports: { grpc: 7001, admin: 7002 } }
`,
  ],
  [
    "two hosts, one VirtualService naming both",
    `${ECHO}\n---\n${serviceEntryYaml("other", [7005])}\n---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: both }
spec:
  hosts: [echo, other]
  http:
    - match: [{ headers: { x-to: { exact: other } } }]
      route: [{ destination: { host: other } }]
    - route: [{ destination: { host: echo } }]
`,
  ],
];

for (const [label, yaml] of CASES) {
  test(`round trip: ${label}`, () => assertRoundTrip(yaml, label));
}

test("the round trip is not vacuous: the mapped clusters carry the config's values", () => {
  const { back } = roundTrip(CASES[3]![1]);
  const c = back.clusters.get("echo|50051|");
  assert.ok(c !== undefined);
  assert.equal(c.policy.connectionPool.http.http2MaxRequests, 7);
  assert.equal(c.policy.connectionPool.tcp.connectTimeoutMs, 3000);
  assert.equal(c.policy.outlierDetection?.consecutiveLocalOriginFailures, 7);
  assert.equal(c.policy.outlierDetection?.minHealthPercent, 20);
  const hashed = roundTrip(CASES[2]![1]).back.clusters.get("echo|50051|v2");
  assert.deepEqual(hashed?.policy.loadBalancer, {
    kind: "consistentHash",
    key: { kind: "header", name: "x-user" },
    algorithm: { kind: "ringHash", minimumRingSize: 2048 },
  });
  const routes = roundTrip(CASES[1]![1]).back.virtualHosts[0]?.routes ?? [];
  assert.equal(routes.length, 3);
  assert.equal(routes[1]?.matches.length, 2, "Envoy routes of one VirtualService route (two matches) come back as one");
  assert.deepEqual(routes[1]?.retry.retryOn, new Set<RetryCondition>(["unavailable", "internal", "5xx"]), "HTTP conditions travel too");
});

test("unset Envoy fields get Envoy's defaults; several localities give all their endpoints, weighted", () => {
  const resources: XdsResources = {
    listeners: new Map(),
    routes: new Map([
      [
        "r",
        {
          name: "r",
          virtual_hosts: [
            {
              domains: ["svc.example:443", "Svc.Example"],
              routes: [{ match: { prefix: "" }, route: { cluster: "backend", hash_policy: [{ connection_properties: { source_ip: true } }] } }],
            },
          ],
        },
      ],
    ]),
    clusters: new Map([["backend", { name: "backend", type: "EDS", eds_cluster_config: { service_name: "backend-eps" }, lb_policy: "RING_HASH" }]]),
    endpoints: new Map([
      [
        "backend-eps",
        {
          cluster_name: "backend-eps",
          endpoints: [
            {
              locality: { zone: "a" },
              load_balancing_weight: { value: 4 },
              lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }],
            },
            {
              locality: { zone: "b" },
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 80 } } }, load_balancing_weight: { value: 7 } },
                { endpoint: { address: { socket_address: { address: "10.0.0.3", port_value: 80 } } }, health_status: "UNHEALTHY" },
              ],
            },
            { priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.9", port_value: 80 } } } }] },
          ],
        },
      ],
    ]),
  };
  const back = configFromXds(resources);
  const c = back.clusters.get("backend|0|");
  assert.ok(c !== undefined, JSON.stringify([...back.clusters.keys()]));
  assert.deepEqual(
    c.endpoints.map((e) => [e.address, e.weight]),
    [
      ["10.0.0.1", 4],
      ["10.0.0.2", 7],
    ],
  );
  assert.deepEqual(c.policy.loadBalancer, {
    kind: "consistentHash",
    key: { kind: "sourceIp" } satisfies HashKeySource,
    algorithm: { kind: "ringHash", minimumRingSize: 1024 },
  });
  assert.deepEqual(
    [
      c.policy.connectionPool.tcp.maxConnections,
      c.policy.connectionPool.http.http1MaxPendingRequests,
      c.policy.connectionPool.http.http2MaxRequests,
      c.policy.connectionPool.http.maxRetries,
    ],
    [1024, 1024, 1024, 3],
  );
  assert.equal(c.policy.connectionPool.tcp.connectTimeoutMs, 5000);
  assert.deepEqual(back.virtualHosts, [
    { domains: ["svc.example"], routes: [{ matches: [], destinations: [{ cluster: "backend|0|", weight: 100 }], timeoutMs: null, retry: NO_RETRY }] },
  ]);
  assert.deepEqual(back.problems, ["ClusterLoadAssignment backend: 1 endpoint(s) of priority 1 (failover) ignored: sluice balances over priority 0 only"]);
});

test("what sluice cannot map becomes problems, never a throw, and the rest still maps", () => {
  const ok = decode(buildResources(parseConfig(ECHO)));
  const routeName = "outbound|50051||echo";
  const rc = ok.routes.get(routeName) as { virtual_hosts: { domains: string[]; routes: unknown[] }[] };
  const vh = rc.virtual_hosts[0]!;
  const resources: XdsResources = {
    ...ok,
    routes: new Map([
      [
        routeName,
        {
          ...rc,
          virtual_hosts: [
            {
              ...vh,
              domains: [...vh.domains, "*"],
              routes: [
                { match: { prefix: "/a" }, direct_response: { status: 503 } },
                { match: { prefix: "/b", query_parameters: [{ name: "q" }] }, route: { cluster: routeName } },
                { match: { prefix: "/c" }, route: { cluster: "outbound|1|x|nowhere" } },
                { match: { safe_regex: { regex: "(" } }, route: { cluster: routeName } },
                { match: { prefix: "/d" }, route: { cluster: "outbound|9|x|odd" } },
                { match: { prefix: "/e", headers: [{ name: "x-a", string_match: { exact: "b", ignore_case: true } }] }, route: { cluster: routeName } },
                ...vh.routes,
              ],
            },
          ],
        },
      ],
      ["junk", { name: 7, virtual_hosts: "no" }],
    ]),
    clusters: new Map<string, Record<string, unknown>>([
      ...ok.clusters,
      ["outbound|9|x|odd", { name: "outbound|9|x|odd", type: "ORIGINAL_DST", transport_socket: { name: "tls" } }],
      [
        "big-ring",
        { name: "big-ring", type: "STATIC", lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: { value: 1e9 } }, connect_timeout: {} },
      ],
      [
        "maglev",
        { name: "maglev", type: "STATIC", lb_policy: "MAGLEV", maglev_lb_config: { table_size: { value: 100 } }, outlier_detection: { interval: {} } },
      ],
      [
        "weird",
        {
          name: "weird",
          type: "EDS",
          lb_policy: "CLUSTER_PROVIDED",
          circuit_breakers: { thresholds: "x" },
          outlier_detection: { interval: "soon", enforcing_success_rate: { value: 100 } },
          health_checks: [{}],
        },
      ],
    ]),
    endpoints: new Map<string, Record<string, unknown>>([
      ...ok.endpoints,
      ["weird", { endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "/tmp/s" } } } }, 42] }] }],
    ]),
  };
  const back = configFromXds(resources);
  const expectations: RegExp[] = [
    /virtual host echo:50051: domain "\*": wildcard domains are not supported/,
    /route 0: the direct_response action is not supported; the route is dropped/,
    /route 1: match.query_parameters is not supported; the route is dropped/,
    /route 2: cluster "outbound\|1\|x\|nowhere" is not available; its requests get UNAVAILABLE/,
    /route 3: match.safe_regex "\(" is not a valid regular expression/,
    /route 4: cluster "outbound\|9\|x\|odd" is not available; its requests get UNAVAILABLE/,
    /route 5: header x-a: ignore_case is not supported; the route is dropped/,
    /Cluster outbound\|9\|x\|odd: type ORIGINAL_DST is not supported/,
    /Cluster weird: health_checks is not supported by sluice; ignored/,
    /Cluster weird: lb_policy CLUSTER_PROVIDED is not supported; round robin is used/,
    /Cluster weird: outlier_detection.enforcing_success_rate 100: statistical ejection is not supported/,
    /Cluster big-ring: ring_hash_lb_config.minimum_ring_size 1000000000 is above sluice's 8388608; 1024 is used/,
    /Cluster big-ring: connect_timeout 0 is not allowed; the default is used/,
    /Cluster maglev: maglev_lb_config.table_size 100 is not a prime up to 5000011; 65537 is used/,
    /Cluster maglev: outlier_detection.interval 0 is not allowed; the default is used/,
    /ClusterLoadAssignment weird: an endpoint without a socket address and port_value is not supported/,
  ];
  for (const re of expectations)
    assert.ok(
      back.problems.some((p) => re.test(p)),
      `${re} in:\n${back.problems.join("\n")}`,
    );
  // The rest maps: echo's cluster, and its route (the last one) behind the dropped ones; the
  // routes to missing or unusable clusters stay (their requests must not fall through to the next route).
  assert.deepEqual([...back.clusters.keys()].sort(), ["big-ring|0|", "echo|50051|", "maglev|0|", "weird|0|", "xds-unavailable|0|"]);
  assert.deepEqual(back.clusters.get("xds-unavailable|0|")?.endpoints, []);
  assert.deepEqual(back.clusters.get("big-ring|0|")?.policy.loadBalancer, {
    kind: "consistentHash",
    key: NO_HASH_POLICY,
    algorithm: { kind: "ringHash", minimumRingSize: 1024 },
  });
  assert.deepEqual(back.clusters.get("weird|0|")?.endpoints, []);
  assert.equal(back.clusters.get("weird|0|")?.policy.outlierDetection?.intervalMs, 10_000);
  assert.deepEqual(
    back.virtualHosts.map((v) => [v.domains, v.routes.map((r) => r.destinations[0]?.cluster)]),
    [[["echo"], ["xds-unavailable|0|", "echo|50051|"]]],
  );
});

test("hostile shapes (wrong types everywhere) give problems or defaults, never a throw", () => {
  const junk: unknown[] = [null, 1, "x", [], { a: [null] }, { name: 1, type: {}, lb_policy: 3, load_assignment: { endpoints: [null, { lb_endpoints: {} }] } }];
  for (const j of junk) {
    const resources = {
      listeners: new Map([["l", j]]),
      routes: new Map([["r", { virtual_hosts: [j, { domains: [j], routes: [j, { match: j, route: j }] }] }]]),
      clusters: new Map([["c", j]]),
      endpoints: new Map([["c", j]]),
    } as unknown as XdsResources;
    const back = configFromXds(resources);
    // Each reader copes with the shape itself: the last-resort catch in configFromXds is not what saved it.
    assert.ok(!back.problems.some((p) => p.includes("cannot be mapped")), `${JSON.stringify(j)}: ${back.problems.join("\n")}`);
  }
});

/** `n` hosts, each with a ring hash cluster its route hashes by a header, and a v1 subset cluster no route names. */
function hostsWithSubsets(n: number): XdsResources {
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
  return xdsResources(clusters, hosts);
}

/** The CPU time `f` takes, in ms: what a busy machine's other processes leave unchanged (wall time is not). */
function cpuMs(f: () => void): number {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

test("subset clusters take their host's hash key in linear time (10k clusters)", (t) => {
  // Measured against 1k clusters in the same run, so the machine's speed cancels out: ten
  // times the clusters cost about ten times the CPU when linear, about a hundred when
  // quadratic (a search of every cluster for each subset's siblings).
  const n = 10_000;
  const small = hostsWithSubsets(n / 10);
  const large = hostsWithSubsets(n);
  let back = configFromXds(small); // a warm-up: the first run also compiles the code
  const smallMs = cpuMs(() => configFromXds(small));
  const largeMs = cpuMs(() => {
    back = configFromXds(large);
  });
  const lb = back.clusters.get(`h${n - 1}|80|v1`)?.policy.loadBalancer;
  assert.deepEqual(lb?.kind === "consistentHash" ? lb.key : undefined, { kind: "header", name: `x-k${n - 1}` });
  const ratio = largeMs / Math.max(smallMs, 1);
  t.diagnostic(`CPU: ${smallMs.toFixed(0)} ms for ${n / 10} hosts, ${largeMs.toFixed(0)} ms for ${n} (${ratio.toFixed(1)}x)`);
  assert.ok(ratio < 25, `10x the clusters took ${ratio.toFixed(1)}x the CPU (${Math.round(smallMs)} ms, then ${Math.round(largeMs)} ms)`);
});

test("resources no reader expected (a throwing getter) fail the mapping: `failed` says so, nothing is returned to apply", () => {
  const evil = Object.defineProperty({}, "type", {
    enumerable: true,
    get: () => {
      throw new Error("boom");
    },
  });
  const back = configFromXds(xdsResources([["a", evil]]));
  assert.match(back.failed ?? "", /cannot be mapped: boom/);
});
