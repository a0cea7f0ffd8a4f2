// ProxyConfig -> xDS resources: each kind decoded back from its Any and checked field by field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildResources, xdsClusterName } from "../../src/xds-server/to-xds.js";
import { TYPE_URL, unpackAny, type AnyMessage } from "../../src/xds-proto/protos.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";

function decoded(yaml: string, typeUrl: string, name: string): Record<string, unknown> {
  const any = buildResources(parseConfig(yaml)).byType.get(typeUrl)?.get(name);
  assert.ok(any !== undefined, `no ${typeUrl} named ${name}`);
  return unpackAny(any);
}

function field(obj: unknown, ...path: (string | number)[]): unknown {
  let node = obj;
  for (const p of path) {
    assert.ok(typeof node === "object" && node !== null, `no ${path.join(".")}`);
    node = (node as Record<string | number, unknown>)[p];
  }
  return node;
}

const ECHO = serviceEntryYaml("echo", [7001, 7002]);
const CLUSTER = "outbound|50051||echo";

test("cluster names follow istiod's outbound|PORT|SUBSET|HOST", () => {
  assert.equal(xdsClusterName({ host: "echo", port: 50051, subset: null }), CLUSTER);
  assert.equal(xdsClusterName({ host: "a.b", port: 80, subset: "v1" }), "outbound|80|v1|a.b");
});

test("listeners `host` and `host:port` carry an HttpConnectionManager fetching RouteConfiguration outbound|PORT||HOST over ADS", () => {
  const names = [...(buildResources(parseConfig(ECHO)).byType.get(TYPE_URL.listener)?.keys() ?? [])].sort();
  assert.deepEqual(names, ["echo", "echo:50051"]);
  for (const name of names) {
    const l = decoded(ECHO, TYPE_URL.listener, name);
    assert.equal(l["name"], name);
    const hcmAny = field(l, "api_listener", "api_listener") as AnyMessage;
    assert.equal(hcmAny.type_url, TYPE_URL.httpConnectionManager);
    const hcm = unpackAny(hcmAny);
    assert.equal(field(hcm, "rds", "route_config_name"), CLUSTER);
    assert.deepEqual(field(hcm, "rds", "config_source", "ads"), {});
    assert.equal(field(hcm, "http_filters", 0, "name"), "envoy.filters.http.router");
    assert.equal(field(hcm, "http_filters", 0, "typed_config", "type_url"), TYPE_URL.router);
  }
});

test("the route configuration answers the host with and without port and routes to the cluster", () => {
  const rc = decoded(ECHO, TYPE_URL.route, CLUSTER);
  assert.equal(rc["name"], CLUSTER);
  assert.equal(field(rc, "virtual_hosts", 0, "name"), "echo:50051");
  assert.deepEqual(field(rc, "virtual_hosts", 0, "domains"), ["echo:50051", "echo"]);
  assert.equal(field(rc, "virtual_hosts", 0, "routes", 0, "match", "prefix"), "");
  assert.equal(field(rc, "virtual_hosts", 0, "routes", 0, "route", "cluster"), CLUSTER);
});

test("VirtualService weights become weighted_clusters on subset clusters, matches become route matches", () => {
  const yaml = `${ECHO}
---
${destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }")}
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
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
`;
  const route = field(decoded(yaml, TYPE_URL.route, CLUSTER), "virtual_hosts", 0, "routes", 0);
  assert.equal(field(route, "match", "prefix"), "/echo.");
  assert.deepEqual(field(route, "match", "headers", 0), { name: "x-user", string_match: { exact: "bob" } });
  assert.deepEqual(field(route, "route", "weighted_clusters", "clusters"), [
    { name: "outbound|50051|v1|echo", weight: { value: 80 } },
    { name: "outbound|50051|v2|echo", weight: { value: 20 } },
  ]);
  assert.deepEqual(field(route, "route", "max_stream_duration", "max_stream_duration"), { seconds: 2 });
  const v1 = decoded(yaml, TYPE_URL.endpoint, "outbound|50051|v1|echo");
  assert.deepEqual(field(v1, "endpoints", 0, "lb_endpoints", 0, "endpoint", "address", "socket_address"), { address: "127.0.0.1", port_value: 7001 });
  assert.equal((field(v1, "endpoints", 0, "lb_endpoints") as unknown[]).length, 1);
});

test("clusters: EDS over ADS, lb policy by DestinationRule, circuit breakers and outlier detection", () => {
  const cases: { policy: string; lb: string; check?: (c: Record<string, unknown>) => void }[] = [
    // lb_policy ROUND_ROBIN for clients that read only it (grpcio before 1.55 rejects LEAST_REQUEST there).
    {
      policy: "",
      lb: "ROUND_ROBIN",
      check: (c) => {
        assert.equal(field(c, "least_request_lb_config", "choice_count", "value"), 2);
        const policies = field(c, "load_balancing_policy", "policies") as unknown[];
        assert.deepEqual(
          policies.map((p) => field(p, "typed_extension_config", "typed_config", "type_url")),
          [TYPE_URL.leastRequest, TYPE_URL.roundRobin],
        );
      },
    },
    {
      policy: "    loadBalancer: { simple: LEAST_CONN }",
      lb: "ROUND_ROBIN",
      check: (c) => assert.equal((field(c, "load_balancing_policy", "policies") as unknown[]).length, 2),
    },
    { policy: "    loadBalancer: { simple: ROUND_ROBIN }", lb: "ROUND_ROBIN", check: (c) => assert.equal(c["load_balancing_policy"], undefined) },
    {
      policy: "    loadBalancer: { consistentHash: { httpHeaderName: x-user, ringHash: { minimumRingSize: 2048 } } }",
      lb: "RING_HASH",
      check: (c) => {
        assert.deepEqual(field(c, "ring_hash_lb_config"), { minimum_ring_size: { value: 2048 }, hash_function: "XX_HASH" });
      },
    },
  ];
  for (const { policy, lb, check } of cases) {
    const yaml = policy === "" ? ECHO : `${ECHO}\n---\n${destinationRuleYaml("echo", policy)}`;
    const c = decoded(yaml, TYPE_URL.cluster, CLUSTER);
    assert.equal(c["type"], "EDS");
    assert.deepEqual(field(c, "eds_cluster_config"), { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: CLUSTER });
    assert.equal(c["lb_policy"], lb, policy);
    check?.(c);
  }
  const limited = `${ECHO}\n---\n${destinationRuleYaml(
    "echo",
    `    connectionPool: { http: { http2MaxRequests: 7 } }
    outlierDetection: { consecutive5xxErrors: 3, interval: 2s, baseEjectionTime: 1m, maxEjectionPercent: 50 }`,
  )}`;
  const c = decoded(limited, TYPE_URL.cluster, CLUSTER);
  assert.equal(field(c, "circuit_breakers", "thresholds", 0, "max_requests", "value"), 7);
  assert.equal(field(c, "circuit_breakers", "thresholds", 0, "max_pending_requests", "value"), 4294967295);
  assert.equal(field(c, "outlier_detection", "consecutive_5xx", "value"), 3);
  assert.deepEqual(field(c, "outlier_detection", "interval"), { seconds: 2 });
  assert.deepEqual(field(c, "outlier_detection", "base_ejection_time"), { seconds: 60 });
  assert.equal(field(c, "outlier_detection", "max_ejection_percent", "value"), 50);
  assert.equal(field(c, "outlier_detection", "enforcing_success_rate", "value"), 0);
  assert.equal(field(decoded(ECHO, TYPE_URL.cluster, CLUSTER), "outlier_detection"), undefined);
});

test("connection-pool settings with no circuit breaker go where Istio puts them: HttpProtocolOptions", () => {
  const yaml = `${ECHO}\n---\n${destinationRuleYaml(
    "echo",
    `    connectionPool:
      tcp: { maxConnectionDuration: 30m }
      http: { maxRequestsPerConnection: 100, idleTimeout: 90s, maxConcurrentStreams: 64 }`,
  )}`;
  const c = decoded(yaml, TYPE_URL.cluster, CLUSTER);
  const options = field(c, "typed_extension_protocol_options", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions") as {
    type_url: string;
    value: Uint8Array;
  };
  assert.equal(options.type_url, TYPE_URL.httpProtocolOptions);
  const decodedOptions = unpackAny(options);
  assert.deepEqual(field(decodedOptions, "common_http_protocol_options"), {
    idle_timeout: { seconds: 90 },
    max_requests_per_connection: { value: 100 },
    max_connection_duration: { seconds: 1800 },
  });
  assert.deepEqual(field(decodedOptions, "explicit_http_config", "http2_protocol_options", "max_concurrent_streams"), { value: 64 });
  // Defaults: unlimited requests per connection and no lifetime are left out.
  const plain = unpackAny(
    field(decoded(ECHO, TYPE_URL.cluster, CLUSTER), "typed_extension_protocol_options", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions") as {
      type_url: string;
      value: Uint8Array;
    },
  );
  assert.equal(field(plain, "common_http_protocol_options", "max_requests_per_connection"), undefined);
  assert.equal(field(plain, "common_http_protocol_options", "max_connection_duration"), undefined);
});

test("a route's retries travel whole: every retryOn condition, status codes, the previous-hosts predicate", () => {
  const yaml = `${ECHO}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo }
spec:
  hosts: [echo]
  http:
    - route: [{ destination: { host: echo } }]
      retries: { attempts: 3, perTryTimeout: 2s, retryOn: "unavailable,connect-failure,503" }
`;
  const retry = field(decoded(yaml, TYPE_URL.route, CLUSTER), "virtual_hosts", 0, "routes", 0, "route", "retry_policy") as Record<string, unknown>;
  assert.deepEqual(new Set(String(retry["retry_on"]).split(",")), new Set(["unavailable", "connect-failure", "retriable-status-codes"]));
  assert.deepEqual(retry["retriable_status_codes"], [503]);
  assert.deepEqual(retry["num_retries"], { value: 3 });
  assert.deepEqual(retry["per_try_timeout"], { seconds: 2 });
  assert.equal(field(retry, "retry_host_predicate", 0, "name"), "envoy.retry_host_predicates.previous_hosts");
  // Istio's default policy (no retries block) travels too, HTTP conditions and all.
  const istioDefault = field(decoded(ECHO, TYPE_URL.route, CLUSTER), "virtual_hosts", 0, "routes", 0, "route", "retry_policy") as Record<string, unknown>;
  assert.ok(String(istioDefault["retry_on"]).includes("connect-failure"));
  assert.ok(String(istioDefault["retry_on"]).includes("unavailable"));
});

test("a consistent hash on a header becomes the route's hash_policy", () => {
  const yaml = `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }")}`;
  const route = field(decoded(yaml, TYPE_URL.route, CLUSTER), "virtual_hosts", 0, "routes", 0, "route");
  assert.deepEqual(field(route, "hash_policy"), [{ header: { header_name: "x-user" } }]);
});

test("the load assignment lists every endpoint with its weight in one locality", () => {
  const cla = decoded(serviceEntryYaml("echo", [7001, 7002], "      weight: 3\n"), TYPE_URL.endpoint, CLUSTER);
  assert.equal(cla["cluster_name"], CLUSTER);
  assert.equal(field(cla, "endpoints", 0, "load_balancing_weight", "value"), 1);
  const lbs = field(cla, "endpoints", 0, "lb_endpoints") as unknown[];
  assert.deepEqual(
    lbs.map((e) => field(e, "endpoint", "address", "socket_address", "port_value")),
    [7001, 7002],
  );
  assert.deepEqual(
    lbs.map((e) => field(e, "load_balancing_weight", "value")),
    [3, 3],
  );
  assert.deepEqual(
    lbs.map((e) => field(e, "health_status")),
    ["HEALTHY", "HEALTHY"],
  );
});

test("the same config gives byte-identical resources (the ADS server diffs them)", () => {
  const a = buildResources(parseConfig(ECHO));
  const b = buildResources(parseConfig(ECHO));
  for (const [type, m] of a.byType) for (const [name, any] of m) assert.deepEqual(b.byType.get(type)?.get(name)?.value, any.value);
});

test("a second port gets its own listener and route configuration, routed to its own cluster", () => {
  const yaml = `apiVersion: networking.istio.io/v1
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
`;
  const set = buildResources(parseConfig(yaml));
  assert.deepEqual([...(set.byType.get(TYPE_URL.listener)?.keys() ?? [])].sort(), ["echo", "echo:50051", "echo:8080"]);
  const hcmOf = (name: string): Record<string, unknown> =>
    unpackAny(field(decoded(yaml, TYPE_URL.listener, name), "api_listener", "api_listener") as AnyMessage);
  assert.equal(field(hcmOf("echo"), "rds", "route_config_name"), CLUSTER);
  assert.equal(field(hcmOf("echo:8080"), "rds", "route_config_name"), "outbound|8080||echo");
  const rc = decoded(yaml, TYPE_URL.route, "outbound|8080||echo");
  assert.deepEqual(field(rc, "virtual_hosts", 0, "domains"), ["echo:8080"]);
  assert.equal(field(rc, "virtual_hosts", 0, "routes", 0, "route", "cluster"), "outbound|8080||echo");
  const cla = decoded(yaml, TYPE_URL.endpoint, "outbound|8080||echo");
  assert.equal(field(cla, "endpoints", 0, "lb_endpoints", 0, "endpoint", "address", "socket_address", "port_value"), 7002);
});
